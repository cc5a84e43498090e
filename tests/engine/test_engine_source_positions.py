"""The mock engine spares the SDK its per-resource stack walk, and only for the length of a run; and the
runtime awaits the engine's body instead of the body pumping the loop.

pulumi/pulumi `sdk/python/lib/pulumi/runtime/resource.py`: register_resource (and read_resource) call
`_get_stack_trace()` for every resource, walking the whole Python stack to send the engine a source
position and a stack trace. `sdk/python/lib/pulumi/runtime/mocks.py`: MockMonitor.RegisterResource builds
MockResourceArgs from the type, name, inputs, provider, import id, custom flag and transforms, and never
reads either. `run_program` swaps the walk for an empty trace while it runs and puts it back after.
"""

import inspect
from typing import Any

import pytest
from conftest import EXAMPLE
from pulumi.runtime import mocks, stack
from pulumi.runtime import resource as runtime_resource

from nuketown_stack.errors import InputError
from nuketown_stack.program.engine import run_program
from nuketown_stack.program.program import define_stack

GCP = {"nuketown:cloud": "gcp", "gcp:project": "acme-agents-prod"}


def test_the_sdk_walks_the_stack_where_the_engine_expects() -> None:
    """If the SDK stops calling it by this name, the swap would silently do nothing: this says so first."""
    assert "_get_stack_trace" in runtime_resource.register_resource.__code__.co_names
    assert "_get_stack_trace" in runtime_resource.read_resource.__code__.co_names


def test_the_mocks_never_read_a_source_position() -> None:
    """What the swap leaves out is nothing the mock monitor, and so nothing `plan` or `diff`, can see."""
    register = inspect.getsource(mocks.MockMonitor.RegisterResource)
    assert "sourcePosition" not in register and "stackTrace" not in register
    fields = set(inspect.signature(mocks.MockResourceArgs.__init__).parameters)
    assert not {"source_position", "stack_trace"} & fields


def test_a_run_takes_no_stack_trace_and_restores_the_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    walks: list[None] = []

    def counting() -> Any:
        walks.append(None)
        return runtime_resource.source_pb2.StackTrace()

    monkeypatch.setattr(runtime_resource, "_get_stack_trace", counting)
    result = run_program(define_stack, "dev", {"nuketown:source": str(EXAMPLE), **GCP})
    assert len(result.resources) > 10
    assert walks == []  # not one resource walked the stack
    assert runtime_resource._get_stack_trace is counting  # a real program after this run walks it again


def test_a_failed_run_restores_the_walk_too() -> None:
    original = runtime_resource._get_stack_trace
    with pytest.raises(InputError):
        run_program(define_stack, "dev", {**GCP})  # no nuketown:source: the program refuses
    assert runtime_resource._get_stack_trace is original


def test_the_runtime_awaits_the_body_it_is_given() -> None:
    """run_program's body is a coroutine: pulumi/pulumi `sdk/python/lib/pulumi/runtime/stack.py`, run_pulumi_func,
    awaits what the function returns when it is awaitable, before it waits for the outstanding RPCs."""
    source = inspect.getsource(stack.run_pulumi_func)
    assert "if isawaitable(result):" in source and "await result" in source
    assert source.index("await result") < source.index("await wait_for_rpcs()")
    result = run_program(define_stack, "dev", {"nuketown:source": str(EXAMPLE), **GCP})
    assert result.outputs["agents"]  # the stack outputs the awaited body resolved
