"""The nuketown policies, wired for Pulumi CrossGuard (`pulumi preview --policy-pack policy`).

Each rule of nuketown_policy.py is one mandatory policy. Properties reach a
policy through pulumi_policy's unknown-checking proxy, which raises on the
first unknown value and makes the SDK report the policy as *advisory* "can't
run during preview" (pulumi_policy/policy.py). The policies here first unwrap
the proxy (nuketown_values.plain), keeping unknowns as their sentinel strings,
so the rules see them and report them as violations instead.

Where an unknown comes from is known only to stack policies: pulumi_policy
gives a stack policy each resource's `property_dependencies` (PolicyResource,
filled by AnalyzeStack from the engine's AnalyzerResource.propertyDependencies)
and a resource policy none (ResourceValidationArgs: type, props, urn, name,
opts, provider; the engine's AnalyzeRequest carries no dependencies). So a
resource policy defers a value it cannot read (`rule.deferring`), and the stack
policy nuketown-unknown-origin runs the same rule with the origins known.
"""

from collections.abc import Callable
from typing import Any

from nuketown_policy import (
    AGENT_TYPE,
    CONFIG_PROPERTIES,
    RESOURCE_RULES,
    STACK_RULES,
    Context,
    Resource,
    ResourceRule,
    StackRule,
    policy_name,
    stack_from_urn,
)
from nuketown_values import plain
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)


def _description(rule: Callable[..., Any]) -> str:
    return " ".join((rule.__doc__ or policy_name(rule)).split())


def _schema(rule: Callable[..., Any]) -> PolicyConfigSchema | None:
    properties = CONFIG_PROPERTIES.get(policy_name(rule))
    return PolicyConfigSchema(properties=properties) if properties else None


def _resource_policy(rule: ResourceRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for problem in rule.deferring(args.resource_type, plain(args.props)) or []:  # type: ignore[attr-defined]
            report_violation(problem, None)

    return ResourceValidationPolicy(
        name=policy_name(rule),
        description=_description(rule),
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _agent(resource: PolicyResource) -> str | None:
    """The nuketown:index:Agent component a resource belongs to, however deep."""
    parent = resource.parent
    seen = set()
    while parent is not None and id(parent) not in seen:
        seen.add(id(parent))
        if parent.resource_type == AGENT_TYPE:
            return parent.name
        parent = parent.parent
    return None


def to_resources(policy_resources: list[PolicyResource]) -> list[Resource]:
    """The rules' view of a stack: type, name, outputs (unknowns kept), owning agent, URN, and each input's
    property dependencies as URNs (the SDK keeps only those of resources in the stack: policy.py AnalyzeStack)."""
    return [
        Resource(
            type=r.resource_type,
            name=r.name,
            props=plain(r.props),
            agent=_agent(r),
            urn=r.urn,
            dependencies={key: tuple(d.urn for d in deps) for key, deps in (r.property_dependencies or {}).items()},
        )
        for r in policy_resources
    ]


def _stack_policy(rule: StackRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = to_resources(list(args.resources))
        stack = next((s for s in (stack_from_urn(r.urn) for r in resources) if s), None)
        context = Context.from_config(stack, args.get_config())
        for finding in rule(resources, context):
            report_violation(finding.message, finding.resource.urn if finding.resource else None)

    return StackValidationPolicy(
        name=policy_name(rule),
        description=_description(rule),
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=_schema(rule),
    )


POLICIES = [
    *(_resource_policy(rule) for rule in RESOURCE_RULES),
    *(_stack_policy(rule) for rule in STACK_RULES),
]
