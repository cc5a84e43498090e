"""The Fleet as a Pulumi component provider: its schema is inferred from `Fleet`'s and `FleetArgs`' types.

The Python language host runs this file (PulumiPlugin.yaml); tests/test_component_provider.py runs it
too, and reads the schema it serves.
"""

from importlib.metadata import version

from pulumi.provider.experimental import component_provider_host

from nuketown_stack import Fleet

if __name__ == "__main__":
    component_provider_host([Fleet], "nuketown", version=version("nuketown-stack"))
