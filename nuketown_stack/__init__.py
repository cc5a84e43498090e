"""Nuketown Cloud: nuketown agents declared in nix, run on Kubernetes by Pulumi.

In a Pulumi program of your own, `from nuketown_stack import Fleet, FleetArgs` gives the component that
declares them. It is imported on first use, so importing the package alone (the command line, the pure
layers) imports no pulumi.
"""

from typing import TYPE_CHECKING, Any

from nuketown_stack.errors import InputError

if TYPE_CHECKING:
    from nuketown_stack.program.fleet import Fleet, FleetAgent, FleetArgs

__all__ = ["Fleet", "FleetAgent", "FleetArgs", "InputError"]
_FLEET = frozenset({"Fleet", "FleetAgent", "FleetArgs"})


def __getattr__(name: str) -> Any:
    """PEP 562: the component module, with pulumi and the provider SDKs, only when a program asks for it."""
    if name in _FLEET:
        from nuketown_stack.program import fleet

        return getattr(fleet, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
