"""Run the real program under Pulumi's unit-test mock engine and record what it declares.

This is how `nuketown-stack plan` and the tests see the program without a
Pulumi CLI. Resource options (parent, protect, retainOnDelete, aliases) never
reach the mocks, so a stack transformation reads them as each resource is built.
"""

import asyncio
import logging
from collections.abc import Callable, Container, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.output import Unknown
from pulumi.runtime import mocks, rpc
from pulumi.runtime import resource as runtime_resource
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await
from pydantic.alias_generators import to_camel

from nuketown_stack.program.aliases import ROOT_STACK_TYPE, AliasSpec, Placed, alias_urns, create_urn
from nuketown_stack.program.declared import PROJECT as PROJECT  # re-exported: the default of run_program
from nuketown_stack.program.declared import UNKNOWN_TEXT
from nuketown_stack.program.mock_cloud import ECHOED_INPUTS, Kept, MockCloud, call_result, computed_outputs


@dataclass
class DeclaredResource:
    type: str
    name: str
    parent: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    protect: bool = False
    retain_on_delete: bool = False
    provider: str | None = None  # logical name of the explicit provider, when one is used
    provider_urn: str | None = None  # and that provider's URN
    urn: str = ""
    # Old URNs the engine would find this resource's state under (its aliases, and those its parent's give it).
    aliases: list[str] = field(default_factory=list)
    import_id: str | None = None  # set when the resource adopts an existing one (`import_`)
    # Input property -> the resources ("type::name") its value comes from, as the engine records them
    # (propertyDependencies): what tells a value a new resource will assign from any other unknown.
    dependencies: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "urn": self.urn,
            "aliases": self.aliases,
            "inputs": self.inputs,
            "protect": self.protect,
            "retainOnDelete": self.retain_on_delete,
            "dependencies": self.dependencies,
        }


@dataclass
class EngineResult:
    stack: str
    resources: list[DeclaredResource]
    outputs: dict[str, Any]
    registrations: list[tuple[str, str]]  # every (type, name) in registration order, duplicates kept
    warnings: list[str] = field(default_factory=list)  # what the program logged as warnings (pulumi.log.warn)

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "resources": [r.to_json() for r in self.resources], "outputs": self.outputs}


SECRET_TEXT = "[secret]"  # how `pulumi preview` shows a secret value, and all plan and diff ever show of one

# Which resources' cloud-assigned outputs (ids, emails, ARNs) are known: None for all, as after a `pulumi up`;
# otherwise only those in the set (already in the state), as in a real preview; empty for a first preview.
# Any container will do: program/sides.py passes one that fills in while another side's run goes on.
Known = Container[tuple[str, str]] | None


def _plain(value: Any) -> Any:
    """Mock inputs arrive through protobuf Structs, where every number is a float; secrets stay hidden."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if rpc.is_rpc_secret(value):
        return SECRET_TEXT
    if isinstance(value, Unknown):
        return UNKNOWN_TEXT
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _returned_state(type_token: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs a provider echoes and the program reads (`ECHOED_INPUTS`). Echoing every input made plan
    take 1/0.87 as long (issue 25): Outputs rebuilt from state that nothing reads, kept alive to the end.
    A provider resource gets all of its inputs back, as the engine hands them back (pulumi/pulumi
    pkg/resource/deploy/providers/registry.go, Create): a handful per stack, and what a program can read of
    one (tests/engine/test_engine_component.py) stays as a real preview has it."""
    if type_token.startswith("pulumi:providers:"):
        return _echoed(dict(inputs))  # type: ignore[no-any-return]
    return {key: _echoed(inputs[key]) for key in ECHOED_INPUTS.get(type_token, ()) if key in inputs}


def _echoed(value: Any) -> Any:
    """Inputs handed back as the resource's state, unknown parts still unknown to the program."""
    if isinstance(value, Unknown):
        return rpc.UNKNOWN
    if isinstance(value, dict) and not rpc.is_rpc_secret(value):
        return {k: _echoed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_echoed(v) for v in value]
    return value


class _RecordingMocks(pulumi.runtime.Mocks):
    def __init__(
        self,
        record: Callable[[pulumi.runtime.MockResourceArgs, dict[str, Any]], None],
        cloud: MockCloud,
        known: Known,
    ) -> None:
        self._record = record
        self._cloud = cloud
        self._known = known

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        inputs = _plain(dict(args.inputs))
        self._record(args, inputs)
        state = _returned_state(args.typ, args.inputs)
        if self._known is not None and (args.typ, args.name) not in self._known:
            return None, state  # not created yet: its id and what the cloud computes are unknown
        computed = computed_outputs(args.typ, args.name, inputs, self._cloud)
        resource_id = computed.pop("id", f"{args.name}-id")
        return resource_id, {**state, **computed}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return call_result(args.token, _plain(dict(args.args)), self._cloud), []  # no check failures


