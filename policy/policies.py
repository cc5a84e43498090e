"""The nuketown policies, wired for Pulumi CrossGuard (`pulumi preview --policy-pack policy`)."""

from collections.abc import Callable

from nuketown_policy import RESOURCE_RULES, Props, namespace_isolation_problems
from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

Rule = Callable[[str, Props], list[str]]


def _resource_policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for problem in rule(args.resource_type, args.props):
            report_violation(problem, None)

    name = rule.__name__.removesuffix("_problems").replace("_", "-")
    return ResourceValidationPolicy(
        name=f"nuketown-{name}",
        description=(rule.__doc__ or name).strip(),
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def _validate_namespaces(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for problem in namespace_isolation_problems((r.resource_type, r.props) for r in args.resources):
        report_violation(problem, None)


POLICIES = [
    *(_resource_policy(rule) for rule in RESOURCE_RULES),
    StackValidationPolicy(
        name="nuketown-namespace-isolation",
        description=(namespace_isolation_problems.__doc__ or "").strip(),
        validate=_validate_namespaces,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]
