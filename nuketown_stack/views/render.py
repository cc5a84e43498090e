"""The plan's Kubernetes objects as multi-document YAML (stable, byte-identical)."""

from collections.abc import Iterable
from typing import Any

import yaml

from nuketown_stack.plan.stack import KubeObject

# The C emitter when libyaml is there: the same output, many times faster.
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[misc]
    """Multi-line strings (identity.toml) as literal blocks, readable in a diff; never anchors and aliases,
    which some YAML readers and every reviewer of a rendered manifest handle badly."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def to_yaml(objects: Iterable[KubeObject]) -> str:
    documents = [o.manifest for o in objects]
    return yaml.dump_all(
        documents, Dumper=_Dumper, sort_keys=False, explicit_start=True, default_flow_style=False, width=120
    )
