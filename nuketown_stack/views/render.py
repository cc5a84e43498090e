"""The plan's Kubernetes objects as multi-document YAML (stable, byte-identical)."""

import operator
from collections.abc import Iterable
from typing import Any

import yaml

from nuketown_stack.plan.stack import KubeObject

# The C emitter when libyaml is there: the same output, many times faster.
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


_STR, _INT, _BOOL, _NULL = (f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "bool", "null"))
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


class _Dumper(_BaseDumper):  # type: ignore[misc]
    """Multi-line strings (identity.toml) as literal blocks, readable in a diff; never anchors and aliases,
    which some YAML readers and every reviewer of a rendered manifest handle badly.

    PyYAML builds the nodes and picks each scalar's tag in Python, even with libyaml's emitter: 1.4 of
    the 1.8 s of CPU that rendering 1,000 agents took (measured in one process). The manifests hold only dicts,
    lists, strings, ints, bools and None, so those become nodes directly, as SafeRepresenter would make
    them, and each distinct scalar is resolved once.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._resolved: dict[tuple[str, Any], Any] = {}

    def ignore_aliases(self, data: Any) -> bool:
        return True

    # The emitter calls these around every node to follow path resolvers, which this dumper has none of.
    descend_resolver = staticmethod(operator.is_)
    ascend_resolver = staticmethod(tuple)

    def represent_data(self, data: Any) -> Any:
        kind = type(data)
        if kind is str:
            return yaml.ScalarNode(_STR, data, style="|" if "\n" in data else None)
        if kind is dict:
            items = [(self.represent_data(k), self.represent_data(v)) for k, v in data.items()]
            return yaml.MappingNode(_MAP, items, flow_style=self.default_flow_style)
        if kind is list:
            return yaml.SequenceNode(_SEQ, [self.represent_data(v) for v in data], flow_style=self.default_flow_style)
        if kind is bool:
            return yaml.ScalarNode(_BOOL, "true" if data else "false")
        if kind is int:
            return yaml.ScalarNode(_INT, str(data))
        if data is None:
            return yaml.ScalarNode(_NULL, "null")
        return super().represent_data(data)  # anything else as PyYAML represents it

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """A scalar's tag depends on its text alone (this dumper has no path resolvers)."""
        if kind is not yaml.ScalarNode:
            return super().resolve(kind, value, implicit)
        key = (value, implicit)
        if key not in self._resolved:
            self._resolved[key] = super().resolve(kind, value, implicit)
        return self._resolved[key]


def _represent_str(dumper: Any, value: str) -> Any:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def to_yaml(objects: Iterable[KubeObject]) -> str:
    documents = [o.manifest for o in objects]
    return yaml.dump_all(
        documents, Dumper=_Dumper, sort_keys=False, explicit_start=True, default_flow_style=False, width=120
    )
