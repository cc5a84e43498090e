"""Aliases as the engine resolves them: which old URNs a resource that moved is found under.

Read in their source:
- pulumi/pulumi `sdk/python/lib/pulumi/runtime/resource.py` (prepare_aliases, create_alias_spec): with an
  engine that supports alias specs, the SDK sends each `pulumi.Alias` as a spec (name, type, parent URN or
  `noParent` for `parent=pulumi.ROOT_STACK_RESOURCE`, stack, project) and computes nothing itself;
  `sdk/python/lib/pulumi/resource.py` (Alias): a field left out means "as the resource is now".
- pulumi/pulumi `pkg/resource/deploy/step_generator.go`: collapseAliasToUrn turns a spec into a URN
  (`sdk/go/common/resource/alias.go` CreateURN: the parent URN's type chain, `$`, the type);
  inheritedChildAlias gives each child of an aliased parent the child's URN under the parent's old URN,
  renaming a child named `<parent>-suffix` with its parent; generateAliases lists the resource's own
  aliases, then those its parent's matched alias gives it; getOldResource looks the resource up under its
  URN first, then each alias, and refuses two resources claiming one old URN (`sdk/go/common/diag/errors.go`
  2008 and 2016).

`nuketown_stack.program.aliases` is that model; the mock engine records its result per resource, and
`views/diff.py` matches resources through it.
"""

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from nuketown_stack.program.engine import EngineResult, run_program
from nuketown_stack.views.diff import diff_plans

STACK = "urn:pulumi:dev::nuketown::"


def run(program: Any) -> EngineResult:
    return run_program(program, "dev", {})


def by_name(result: EngineResult) -> dict[str, Any]:
    return {f"{r.type.rsplit(':', 1)[-1]}/{r.name}": r for r in result.resources}


def moved_under_a_team() -> dict[str, Any]:
    team = pulumi.ComponentResource("platform:index:Team", "team")
    agent = pulumi.ComponentResource(
        "nuketown:index:Agent",
        "ada",
        None,
        pulumi.ResourceOptions(parent=team, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)]),
    )
    k8s.core.v1.Namespace("ada", opts=pulumi.ResourceOptions(parent=agent))
    k8s.core.v1.ConfigMap("ada-identity", opts=pulumi.ResourceOptions(parent=agent))
    return {}


def test_a_component_moved_from_the_root_is_found_under_its_old_urn_and_so_are_its_children() -> None:
    found = by_name(run(moved_under_a_team))
    agent, namespace = found["Agent/ada"], found["Namespace/ada"]
    assert agent.urn == STACK + "platform:index:Team$nuketown:index:Agent::ada"
    assert agent.aliases == [STACK + "nuketown:index:Agent::ada"]
    assert namespace.urn == STACK + "platform:index:Team$nuketown:index:Agent$kubernetes:core/v1:Namespace::ada"
    assert namespace.aliases == [STACK + "nuketown:index:Agent$kubernetes:core/v1:Namespace::ada"]
    assert found["ConfigMap/ada-identity"].aliases == [
        STACK + "nuketown:index:Agent$kubernetes:core/v1:ConfigMap::ada-identity"
    ]
    assert found["Team/team"].aliases == []


def test_a_renamed_parent_renames_the_children_named_after_it() -> None:
    def program() -> dict[str, Any]:
        fleet = pulumi.ComponentResource(
            "nuketown:index:Fleet", "agents", None, pulumi.ResourceOptions(aliases=[pulumi.Alias(name="old")])
        )
        k8s.core.v1.ConfigMap("agents-config", opts=pulumi.ResourceOptions(parent=fleet))
        k8s.core.v1.ConfigMap("other", opts=pulumi.ResourceOptions(parent=fleet))
        return {}

    found = by_name(run(program))
    assert found["Fleet/agents"].aliases == [STACK + "nuketown:index:Fleet::old"]
    chain = STACK + "nuketown:index:Fleet$kubernetes:core/v1:ConfigMap::"
    assert found["ConfigMap/agents-config"].aliases == [chain + "old-config"]
    assert found["ConfigMap/other"].aliases == [chain + "other"]


def test_an_aliased_child_of_an_aliased_parent_has_every_combination() -> None:
    def program() -> dict[str, Any]:
        agent = pulumi.ComponentResource(
            "nuketown:index:Agent", "ada", None, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="old:index:A")])
        )
        k8s.core.v1.ConfigMap(
            "ada-identity", opts=pulumi.ResourceOptions(parent=agent, aliases=[pulumi.Alias(name="ada-id")])
        )
        return {}

    config_map = by_name(run(program))["ConfigMap/ada-identity"]
    new_parent, old_parent = "nuketown:index:Agent$kubernetes:core/v1:ConfigMap::", "old:index:A$kubernetes:core/v1:"
    assert config_map.aliases == [
        STACK + new_parent + "ada-id",  # its own alias, under its parent as it is now
        STACK + old_parent + "ConfigMap::ada-identity",  # its name, under the parent's old URN
        STACK + old_parent + "ConfigMap::ada-id",  # its own alias, under the parent's old URN
    ]


def test_an_alias_given_as_a_urn_is_taken_as_it_is() -> None:
    old = STACK + "somewhere:index:Else$kubernetes:core/v1:Namespace::x"

    def program() -> dict[str, Any]:
        k8s.core.v1.Namespace("ada", opts=pulumi.ResourceOptions(aliases=[old]))
        return {}

    assert by_name(run(program))["Namespace/ada"].aliases == [old]


def test_diff_sees_an_aliased_move_as_the_same_resource_and_an_unaliased_one_as_a_new_one() -> None:
    def before() -> dict[str, Any]:
        agent = pulumi.ComponentResource("nuketown:index:Agent", "ada")
        k8s.core.v1.Namespace("ada", metadata={"name": "n"}, opts=pulumi.ResourceOptions(parent=agent))
        return {}

    def after(aliases: list[pulumi.Alias]) -> Any:
        def program() -> dict[str, Any]:
            team = pulumi.ComponentResource("platform:index:Team", "team")
            agent = pulumi.ComponentResource(
                "nuketown:index:Agent", "ada", None, pulumi.ResourceOptions(parent=team, aliases=aliases)
            )
            k8s.core.v1.Namespace("ada", metadata={"name": "n"}, opts=pulumi.ResourceOptions(parent=agent))
            return {}

        return program

    base = [r.to_json() for r in run(before).resources]
    aliased = diff_plans(base, [r.to_json() for r in run(after([pulumi.Alias(parent=None)])).resources])
    assert [(c.action, c.name) for c in aliased.changes] == [("create", "team")]
    moved = diff_plans(base, [r.to_json() for r in run(after([])).resources])
    assert sorted((c.action, c.type.rsplit(":", 1)[-1]) for c in moved.changes) == [
        ("create", "Agent"),
        ("create", "Namespace"),
        ("create", "Team"),
        ("delete", "Agent"),
        ("delete", "Namespace"),
    ]
