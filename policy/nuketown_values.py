"""Values a rule reads, and what a rule does with one that is not known yet.

At `pulumi preview` a property that comes from another resource's output is
not known. The Pulumi engine hands it to a policy pack as a sentinel string
(pulumi_policy/proxy.py, UNKNOWN_*_VALUE), and `pulumi_policy` wraps the
properties in a proxy that raises `UnknownValueError` when a rule reads one;
the SDK then turns the whole policy into an *advisory* "can't run policy
during preview" note (policy.py, Analyze/AnalyzeStack), so a mandatory rule
passes silently. `nuketown-stack plan --json` prints the same values as the
string "(known after apply)".

Here a rule reads its resource through `view()`: reading an unknown value
raises `UnknownValue`, which the rule wrappers turn into a violation. Nothing
here imports pulumi_policy, so the offline runner works without it.

Before the stack rules read a resource, nuketown_policy.with_origins judges where
each unknown comes from (the input's property dependencies) and puts a marker in
its place: `Derived` when it comes only from the agent's own identity or key
resources (a rule may accept it where it asks "is this the agent's own
identity?", and reading inside it raises), `UnknownOrigin` otherwise (reading it
raises, naming where it came from).
"""

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

# The sentinels pulumi_policy/proxy.py defines (boolean, number, string, array, asset, archive, object);
# tests/test_policy.py checks them against the installed SDK.
PULUMI_UNKNOWNS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
        "030794c1-ac77-496b-92df-f27374a8bd58",
        "e48ece36-62e2-4504-bad9-02848725956a",
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    }
)
PLAN_UNKNOWN = "(known after apply)"  # how `nuketown-stack plan --json` prints an unknown value


NO_ORIGIN = "has no dependency information"


def is_unknown(value: Any) -> bool:
    """An unknown value, or a string with one inside (a document rendered around an unknown)."""
    if isinstance(value, UnknownOrigin):
        return True
    if not isinstance(value, str):
        return False
    return PLAN_UNKNOWN in value or any(sentinel in value for sentinel in PULUMI_UNKNOWNS)


_read_unknowns: ContextVar[list["UnknownValue"] | None] = ContextVar("read_unknowns", default=None)


class UnknownValue(Exception):
    """A value a rule needs is unknown (preview) and not provably the agent's own: a violation."""

    def __init__(self, path: str, origin: str | None = None) -> None:
        super().__init__(path)
        self.path = path
        self.origin = origin or NO_ORIGIN
        read = _read_unknowns.get()
        if read is not None:
            read.append(self)

    @property
    def message(self) -> str:
        return (
            f"{self.path or 'the resource'} is unknown at preview (known only after apply) and {self.origin}; "
            "a mandatory rule passes an unknown value only when it comes from the agent's own identity or key"
        )


@contextlib.contextmanager
def reading_unknowns() -> Iterator[list[UnknownValue]]:
    """Every UnknownValue raised inside the block, also those a rule caught and reported itself (podsecurity)."""
    read: list[UnknownValue] = []
    token = _read_unknowns.set(read)
    try:
        yield read
    finally:
        _read_unknowns.reset(token)


@dataclass(frozen=True)
class UnknownOrigin:
    """An unknown value whose origin is not the agent's own identity or key: reading it raises."""

    origin: str  # why not, naming what it comes from ("comes from ..., which is vox's, not ada's")


@dataclass(frozen=True)
class Derived:
    """An unknown value (preview) that comes only from resources this stack declares for the agent as its
    own identity or key (nuketown_policy.with_origins checked each of them). It equals nothing, is no string,
    mapping or list; a rule accepts it only where it asks whether a value is the agent's own identity, key
    or a document about them. Reading inside it raises UnknownValue."""

    path: str  # the input property path it stands at
    sources: tuple[tuple[str, str], ...]  # (type, reference) of each resource it comes from

    def comes_from(self, *types: str) -> bool:
        """Whether every resource it comes from is of one of `types`."""
        return bool(self.sources) and all(kind in types for kind, _ in self.sources)

    @property
    def origin(self) -> str:
        return "comes from " + ", ".join(reference for _, reference in self.sources)

    def _read(self, *_: Any) -> Any:
        raise UnknownValue(self.path, f"{self.origin} (the agent's own), but the rule must read inside it")

    get = __getitem__ = __iter__ = __len__ = __contains__ = keys = items = values = _read

    def __bool__(self) -> bool:
        return True  # a value is there, only not known yet

    def __repr__(self) -> str:
        return f"<unknown at preview: {self.origin}>"

    __str__ = __repr__


def replace_unknowns(value: Any, marker: Callable[[str], Any], path: str = "") -> Any:
    """`value` with each unknown leaf (a string holding an unknown) replaced by `marker(its path)`."""
    if is_unknown(value):
        return marker(path)
    if isinstance(value, Mapping):
        return {key: replace_unknowns(value[key], marker, _join(path, key)) for key in value}
    if isinstance(value, (list, tuple)):
        return [replace_unknowns(item, marker, _join(path, index)) for index, item in enumerate(value)]
    return value


def has_unknown(value: Any) -> bool:
    if is_unknown(value):
        return True
    if isinstance(value, Mapping):
        return any(has_unknown(value[key]) for key in value)
    if isinstance(value, (list, tuple)):
        return any(has_unknown(item) for item in value)
    return False


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def view(value: Any, path: str = "") -> Any:
    """`value` for reading: mappings and lists wrapped so that reaching an unknown raises UnknownValue."""
    if isinstance(value, UnknownOrigin):
        raise UnknownValue(path, value.origin)
    if is_unknown(value):
        raise UnknownValue(path)
    if isinstance(value, (KnownMap, KnownList)):
        return value
    if isinstance(value, Mapping):
        return KnownMap(value, path)
    if isinstance(value, (list, tuple)):
        return KnownList(value, path)
    return value


class KnownMap(Mapping[str, Any]):
    """A read-only mapping whose every read checks for unknowns (`.get`, `in`, `.items()` all read)."""

    def __init__(self, target: Mapping[str, Any], path: str) -> None:
        self._target = target
        self.path = path

    def __getitem__(self, key: str) -> Any:
        return view(self._target[key], _join(self.path, key))

    def __iter__(self) -> Iterator[str]:
        return iter(self._target)

    def __len__(self) -> int:
        return len(self._target)

    def __repr__(self) -> str:
        return f"KnownMap({self._target!r})"


class KnownList(Sequence[Any]):
    def __init__(self, target: Sequence[Any], path: str) -> None:
        self._target = target
        self.path = path

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self._target))[index]]
        return view(self._target[index], _join(self.path, index))

    def __len__(self) -> int:
        return len(self._target)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, tuple, KnownList)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"KnownList({self._target!r})"


def strings(value: Any) -> list[Any]:
    """A policy-document field that may be one string or a list of them, as a list (read through `view`)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return list(value)
    return [value]


def plain(value: Any) -> Any:
    """Properties as pulumi_policy hands them (its proxies), as plain dicts and lists, unknowns kept as sentinels.

    The proxies give up what they wrap under the key "__target" (pulumi_policy/proxy.py, _DictProxy and
    _ListProxy); reading through them any other way raises on the first unknown.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        inner = _target(value)
        return {key: plain(inner[key]) for key in inner}
    if isinstance(value, Sequence):
        return [plain(item) for item in _target(value)]
    return value


def _target(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return value
    try:
        return value["__target"]
    except (KeyError, TypeError, IndexError):
        return value