def run_program(
    program: Callable[[], Mapping[str, Any]],
    stack: str,
    config: Mapping[str, Any],
    project: str = PROJECT,
    secret_keys: frozenset[str] = frozenset(),
    kept: Kept | None = None,
    known: Known = None,
    announce: Callable[[str, str], None] | None = None,
) -> EngineResult:
    """Run `program` as stack `stack` with `config`; exceptions it raises propagate unchanged.

    `known` says whose cloud-assigned outputs are known (see `Known`); `kept` what the cloud
    already holds (kept resources of removed agents, which the program adopts). `announce` is told
    each resource's (type, name) as soon as the program declares it.
    """
    by_key: dict[tuple[str, str], DeclaredResource] = {}
    registrations: list[tuple[str, str]] = []
    resource_urns: dict[int, str] = {}  # resource object -> its URN
    resource_aliases: dict[int, list[str]] = {}  # resource object -> the old URNs its aliases name
    urns: set[str] = set()

    def entry(typ: str, name: str) -> DeclaredResource:
        if (typ, name) not in by_key:
            by_key[(typ, name)] = DeclaredResource(type=typ, name=name)
            if announce is not None:
                announce(typ, name)
        return by_key[(typ, name)]

    def placed(args: pulumi.ResourceTransformationArgs) -> Placed:
        """Where the resource sits: the engine's URN rules (step_generator.go generateURN)."""
        parent = args.opts.parent
        if parent is None or parent.pulumi_resource_type == ROOT_STACK_TYPE:
            return Placed(name=args.name, type=args.type_, parent="", parent_name="", parent_aliases=())
        parent_urn = resource_urns.get(id(parent)) or create_urn(
            parent.pulumi_resource_name, parent.pulumi_resource_type, "", project, stack
        )  # a parent the transformation never saw sits at the root
        aliases = resource_aliases.get(id(parent), [])
        return Placed(args.name, args.type_, parent_urn, parent.pulumi_resource_name, aliases)

    def refuse_duplicate_urn(urn: str) -> None:
        """The engine bails on a second resource with the same URN (type chain + name): so does this run.
        pulumi/pulumi pkg/resource/deploy/step_generator.go generateURN, sdk/go/common/diag/errors.go (2001)."""
        if urn in urns:
            raise DuplicateUrnError(f"Duplicate resource URN '{urn}'; try giving it a unique name")
        urns.add(urn)

    def record_inputs(args: pulumi.runtime.MockResourceArgs, inputs: dict[str, Any]) -> None:
        registrations.append((args.typ, args.name))
        declared = entry(args.typ, args.name)
        declared.inputs = inputs
        declared.import_id = args.resource_id or None
        if args.provider:  # a reference "<provider urn>::<id>", the urn as the mocks make it: "...::<type>::<name>"
            *_, chain, name, _ = args.provider.split("::")
            declared.provider = name
            provider = by_key.get((chain.rsplit("$", 1)[-1], name))  # registered before the resources it serves
            declared.provider_urn = provider.urn if provider is not None else None

    pending_dependencies: list[tuple[DeclaredResource, str, list[pulumi.Output[Any]]]] = []

    def record_options(args: pulumi.ResourceTransformationArgs) -> None:
        where = placed(args)
        urn = create_urn(where.name, where.type, where.parent, project, stack)
        refuse_duplicate_urn(urn)
        specs = [_alias_spec(alias, lambda r: resource_urns[id(r)]) for alias in args.opts.aliases or []]
        aliases = alias_urns(specs, where, project, stack)
        resource_urns[id(args.resource)], resource_aliases[id(args.resource)] = urn, aliases
        declared = entry(args.type_, args.name)
        declared.urn, declared.aliases = urn, aliases
        for prop, value in (args.props or {}).items():
            if found := _outputs_in(value):
                pending_dependencies.append((declared, to_camel(prop), found))
        parent = args.opts.parent
        if parent is not None and parent.pulumi_resource_type != "pulumi:pulumi:Stack":
            declared.parent = f"{parent.pulumi_resource_type}::{parent.pulumi_resource_name}"
        declared.protect = bool(args.opts.protect)
        declared.retain_on_delete = bool(args.opts.retain_on_delete)
        return None

    outputs: dict[str, Any] = {}
    log = _WarningLog()

    async def resolve_dependencies() -> None:
        for declared, prop, found in pending_dependencies:
            sources = {r for output in found for r in await output.resources()}
            names = sorted(f"{r.pulumi_resource_type}::{r.pulumi_resource_name}" for r in sources)
            if names:
                declared.dependencies[prop] = names

    async def body() -> None:
        # Awaited by run_pulumi_func on the run's loop. Pumping that loop from inside it instead (_sync_await)
        # left it to pad its queue with a cancelled handle for every one it drained: 36,610 at 300 agents.
        outputs.update(await _resolved(program()))
        await resolve_dependencies()

    previous_policy = asyncio.get_event_loop_policy()
    policy = _ClosingLoopPolicy()
    asyncio.set_event_loop_policy(policy)  # a fresh main loop for this run, and a record of every loop made
    try:
        with _without_source_positions():  # from the root Stack resource set_mocks registers
            runtime_settings.set_root_resource(None)  # type: ignore[arg-type]  # a fresh root stack for every run
            mocks.set_mocks(
                _RecordingMocks(record_inputs, MockCloud.from_config(config, kept or Kept()), known),
                project=project,
                stack=stack,
                preview=True,
                logger=log,
            )
            pulumi.runtime.set_all_config({k: _config_text(v) for k, v in config.items()}, sorted(secret_keys))
            pulumi.runtime.register_stack_transformation(record_options)
            _sync_await(run_pulumi_func(body))
    finally:
        policy.close_all()
        asyncio.set_event_loop_policy(previous_policy)
    return EngineResult(
        stack=stack,
        resources=list(by_key.values()),
        outputs=_plain(outputs),
        registrations=registrations,
        warnings=log.warnings,
    )


