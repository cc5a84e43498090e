"""Every validated string of the spec refuses control characters and stray whitespace.

Python's `$` matches before a final newline, so a grammar checked with `re.match("...$")` lets `"ada*\\n"`
through (a nix indented string ends in one). The validators use `fullmatch`; these properties feed each
field a good value with whitespace or a control character added at the start, the end or inside, and the
spec must refuse it (or, for free text, keep it exactly).
"""

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.spec import load_spec

Setter = Callable[[dict[str, Any], str], None]


def _at(*path: str | int) -> Setter:
    def set_value(raw: dict[str, Any], value: str) -> None:
        node: Any = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return set_value


def _key_of(*path: str) -> Setter:
    """Renames the first key of the mapping at `path` (agent names, env names, tier names, label keys)."""

    def set_key(raw: dict[str, Any], value: str) -> None:
        node: Any = raw
        for key in path:
            node = node[key]
        first = next(iter(node))
        node[value] = node.pop(first)

    return set_key


def _rename_tier(raw: dict[str, Any], value: str) -> None:
    raw["tiers"][value] = raw["tiers"].pop("small")


# (field, how to set it, a good value, whether a space inside is legitimate)
FIELDS: list[tuple[str, Setter, str, bool]] = [
    ("agent name", _key_of("agents"), "ada", False),
    ("role", _at("agents", "ada", "role"), "software", True),
    ("home", _at("agents", "ada", "home"), "/agents/ada", True),
    ("git.name", _at("agents", "ada", "git", "name"), "Ada Lovelace", True),
    ("git.email", _at("agents", "ada", "git", "email"), "ada@nuketown.cloud", False),
    ("resources", _at("agents", "ada", "resources"), "standard", False),
    ("scaling.maxResources", _at("agents", "ada", "scaling", "maxResources"), "large", False),
    ("image", _at("agents", "ada", "image"), "ghcr.io/acme/ada:1.0", False),
    ("persist path", _at("agents", "ada", "persist", 0, "path"), "projects", True),
    ("persist size", _at("agents", "ada", "persist", 0, "size"), "10Gi", False),
    ("identity.scope", _at("agents", "ada", "identity", "scope"), "ada-*", False),
    (
        "identity.gcpServiceAccount",
        _at("agents", "ada", "identity", "gcpServiceAccount"),
        "ada-agent@acme-agents.iam.gserviceaccount.com",
        False,
    ),
    (
        "identity.awsRoleArn",
        _at("agents", "ada", "identity", "awsRoleArn"),
        "arn:aws:iam::111122223333:role/ada-agent",
        False,
    ),
    (
        "identity.azureClientId",
        _at("agents", "ada", "identity", "azureClientId"),
        "6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b",
        False,
    ),
    ("egress cidr", _at("agents", "vox", "network", "egress", 0, "cidr"), "0.0.0.0/0", False),
    ("egress except", _at("agents", "vox", "network", "egress", 0, "except", 0), "10.0.0.0/8", False),
    ("env name", _key_of("agents", "ada", "env"), "EDITOR", False),
    ("domain", _at("domain"), "nuketown.cloud", False),
    ("tier name", _rename_tier, "tiny", False),
    ("tier cpu", _at("tiers", "small", "cpu"), "500m", False),
    ("nodeSelector key", _key_of("tiers", "small", "nodeSelector"), "nuketown.io/tier", False),
    ("nodeSelector value", _at("tiers", "small", "nodeSelector", "nuketown.io/tier"), "small", False),
    ("toleration key", _at("tiers", "gpu", "tolerations", 0, "key"), "nvidia.com/gpu", False),
]

CONTROL = st.sampled_from(["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\u2028"])
WHITESPACE = st.sampled_from([" ", "\n", "\t", "\r\n", "\u00a0"])


def _base(example_raw: dict[str, Any]) -> dict[str, Any]:
    raw = copy.deepcopy(example_raw)
    raw["agents"]["ada"]["env"] = {"EDITOR": "vi"}
    return raw


def _refused(raw: dict[str, Any]) -> bool:
    try:
        load_spec(raw)
    except InputError as error:
        assert all("\n" not in problem for problem in error.problems)  # one line per problem, always
        return True
    return False


@pytest.mark.parametrize(("setter", "good"), [(s, g) for _, s, g, _ in FIELDS], ids=[f for f, *_ in FIELDS])
def test_the_good_value_is_accepted(example_raw: dict[str, Any], setter: Setter, good: str) -> None:
    raw = _base(example_raw)
    setter(raw, good)
    assert not _refused(raw)


@pytest.mark.parametrize(("setter", "good"), [(s, g) for _, s, g, _ in FIELDS], ids=[f for f, *_ in FIELDS])
@settings(max_examples=25, deadline=None)
@given(where=st.sampled_from(["start", "end"]), extra=WHITESPACE)
def test_outer_whitespace_is_refused(
    example_json: dict[str, Any], setter: Setter, good: str, where: str, extra: str
) -> None:
    raw = _base(example_json)
    setter(raw, extra + good if where == "start" else good + extra)
    assert _refused(raw)


@pytest.mark.parametrize(("setter", "good"), [(s, g) for _, s, g, _ in FIELDS], ids=[f for f, *_ in FIELDS])
@settings(max_examples=25, deadline=None)
@given(position=st.integers(min_value=0), control=CONTROL)
def test_a_control_character_anywhere_is_refused(
    example_json: dict[str, Any], setter: Setter, good: str, position: int, control: str
) -> None:
    raw = _base(example_json)
    at = position % (len(good) + 1)
    setter(raw, good[:at] + control + good[at:])
    assert _refused(raw)


@pytest.mark.parametrize(
    ("setter", "good", "spaced"), [(s, g, sp) for _, s, g, sp in FIELDS], ids=[f for f, *_ in FIELDS]
)
def test_an_inner_space_is_refused_where_the_grammar_has_none(
    example_raw: dict[str, Any], setter: Setter, good: str, spaced: bool
) -> None:
    raw = _base(example_raw)
    middle = len(good) // 2
    setter(raw, good[:middle] + " " + good[middle:])
    assert _refused(raw) is not spaced


def test_free_text_keeps_its_lines(example_raw: dict[str, Any]) -> None:
    raw = _base(example_raw)
    raw["agents"]["ada"]["description"] = "Software collaborator.\n\tThinks before acting.\n"
    assert load_spec(raw).agents["ada"].description == "Software collaborator.\n\tThinks before acting.\n"
    raw["agents"]["ada"]["description"] = "bell\x07"
    assert _refused(raw)
