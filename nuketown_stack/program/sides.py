"""Several runs of the program at once, each in a process of its own: `diff`'s BASE and HEAD, or any set of stacks.

A run is mostly the Pulumi SDK's own Python work, which one process does on one core; `diff` ran
BASE, then HEAD, and took 2.1-2.2 times one `plan` (issue 25). Here each distinct run gets a
process, and two runs that would declare the very same thing (same spec, settings, stack and
project) are run once. A side that previews from another's state (`KnownFrom`) is told that side's
resources while both run: it waits only when it asks about a resource the other has not declared yet.

This module imports no pulumi: the child processes do, and the caller stays light.
"""

import multiprocessing
import os
import threading
import traceback
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from nuketown_stack.inputs.source import repeated_keys

SOURCE_KEY = "nuketown:source"  # where the spec was read: two sides that read the same spec declare the same


@dataclass(frozen=True)
class KnownFrom:
    """Known: what side `side` (an index into the sides given) declares, as a preview from its state."""

    side: int


@dataclass(frozen=True)
class Side:
    """One run of the program: the stack's flat config and the spec already read from its nuketown:source."""

    stack: str
    config: Mapping[str, Any]
    raw: Any
    project: str
    secret_keys: frozenset[str] = frozenset()
    known: "Known" = None  # see engine.Known; None: everything known

    def declares_what(self, other: "Side") -> bool:
        """Whether this side's run declares what `other`'s does: all the same but where the spec was read."""
        return self._what() == other._what()

    def _what(self) -> tuple[Any, ...]:
        # Everything a run's result derives from. The stack and the project name every resource's URN and the
        # old URNs its aliases stand for (plan --json's `urn`, `aliases`, which diff follows), so a side of
        # another stack (--base-stack) is another run even with the same spec and settings.
        config = {key: value for key, value in self.config.items() if key != SOURCE_KEY}
        # A key the text gave twice leaves the decoded values equal, but the run refuses it (spec.load_spec).
        repeated = (tuple(repeated_keys(self.raw)), tuple(repeated_keys(config)))
        return (self.stack, self.project, self.secret_keys, config, self.raw, repeated)


class Cancelled(Exception):
    """A side that was stopped because an earlier side failed: its result would never be read."""


Outcome = dict[str, Any] | Exception  # the `plan --json` shape plus "warnings", or what the run raised
Known = frozenset[tuple[str, str]] | KnownFrom | None


# A process must start and import the SDK: 0.74 s of imports on main (2026-12), where a plan of 10 agents took
# 0.56 s and of 100 agents 5.75 s. Runs of fewer agents than this go one after the other, in this process.
PROCESSES_FROM_AGENTS = 50


def run_sides(sides: Sequence[Side], processes: bool | None = None) -> list[Outcome]:
    """Every side's outcome, in order: one process per distinct run (`processes`; None: when a spec has
    `PROCESSES_FROM_AGENTS` agents or more), else one after the other in this process.

    Once a side has failed, the sides after it are stopped or never started (`Cancelled`): callers report
    the first failure in order, as if the sides had run one after the other.
    """
    runs = _distinct_runs(sides)
    distinct = sorted(set(runs))
    if processes is None:
        processes = max(_agents(side.raw) for side in sides) >= PROCESSES_FROM_AGENTS
    if processes and len(distinct) > 1:
        outcomes = _run_in_processes(sides, distinct)
    else:
        outcomes = _run_one_by_one(sides, distinct)
    return [outcomes[runs[index]] for index in range(len(sides))]


def _agents(raw: Any) -> int:
    agents = raw.get("agents") if isinstance(raw, Mapping) else None
    return len(agents) if isinstance(agents, Mapping) else 0


def _distinct_runs(sides: Sequence[Side]) -> list[int]:
    """For each side, the index of the side whose run it reuses (itself when none declares the same)."""
    return [next((i for i in range(index) if _reuses(sides, index, i)), index) for index in range(len(sides))]


def _reuses(sides: Sequence[Side], later: int, earlier: int) -> bool:
    """A later side gets an earlier one's result when both declare the same and know the same: the same
    `known`, or the later previews from the earlier's state when everything of the earlier is known."""
    first, second = sides[earlier], sides[later]
    same_known = second.known == first.known or (second.known == KnownFrom(earlier) and first.known is None)
    return same_known and second.declares_what(first)


def _run_one_by_one(sides: Sequence[Side], runs: list[int]) -> dict[int, Outcome]:
    reused_by = _distinct_runs(sides)
    outcomes: dict[int, Outcome] = {}
    for index in runs:
        if any(isinstance(outcome, Exception) for outcome in outcomes.values()):
            outcomes[index] = Cancelled(f"side {index}: not run after an earlier side failed")
            continue
        known = sides[index].known
        if isinstance(known, KnownFrom):
            source = outcomes[reused_by[known.side]]  # an earlier side, run (and not failed) already
            assert not isinstance(source, Exception)
            known = frozenset((r["type"], r["name"]) for r in source["resources"])
        try:
            outcomes[index] = run_side(sides[index], known)
        except Exception as error:
            outcomes[index] = error
    return outcomes


