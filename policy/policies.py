"""The nuketown policies, wired for Pulumi CrossGuard (`pulumi preview --policy-pack policy`).

Each rule of nuketown_policy.py is one mandatory policy. Properties reach a
policy through pulumi_policy's unknown-checking proxy, which raises on the
first unknown value and makes the SDK report the policy as *advisory* "can't
run during preview" (pulumi_policy/policy.py). The policies here first unwrap
the proxy (nuketown_values.plain), keeping unknowns as their sentinel strings,
so the rules see them and report them as violations instead.
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
        for problem in rule(args.resource_type, plain(args.props)):
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
    return [
        Resource(type=r.resource_type, name=r.name, props=plain(r.props), agent=_agent(r), urn=r.urn)
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
