"""The plan's Kubernetes objects as multi-document YAML (stable, byte-identical)."""

import operator
import re
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
    """Every object as one document. Most are written directly (`_Writer`), the rest by PyYAML: the same bytes."""
    writer = _Writer()
    texts = [writer.document(o.manifest) or _pyyaml(o.manifest) for o in objects]
    # A document that ends open (a `|+` block last) ends the stream with `...`, not a document others follow.
    last = len(texts) - 1
    return "".join(text[:-4] if index < last and text.endswith("\n...\n") else text for index, text in enumerate(texts))


def _pyyaml(manifest: Any) -> str:
    """One document as PyYAML's dump_all writes it in a stream of one."""
    return yaml.dump_all(
        [manifest], Dumper=_Dumper, sort_keys=False, explicit_start=True, default_flow_style=False, width=120
    )


# Text that PyYAML writes as it is, or in single quotes when it would read back as another type ('2', 'true'):
# printable ASCII with no space (so never folded), quote, comment or flow character, no indicator first and
# no `:` last (PyYAML reads the end of the text as the space after it).
_SAFE = re.compile(r"[A-Za-z0-9_./](?:[A-Za-z0-9_./:=+@-]*[A-Za-z0-9_./=+@-])?")


class _Unsafe(Exception):
    """A value `_Writer` leaves to PyYAML: its document is written by PyYAML."""


class _Writer:
    """Block YAML as PyYAML's emitter writes it (indent 2, sequences not indented under a key, `{}` and `[]`
    when empty) for documents of safe text, ints, bools and None: three to four times faster than PyYAML
    with libyaml on 1,000 agents, where 80-90 % of the documents qualify. `tests/test_render_yaml.py` holds
    it to PyYAML's output."""

    def __init__(self) -> None:
        self._resolver: Any = yaml.resolver.Resolver()  # the tags SafeDumper resolves, as _Dumper has them
        self._quoted: dict[str, bool] = {}

    def document(self, manifest: Any) -> str | None:
        """The document, or None when it holds anything this writer leaves to PyYAML."""
        if type(manifest) is not dict or not manifest:
            return None
        lines = ["---"]
        try:
            self._mapping(manifest, 0, lines)
        except _Unsafe:
            return None
        lines.append("")
        return "\n".join(lines)

    def _scalar(self, value: Any) -> str:
        kind = type(value)
        if kind is str:
            quoted = self._quoted.get(value)
            if quoted is None:
                if not _SAFE.fullmatch(value) or value.startswith("..."):  # `...` ends a document
                    raise _Unsafe
                quoted = self._resolver.resolve(yaml.ScalarNode, value, (True, False)) != _STR
                self._quoted[value] = quoted
            return f"'{value}'" if quoted else value
        if kind is bool:
            return "true" if value else "false"
        if kind is int:
            return str(value)
        if value is None:
            return "null"
        raise _Unsafe

    def _key(self, key: Any) -> str:
        if type(key) is not str or len(key) >= 128:  # PyYAML writes a longer key as a complex key (`? `)
            raise _Unsafe
        return self._scalar(key)

    def _mapping(self, mapping: dict[str, Any], indent: int, lines: list[str], first: str | None = None) -> None:
        """`first`: how the first key's line starts, when it shares it with a sequence's dash."""
        for index, (key, value) in enumerate(mapping.items()):
            lead = first if index == 0 and first is not None else " " * indent
            self._value(f"{lead}{self._key(key)}:", value, indent, lines)

    def _value(self, head: str, value: Any, indent: int, lines: list[str]) -> None:
        kind = type(value)
        if kind is dict and value:
            lines.append(head)
            self._mapping(value, indent + 2, lines)
        elif kind is list and value:
            lines.append(head)
            self._sequence(value, indent, lines)
        elif kind is dict or kind is list:
            lines.append(f"{head} {'{}' if kind is dict else '[]'}")
        else:
            lines.append(f"{head} {self._scalar(value)}")

    def _sequence(self, sequence: list[Any], indent: int, lines: list[str]) -> None:
        dash = " " * indent + "- "
        for item in sequence:
            kind = type(item)
            if kind is dict and item:
                self._mapping(item, indent + 2, lines, first=dash)
            elif kind is list and item:
                raise _Unsafe  # a sequence right inside a sequence
            elif kind is dict or kind is list:
                lines.append(dash + ("{}" if kind is dict else "[]"))
            else:
                lines.append(dash + self._scalar(item))
