"""How a component hands providers down, and what a program can read back of a provider: what the Fleet
relies on, and why it makes no Kubernetes provider of its own.

Read in their source:
- pulumi/pulumi `sdk/python/lib/pulumi/resource.py` (Resource.__init__, _get_providers): a resource's
  provider is `opts.provider` if its package matches, else the `opts.providers` entry of its package (a list
  is keyed by each provider's package), else its parent's; a component keeps all of them, `opts.provider`
  included, in the map it hands its children.
- pulumi/pulumi `sdk/python/lib/pulumi/runtime/invoke.py` (invoke): an invoke with a parent and no provider
  takes the parent's provider for its package.
- pulumi/pulumi `pkg/resource/deploy/step_generator.go` (providerChanged): a resource whose provider
  reference is unchanged has no provider diff; one whose new provider is an alias of the old has none
  either; otherwise the new provider's DiffConfig decides, and a replacement there replaces the resource.
  pulumi/pulumi-kubernetes `provider/pkg/provider/provider.go` (DiffConfig) asks for a replacement when
  `kubeconfig`, `context` or `cluster` is unknown, or when the active cluster changes.
- pulumi/pulumi `pkg/resource/deploy/providers/registry.go` (Create) hands a provider's inputs back as its
  outputs, but `sdk/python/lib/pulumi/runtime/rpc.py` (resolve_outputs, resolve_properties) resolves an
  output only under a name the class declares: `pulumi_kubernetes.Provider` declares none, so a setting whose
  name is two words (`enableServerSideApply`) never reads back, and during a preview a setting the program
  did not set reads back unknown. A twin built from what a program's provider reads back would therefore
  carry an unknown `kubeconfig` in every preview of a program that sets only `context`, and DiffConfig would
  plan its replacement, and with it of every namespace and volume it holds. So the Fleet makes no twin: the
  program passes one (`adopting_kubernetes_provider`), or kept objects go through its own provider.
"""

from typing import Any

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s
import pytest
from conftest import spy_on_mocks

from nuketown_stack.program import engine
from nuketown_stack.program.engine import run_program


def providers_of(build: Any) -> dict[str, str | None]:
    result = run_program(lambda: (build(), {})[1], "dev", {})
    return {r.type: r.provider for r in result.resources if not r.type.startswith(("pulumi:", "test:"))}


@pytest.mark.parametrize("form", ["list", "map", "provider"])
def test_a_components_providers_reach_its_children_by_package(form: str) -> None:
    def build() -> None:
        cluster = k8s.Provider("cluster")
        project = gcp.Provider("project", project="p")
        options = {
            "list": pulumi.ResourceOptions(providers=[cluster, project]),
            "map": pulumi.ResourceOptions(providers={"kubernetes": cluster, "gcp": project}),
            "provider": pulumi.ResourceOptions(provider=cluster, providers=[project]),
        }[form]
        outer = pulumi.ComponentResource("test:index:Outer", "outer", None, options)
        inner = pulumi.ComponentResource("test:index:Inner", "inner", None, pulumi.ResourceOptions(parent=outer))
        k8s.core.v1.Namespace("n", opts=pulumi.ResourceOptions(parent=inner))
        gcp.kms.KeyRing("r", name="r", location="global", project="p", opts=pulumi.ResourceOptions(parent=inner))

    assert providers_of(build) == {"kubernetes:core/v1:Namespace": "cluster", "gcp:kms/keyRing:KeyRing": "project"}


def test_an_explicit_provider_wins_over_the_inherited_one() -> None:
    def build() -> None:
        cluster, twin = k8s.Provider("cluster"), k8s.Provider("twin", upsert_existing_objects=True)
        outer = pulumi.ComponentResource("test:index:Outer", "outer", None, pulumi.ResourceOptions(providers=[cluster]))
        k8s.core.v1.Namespace("n", opts=pulumi.ResourceOptions(parent=outer, provider=twin))
        k8s.core.v1.ConfigMap("c", opts=pulumi.ResourceOptions(parent=outer, provider=None))

    assert providers_of(build) == {"kubernetes:core/v1:Namespace": "twin", "kubernetes:core/v1:ConfigMap": "cluster"}


def test_an_invoke_under_a_parent_uses_the_parents_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = spy_on_mocks(monkeypatch, "call")

    def build() -> None:
        project = gcp.Provider("project", project="p")
        outer = pulumi.ComponentResource("test:index:Outer", "outer", None, pulumi.ResourceOptions(providers=[project]))
        gcp.kms.get_key_rings(project="p", location="global", opts=pulumi.InvokeOptions(parent=outer))

    run_program(lambda: (build(), {})[1], "dev", {})
    assert len(calls) == 1 and calls[0].provider.split("::")[-2] == "project"


def test_a_kubernetes_provider_reads_back_only_its_one_word_settings_that_were_set() -> None:
    read: dict[str, Any] = {}

    def build() -> dict[str, Any]:
        provider = k8s.Provider("cluster", context="prod", enable_server_side_apply=True)
        for name in ("context", "kubeconfig", "enable_server_side_apply"):
            read[name] = vars(provider)[name]
        return {name: output for name, output in read.items()}

    result = run_program(build, "dev", {})  # a preview, as `plan` runs it
    assert result.resources[0].inputs == {"context": "prod", "enableServerSideApply": "true"}
    assert result.outputs == {
        "context": "prod",
        "kubeconfig": engine.UNKNOWN_TEXT,  # not set: unknown in a preview
        "enable_server_side_apply": engine.UNKNOWN_TEXT,  # set, but its name is two words: never read back
    }
