"""Pulumi CrossGuard policy pack for nuketown stacks: `pulumi preview --policy-pack policy`."""

from policies import POLICIES
from pulumi_policy import PolicyPack

PolicyPack(name="nuketown", policies=POLICIES)