class _WarningLog(logging.Logger):
    """Where the mock engine sends the program's log: warnings are kept, as `pulumi preview` shows them."""

    def __init__(self) -> None:
        # From WARNING up: the SDK logs several debug lines per resource, which a logger left at NOTSET turned
        # into records for no handler (6 % of a plan's py-spy samples at 300 agents).
        super().__init__("nuketown-mock-engine", logging.WARNING)
        self.warnings: list[str] = []

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.warnings.append(str(msg))


def _outputs_in(value: Any) -> list[pulumi.Output[Any]]:
    if isinstance(value, pulumi.Output):
        return [value]
    if isinstance(value, dict):
        return [o for v in value.values() for o in _outputs_in(v)]
    if isinstance(value, list | tuple):
        return [o for v in value for o in _outputs_in(v)]
    return []


def _alias_spec(alias: Any, urn_of: Callable[[pulumi.Resource], str]) -> AliasSpec:
    """A `pulumi.Alias` (or an old URN as text) as the SDK sends it to the engine (runtime/resource.py,
    create_alias_spec): `...` leaves a field as the resource is now; `parent=None` means the stack's root."""
    if isinstance(alias, str):
        return AliasSpec(urn=alias)

    def given(value: Any) -> Any:
        return None if value is ... else value

    parent = given(alias.parent)
    return AliasSpec(
        name=given(alias.name),
        type=given(alias.type_),
        parent=urn_of(parent) if isinstance(parent, pulumi.Resource) else parent,
        no_parent=alias.parent is None,
        stack=given(alias.stack),
        project=given(alias.project),
    )


@contextmanager
def _without_source_positions() -> Iterator[None]:
    """For the run, the SDK does not work out where in the program each resource was declared.

    For every resource it walks the whole Python stack, reads each frame's line, stats each file and turns each
    path into a URI (pulumi/pulumi sdk/python/lib/pulumi/runtime/resource.py, register_resource calling
    _get_stack_trace), to send the engine a source position and a stack trace for its messages. The mock monitor
    reads neither (runtime/mocks.py, MockMonitor.RegisterResource), and nothing here reports them: measured at
    1,000 agents, it was about a sixth of a plan's time, more for a program whose resources sit deeper in its
    calls. A real `pulumi preview` or `up` never runs through here and keeps them.
    """
    original = runtime_resource._get_stack_trace
    runtime_resource._get_stack_trace = _no_stack_trace
    try:
        yield
    finally:
        runtime_resource._get_stack_trace = original


def _no_stack_trace() -> source_pb2.StackTrace:
    return source_pb2.StackTrace()


class DuplicateUrnError(RuntimeError):
    """Two resources with one URN: the engine refuses the whole deployment."""


async def _resolved(value: Any) -> Any:
    """Stack outputs leaf by leaf, so one unknown value (a first preview) does not hide the known ones."""
    if isinstance(value, pulumi.Output):
        if not await value.is_known():
            return UNKNOWN_TEXT
        if await value.is_secret():
            return SECRET_TEXT
        return await _resolved(await value.future())
    if isinstance(value, dict):
        return {k: await _resolved(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [await _resolved(v) for v in value]
    return value


class _ClosingLoopPolicy(asyncio.DefaultEventLoopPolicy):
    """Remembers every event loop it makes, so a run can close them all when it ends.

    The mock monitor serves each registration on a worker thread, and each
    worker makes an event loop of its own that nobody closes. Left open, the
    interpreter finalizes them at exit in no particular order, sometimes after
    their sockets, and prints an "Exception ignored ... Invalid file
    descriptor" traceback on stderr.
    """

    def __init__(self) -> None:
        super().__init__()
        self.loops: list[asyncio.AbstractEventLoop] = []

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        loop = super().new_event_loop()
        self.loops.append(loop)
        return loop

    def close_all(self) -> None:
        """From the main thread, once the run is over: stop the workers, then close every loop."""
        main = self.get_event_loop()
        if not main.is_closed() and not main.is_running():
            main.run_until_complete(main.shutdown_default_executor())
        for loop in self.loops:
            if not loop.is_closed() and not loop.is_running():
                loop.close()


def _config_text(value: Any) -> str:
    """Pulumi config values are strings; structured values travel as JSON, as the CLI sends them."""
    import json

    return value if isinstance(value, str) else json.dumps(value)
