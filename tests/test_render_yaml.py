"""render's YAML is PyYAML's, byte for byte: most documents are written directly, the rest by a dumper that
builds PyYAML's nodes faster (views/render.py); both are held to PyYAML's own output here."""

from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from conftest import CLOUD_SETTINGS, FLEET_ALLOWED, make_plan
from hypothesis import given, settings
from hypothesis import strategies as st

from nuketown_stack.views import render


class _Reference(render._BaseDumper):  # type: ignore[misc, name-defined]
    """The dumper as PyYAML makes it, with render's two choices: literal blocks, no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


_Reference.add_representer(str, render._represent_str)


def _reference_yaml(documents: list[Any]) -> str:
    return yaml.dump_all(
        documents, Dumper=_Reference, sort_keys=False, explicit_start=True, default_flow_style=False, width=120
    )


def _to_yaml(documents: list[Any]) -> str:
    """render.to_yaml reads only each object's manifest."""
    return render.to_yaml(SimpleNamespace(manifest=d) for d in documents)  # type: ignore[misc]


# Text that YAML could read as something else, or must quote, fold or write as a block.
_TRICKY = st.sampled_from(
    ["", "true", "no", "null", "~", "1", "0x1F", "1e3", "-1", "2026-12-07", "'", '"', "a: b", "- x", "#c", " lead"]
)
_TEXT = st.one_of(_TRICKY, st.text(max_size=40), st.text(alphabet="ab \n:#-'", max_size=300))
_SCALARS = st.one_of(_TEXT, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_TEXT, inner, max_size=4)),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(_TEXT, _VALUES, max_size=5), max_size=3))
def test_render_writes_what_pyyaml_writes(documents: list[dict[str, Any]]) -> None:
    assert _to_yaml(documents) == _reference_yaml(documents)


# What the direct writer takes on: text of its safe characters (some of which reads back as numbers, bools,
# null or dates), ints, bools and None, in mappings and lists, empty ones included.
_SAFE_TEXT = st.one_of(
    st.sampled_from(["2", "4Gi", "true", "null", "0.5", "1_000", "2026-12-07", ".config", "a:b", "x@y", "..."]),
    st.text(alphabet="aZ09_./:=+@-", min_size=1, max_size=20),
)
_SAFE_VALUES = st.recursive(
    st.one_of(_SAFE_TEXT, st.integers(), st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_SAFE_TEXT, inner, max_size=4)),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(_SAFE_TEXT, _SAFE_VALUES, min_size=1, max_size=5), max_size=3))
def test_the_direct_writer_writes_what_pyyaml_writes(documents: list[dict[str, Any]]) -> None:
    assert _to_yaml(documents) == _reference_yaml(documents)


@pytest.mark.parametrize("cloud", list(CLOUD_SETTINGS))
def test_a_fleet_renders_as_pyyaml_writes_it(fleet_json: dict[str, Any], cloud: str) -> None:
    objects = list(make_plan(fleet_json, **CLOUD_SETTINGS[cloud], **FLEET_ALLOWED).objects())
    assert render.to_yaml(objects) == _reference_yaml([o.manifest for o in objects])
    written = [o.kind for o in objects if render._Writer().document(o.manifest) is not None]
    assert {"Namespace", "Deployment", "PersistentVolumeClaim"} <= set(written)  # the writer did write most
