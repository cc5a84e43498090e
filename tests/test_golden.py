"""Golden snapshot of the bundled example's render (dev stack, as the README's first command runs it).

A change to it is a change every user's `pulumi preview` will show: review the diff, then
regenerate with `UPDATE_GOLDEN=1 python -m pytest tests/test_golden.py`.
"""

import os
from pathlib import Path
from typing import Any

from conftest import make_plan

from nuketown_stack.views.render import to_yaml

GOLDEN = Path(__file__).parent / "golden" / "cloud-ada.dev.yaml"


def test_example_render_matches_golden(example_json: dict[str, Any]) -> None:
    rendered = to_yaml(make_plan(example_json, **{"nuketown:scheduling": "none"}).objects())
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(rendered)
    assert rendered == GOLDEN.read_text()
