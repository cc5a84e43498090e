"""Runs of the program side by side (program/sides.py): each in its own process, the same results as one by one."""

import json
import pickle
import threading
import time
from multiprocessing import Pipe
from typing import Any

import pytest
from conftest import CLOUD_SETTINGS, EXAMPLE, FLEET, FLEET_ALLOWED, nix_eval

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.source import decode_json
from nuketown_stack.program import sides
from nuketown_stack.program.sides import Cancelled, KnownFrom, Side, run_sides


def side(source: Any, known: Any = None, **config: str) -> Side:
    settings = {"nuketown:source": str(source), **CLOUD_SETTINGS["gcp"], **FLEET_ALLOWED, **config}
    return Side(stack="dev", config=settings, raw=nix_eval(source), project="nuketown", known=known)


def one_by_one(base: Side, head: Side) -> tuple[dict[str, Any], dict[str, Any]]:
    """What `diff` did before: BASE, then HEAD knowing BASE's resources."""
    base_run = sides.run_side(base, base.known)
    in_state = frozenset((r["type"], r["name"]) for r in base_run["resources"])
    return base_run, sides.run_side(head, in_state)


def test_two_sides_in_processes_give_what_one_by_one_gives() -> None:
    """HEAD previews from BASE's state while BASE still runs: a resource new in HEAD stays unknown."""
    base, head = side(EXAMPLE), side(FLEET, known=KnownFrom(0))
    together = run_sides([base, head], processes=True)
    assert together == list(one_by_one(base, head))
    # plan --json's URNs and the old URNs of aliases (diff follows them) come through the processes too
    assert all(r["urn"].startswith("urn:pulumi:dev::nuketown::") for run in together for r in run["resources"])
    assert any(r["aliases"] for r in together[1]["resources"])
    unknown = [r for r in together[1]["resources"] if "(known after apply)" in str(r["inputs"])]
    assert unknown  # the fleet's new agents: their accounts are created by this change


def test_a_side_that_declares_the_same_runs_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same spec (read from another path) under the same settings: one run serves both sides."""
    runs: list[Side] = []
    run_side = sides.run_side

    def counted(one: Side, *args: Any, **kwargs: Any) -> dict[str, Any]:
        runs.append(one)
        return run_side(one, *args, **kwargs)

    monkeypatch.setattr(sides, "run_side", counted)
    base = side(EXAMPLE)
    head = Side(**{**base.__dict__, "config": {**base.config, "nuketown:source": "elsewhere.json"}})
    head = Side(**{**head.__dict__, "known": KnownFrom(0)})
    base_run, head_run = run_sides([base, head], processes=True)
    assert len(runs) == 1 and base_run == head_run


def test_other_settings_are_another_run() -> None:
    base = side(EXAMPLE)
    assert not side(EXAMPLE, **{"nuketown:storageClass": "premium-rwo"}).declares_what(base)
    assert side(EXAMPLE).declares_what(base)


@pytest.mark.parametrize("field", ["stack", "project"])
def test_another_stack_or_project_is_another_run(field: str) -> None:
    """Every URN names both, and diff compares URNs (`--base-stack` renames one): never one run for two."""
    base = side(EXAMPLE)
    other = Side(**{**base.__dict__, field: "prod", "known": KnownFrom(0)})
    assert not other.declares_what(base)
    base_run, other_run = run_sides([base, other], processes=False)
    assert not isinstance(base_run, Exception) and not isinstance(other_run, Exception)
    assert {r["urn"] for r in base_run["resources"]}.isdisjoint(r["urn"] for r in other_run["resources"])


def test_a_spec_that_gives_a_key_twice_is_another_run() -> None:
    """JSON keeps a repeated key's last value, so the decoded specs are equal, but a run refuses the repeat: the
    side whose text repeats it fails as it would alone, not with the other side's result."""
    base = side(EXAMPLE)
    text = json.dumps(base.raw)
    repeated = decode_json(text.replace("{", f'{{"schemaVersion": {base.raw["schemaVersion"]}, ', 1))
    assert repeated == base.raw
    head = Side(**{**base.__dict__, "raw": repeated, "known": KnownFrom(0)})
    assert not head.declares_what(base)
    base_run, head_run = run_sides([base, head], processes=False)
    assert not isinstance(base_run, Exception)
    assert isinstance(head_run, InputError) and "schemaVersion: given more than once" in str(head_run)


def test_the_first_failure_in_order_is_what_is_reported() -> None:
    """A side after a failed one is stopped: its result would never be read."""
    broken = Side(**{**side(EXAMPLE).__dict__, "raw": {"schemaVersion": 1, "agents": {"Bad Name": {}}}})
    outcomes = run_sides([broken, side(FLEET, known=KnownFrom(0))], processes=True)
    assert isinstance(outcomes[0], InputError)
    assert isinstance(outcomes[1], InputError | Cancelled)


def test_an_input_error_crosses_processes_with_its_problems() -> None:
    error = InputError(["agents.ada.uid: 0 is not allowed", "agents.vox.uid: 0 is not allowed"])
    assert pickle.loads(pickle.dumps(error)).problems == error.problems


def test_a_key_not_yet_declared_is_waited_for() -> None:
    receiver, sender = Pipe(duplex=False)
    keys = sides._StreamedKeys(receiver)

    def declare_later() -> None:
        time.sleep(0.2)
        sender.send_bytes(b"gcp:serviceaccount/account:Account\nada")
        sender.close()

    threading.Thread(target=declare_later).start()
    assert ("gcp:serviceaccount/account:Account", "ada") in keys  # arrives after the question
    assert ("gcp:serviceaccount/account:Account", "vox") not in keys  # the list ended without it
