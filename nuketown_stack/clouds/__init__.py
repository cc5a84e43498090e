"""The seam between the program and a cloud: one shape every cloud fills, decided once per cloud.

A cloud is a package `nuketown_stack.clouds.<name>` holding two modules:

- `plan` (pure, no pulumi): `stack_plan(settings)` returns a `StackIdentityPlan`: the cloud's name, the
  stack output naming an agent's identity, the `.sops.yaml` field of its keys, where pods get their
  credentials (`guard`), and per agent an `AgentIdentityPlan` (what it annotates the Kubernetes
  ServiceAccount with, and what the pod's credentials depend on).
- `declare` (pulumi): `declare_provider(settings)` declares the cloud's provider,
  `declare_stack(stack_plan, settings, provider)` the stack-wide resources,
  `declare_agent_identity(agent_plan, declared_stack, parent)` an agent's identity, key and grants,
  returning a `DeclaredIdentity` (program/identity.py), and `cluster_kubeconfig(settings, provider)`
  reaches a cluster through the cloud.

Render and the program both take an agent's ServiceAccount annotation from the same `Annotation`:
render writes its planned value, the program the cloud resource's output under the same key. What an
agent's identity is, where it is annotated, output and encrypted to is then one package per cloud;
a new cloud also needs its settings (inputs/settings.py), its kept kinds and change-model rows
(plan/keeping.py, plan/change_model.py), its given-identity checks (plan/ownership.py), its lines
in the human views (views/report.py, views/diff.py) and a mock (program/mock_cloud.py): docs/design.md.
"""

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

from nuketown_stack.inputs.settings import Settings
from nuketown_stack.inputs.spec import AgentSpec
from nuketown_stack.plan.kubernetes import EgressGuard

KMS_KEY_OUTPUT = "kmsKey"  # the stack output of an agent's key, whatever the cloud


@dataclass(frozen=True)
class Annotation:
    """A ServiceAccount annotation that hands the pod its cloud identity."""

    key: str
    planned: str  # the value render writes; the program writes the identity resource's output there


class AgentIdentityPlan(Protocol):
    """One agent's identity as its cloud plans it."""

    def annotation(self) -> Annotation | None:
        """What the ServiceAccount carries, if the cloud binds pods through an annotation."""
        ...

    def credentials(self) -> dict[str, str | None]:
        """What a running pod's credentials depend on: a change to any of it must restart the pod."""
        ...


class StackIdentityPlan(Protocol):
    """A stack's cloud identity plan, and the agent plans it makes."""

    @property
    def cloud(self) -> str: ...

    @property
    def identity_output(self) -> str:
        """The stack output (under agents.<name>) naming the agent's identity."""
        ...

    @property
    def sops_field(self) -> str:
        """The `.sops.yaml` creation rule field that names a key of this cloud."""
        ...

    def guard(self) -> EgressGuard:
        """Egress every agent gets or loses on this cloud (credential endpoints, node metadata)."""
        ...

    def agent_plan(
        self, settings: Settings, name: str, agent: AgentSpec, namespace: str, service_account: str
    ) -> AgentIdentityPlan: ...

    def name_problems(self, settings: Settings, name: str, agent: AgentSpec) -> list[str]:
        """Names of the agent's cloud resources this cloud would refuse (checked before anything is planned)."""
        ...


def _gcp(settings: Settings) -> StackIdentityPlan:
    from nuketown_stack.clouds.gcp.plan import stack_plan

    return stack_plan(settings)


def _aws(settings: Settings) -> StackIdentityPlan:
    from nuketown_stack.clouds.aws.plan import stack_plan

    return stack_plan(settings)


PLANNERS: dict[str, Callable[[Settings], StackIdentityPlan]] = {"gcp": _gcp, "aws": _aws}


def stack_plan(settings: Settings) -> StackIdentityPlan | None:
    """The stack's cloud identity plan; None without a cloud (nuketown:cloud none)."""
    planner = PLANNERS.get(settings.cloud)
    return planner(settings) if planner is not None else None


def declare_module(cloud: str) -> ModuleType:
    """The cloud's declare module, imported only by stacks that use that cloud (its SDK is large)."""
    import importlib

    return importlib.import_module(f"nuketown_stack.clouds.{cloud}.declare")