def run_side(
    side: Side, known: Container[tuple[str, str]] | None, announce: Callable[[str, str], None] | None = None
) -> dict[str, Any]:
    """One run in this process: what `plan --json` prints, with the program's warnings."""
    from functools import partial

    from nuketown_stack import collector
    from nuketown_stack.program.engine import run_program  # importing pulumi is the slow part
    from nuketown_stack.program.program import define_stack

    collector.tune()  # as `pulumi up` runs the program (program.main)
    result = run_program(
        partial(define_stack, side.raw),
        side.stack,
        side.config,
        project=side.project,
        secret_keys=side.secret_keys,
        known=known,
        announce=announce,
    )
    return {**result.to_json(), "warnings": result.warnings}


# --- the processes ---------------------------------------------------------------------------------------


def _run_in_processes(sides: Sequence[Side], runs: list[int]) -> dict[int, Outcome]:
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no threads or locks inherited
    keys_out: dict[int, list[Connection]] = {index: [] for index in runs}
    keys_in: dict[int, Connection] = {}
    reused_by = _distinct_runs(sides)
    for index in runs:
        source = sides[index].known
        if isinstance(source, KnownFrom):
            receiver, sender = context.Pipe(duplex=False)
            keys_in[index] = receiver
            keys_out[reused_by[source.side]].append(sender)
    children: dict[int, tuple[Any, Connection]] = {}
    for index in runs:
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_child,
            args=(sides[index], sender, keys_in.get(index), keys_out[index]),
            name=f"nuketown-side-{index}",
        )
        process.start()
        sender.close()  # the child holds its own end: EOF here means it is gone
        children[index] = (process, receiver)
    for connection in [*keys_in.values(), *(c for cs in keys_out.values() for c in cs)]:
        connection.close()  # only the children use these
    return _collect(children)


def _collect(children: dict[int, tuple[Any, Connection]]) -> dict[int, Outcome]:
    outcomes: dict[int, Outcome] = {}
    failed = False
    try:
        for index, (process, receiver) in children.items():
            if failed:
                process.terminate()
                outcomes[index] = Cancelled(f"side {index}: stopped after an earlier side failed")
                continue
            outcomes[index] = _received(receiver, process)
            failed = isinstance(outcomes[index], Exception)
    finally:
        for process, receiver in children.values():
            process.join()
            receiver.close()
    return outcomes


def _received(receiver: Connection, process: Any) -> Outcome:
    try:
        outcome: Outcome = receiver.recv()
    except EOFError:
        process.join()
        return RuntimeError(f"the run in {process.name} ended without a result (exit code {process.exitcode})")
    return outcome


def _child(side: Side, result: Connection, keys_in: Connection | None, keys_out: list[Connection]) -> None:
    """A side's process: run, tell dependants each resource as it is declared, send back the outcome."""

    def announce(typ: str, name: str) -> None:
        for connection in list(keys_out):
            try:
                connection.send_bytes(f"{typ}\n{name}".encode())
            except OSError:  # that side is gone (it failed): this run goes on, its outcome is its own
                keys_out.remove(connection)

    known = _StreamedKeys(keys_in) if keys_in is not None else side.known
    assert not isinstance(known, KnownFrom)
    try:
        outcome: Outcome = run_side(side, known, announce if keys_out else None)
    except Exception as error:
        error.add_note(f"in the run of stack {side.stack} (another process):\n{traceback.format_exc()}")
        outcome = error
    finally:
        for connection in keys_out:
            connection.close()  # end of the list: whatever was not announced is not declared
    try:
        result.send(outcome)
    except Exception as unsendable:  # an exception that does not pickle: its type and message survive
        result.send(RuntimeError(f"{type(outcome).__name__}: {outcome} ({unsendable})"))
    result.close()
    # Sent, and nothing of this process is needed any more: an interpreter's orderly exit would first free
    # every object of the run, one by one, while `diff` waits for it (seconds at 300 agents).
    os._exit(0)


class _StreamedKeys:
    """The (type, name) of every resource another side declares, as it declares them: `in` waits until
    the key arrives or that side's list ends."""

    def __init__(self, connection: Connection) -> None:
        self._keys: set[tuple[str, str]] = set()
        self._ended = False
        self._arrived = threading.Condition()
        threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: Connection) -> None:
        try:
            while True:
                typ, _, name = connection.recv_bytes().decode().partition("\n")
                with self._arrived:
                    self._keys.add((typ, name))
                    self._arrived.notify_all()
        except EOFError:
            pass
        finally:
            with self._arrived:
                self._ended = True
                self._arrived.notify_all()

    def __contains__(self, key: object) -> bool:
        with self._arrived:
            self._arrived.wait_for(lambda: key in self._keys or self._ended)
            return key in self._keys
