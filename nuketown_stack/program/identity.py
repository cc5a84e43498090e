"""What a cloud's declare module hands back for an agent, and the one helper that keeps and adopts.

Every cloud package's `declare_agent_identity` returns a `DeclaredIdentity`; the agent component
puts it in the stack outputs, on the ServiceAccount and in `.sops.yaml` the same way for every cloud
(the seam: nuketown_stack/clouds/__init__.py).
"""

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.type_token import get_type_token

from nuketown_stack.plan.keeping import is_kept


@dataclass(frozen=True)
class DeclaredIdentity:
    identity: pulumi.Input[str]  # the service account email or role ARN (the cloud's output, or the given one)
    key: pulumi.Output[str]  # the agent's KMS key (GCP: its id; AWS: its ARN), as sops names it
    # The ServiceAccount annotation's value, from the identity resource's output, under the key the plan's
    # Annotation names (None: the cloud binds pods another way, as EKS Pod Identity does).
    annotation_value: pulumi.Input[str] | None


def adoption_opts(resource_class: type[Any], adopt_id: str | None = None) -> pulumi.ResourceOptions:
    """Whether a resource is kept (retainOnDelete, decided by its type in plan/keeping.py) and which existing
    one it takes over (`import_`): one helper owns both, so no declare module sets either itself."""
    token = get_type_token(resource_class)
    return pulumi.ResourceOptions(retain_on_delete=(token is not None and is_kept(token)) or None, import_=adopt_id)
