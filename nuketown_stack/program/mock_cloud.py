"""What the clouds would compute, for Pulumi's mock engine.

Outputs the program reads (a service account's email, a role's ARN, a key's
id) are derived from the inputs the way GCP and AWS derive them, so `plan`
shows real strings. Nothing here is sent anywhere.
"""

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_AWS_ACCOUNT = "123456789012"
_KEY_NAMESPACE = uuid.UUID("6a1d7a35-9a4e-4c1b-8f5e-6e75b6e2c0de")  # stable key ids from logical names


@dataclass(frozen=True)
class Kept:
    """What a cloud still holds from removed agents or a destroyed stack (empty: a first deployment)."""

    gcp_key_rings: frozenset[str] = frozenset()  # ring ids
    gcp_keys: frozenset[str] = frozenset()  # key ids
    aws_roles: tuple[tuple[str, str, str], ...] = ()  # (role name, stack, agent): its tags
    gcp_accounts: tuple[tuple[str, str, str], ...] = ()  # (account id, stack, agent): its display name
    aws_keys: tuple[tuple[str, str, str], ...] = ()  # (stack, agent, key id), found by their tags
    gcp_buckets: tuple[tuple[str, str, str], ...] = ()  # (bucket name, stack, agent): its labels
    aws_buckets: tuple[tuple[str, str, str], ...] = ()  # (bucket name, stack, agent): its tags


@dataclass(frozen=True)
class MockCloud:
    aws_account: str
    aws_region: str
    kept: Kept = Kept()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], kept: Kept | None = None) -> "MockCloud":
        """The caller's account is the OIDC provider's when there is one (IRSA needs them equal)."""
        provider_arn = str(config.get("nuketown:awsOidcProviderArn") or "")
        parts = provider_arn.split(":")
        account = parts[4] if provider_arn.startswith("arn:") and len(parts) > 4 else DEFAULT_AWS_ACCOUNT
        return cls(aws_account=account, aws_region=str(config.get("aws:region") or "us-east-1"), kept=kept or Kept())


Computed = Callable[[str, dict[str, Any], MockCloud], dict[str, Any]]


def _gcp_account(_: str, inputs: dict[str, Any], __: MockCloud) -> dict[str, Any]:
    email = f"{inputs['accountId']}@{inputs['project']}.iam.gserviceaccount.com"
    return {
        "email": email,
        "member": f"serviceAccount:{email}",
        "name": f"projects/{inputs['project']}/serviceAccounts/{email}",
    }


def _gcp_key_ring(_: str, inputs: dict[str, Any], __: MockCloud) -> dict[str, Any]:
    return {"id": f"projects/{inputs['project']}/locations/{inputs['location']}/keyRings/{inputs['name']}"}


def _gcp_crypto_key(_: str, inputs: dict[str, Any], __: MockCloud) -> dict[str, Any]:
    return {"id": f"{inputs['keyRing']}/cryptoKeys/{inputs['name']}"}


def _aws_role(_: str, inputs: dict[str, Any], cloud: MockCloud) -> dict[str, Any]:
    return {"id": inputs["name"], "arn": f"arn:aws:iam::{cloud.aws_account}:role/{inputs['name']}"}


def _aws_policy(_: str, inputs: dict[str, Any], cloud: MockCloud) -> dict[str, Any]:
    arn = f"arn:aws:iam::{cloud.aws_account}:policy/{inputs['name']}"
    return {"id": arn, "arn": arn}


def _aws_key(name: str, _: dict[str, Any], cloud: MockCloud) -> dict[str, Any]:
    key_id = str(uuid.uuid5(_KEY_NAMESPACE, name))
    return {"id": key_id, "keyId": key_id, "arn": f"arn:aws:kms:{cloud.aws_region}:{cloud.aws_account}:key/{key_id}"}


def _gcp_bucket(_: str, inputs: dict[str, Any], __: MockCloud) -> dict[str, Any]:
    name = inputs["name"]
    return {"id": name, "url": f"gs://{name}", "selfLink": f"https://www.googleapis.com/storage/v1/b/{name}"}


def _aws_bucket(_: str, inputs: dict[str, Any], __: MockCloud) -> dict[str, Any]:
    name = inputs["bucket"]
    return {"id": name, "arn": f"arn:aws:s3:::{name}"}


COMPUTED_OUTPUTS: dict[str, Computed] = {
    "gcp:storage/bucket:Bucket": _gcp_bucket,
    "aws:s3/bucket:Bucket": _aws_bucket,
    "gcp:serviceaccount/account:Account": _gcp_account,
    "gcp:kms/keyRing:KeyRing": _gcp_key_ring,
    "gcp:kms/cryptoKey:CryptoKey": _gcp_crypto_key,
    "aws:iam/role:Role": _aws_role,
    "aws:iam/policy:Policy": _aws_policy,
    "aws:kms/key:Key": _aws_key,
}


# Inputs the program reads back from a resource's outputs, which its provider hands back as they were given:
# a role's `name` (pulumi_aws/iam/role.py: an optional input and an output, assigned only when omitted), and
# a GCS bucket's `name`, which its object grant names (pulumi_gcp/storage/bucket.py: likewise optional).
# The mock engine returns these and the computed outputs above, and nothing else of a resource's state.
ECHOED_INPUTS: dict[str, tuple[str, ...]] = {
    "aws:iam/role:Role": ("name",),
    "gcp:storage/bucket:Bucket": ("name",),
}


def computed_outputs(type_token: str, name: str, inputs: dict[str, Any], cloud: MockCloud) -> dict[str, Any]:
    compute = COMPUTED_OUTPUTS.get(type_token)
    return compute(name, inputs, cloud) if compute else {}


# A CA certificate for mock clusters (base64 of a PEM header: the shape, not a real certificate).
MOCK_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="


def _tagged_resources(args: Mapping[str, Any], kept: list[tuple[str, str, str]]) -> dict[str, Any]:
    """The tagging API's answer: each kept (ARN, stack, agent) of a stack the tag filters ask for."""
    stacks = {v for f in args.get("tagFilters") or [] if f.get("key") == "nuketown.io/stack" for v in f["values"]}
    return {
        "resourceTagMappingLists": [
            {"resourceArn": arn, "tags": {"nuketown.io/stack": stack, "nuketown.io/agent": agent}}
            for arn, stack, agent in kept
            if stack in stacks
        ]
    }


def call_result(token: str, args: Mapping[str, Any], cloud: MockCloud) -> dict[str, Any]:
    """Results of the data sources (invokes) the program calls."""
    if token == "gcp:container/getCluster:getCluster":
        return {
            "name": args.get("name"),
            "endpoint": "203.0.113.10",
            "masterAuths": [{"clusterCaCertificate": MOCK_CA}],
        }
    if token == "aws:eks/getCluster:getCluster":
        endpoint = f"https://{str(args.get('name')).upper()}.gr7.{cloud.aws_region}.eks.amazonaws.com"
        return {"name": args.get("name"), "endpoint": endpoint, "certificateAuthorities": [{"data": MOCK_CA}]}
    if token == "gcp:kms/getKeyRings:getKeyRings":
        prefix = f"projects/{args.get('project')}/locations/{args.get('location')}/keyRings/"
        rings = [ring for ring in sorted(cloud.kept.gcp_key_rings) if ring.startswith(prefix)]
        return {"keyRings": [{"id": ring, "name": ring.rpartition("/")[2]} for ring in rings]}
    if token == "gcp:kms/getCryptoKeys:getCryptoKeys":
        ring = f"{args.get('keyRing')}/cryptoKeys/"
        keys = [key for key in sorted(cloud.kept.gcp_keys) if key.startswith(ring)]
        return {"keys": [{"id": key, "name": key.rpartition("/")[2]} for key in keys]}
    if token == "aws:iam/getRoles:getRoles":
        pattern = re.compile(str(args.get("nameRegex") or ""))
        names = [name for name, _, _ in sorted(cloud.kept.aws_roles) if pattern.search(name)]
        return {"names": names, "arns": [f"arn:aws:iam::{cloud.aws_account}:role/{n}" for n in names]}
    if token == "aws:iam/getRole:getRole":
        name = str(args.get("name"))
        stack, agent = next((s, a) for n, s, a in cloud.kept.aws_roles if n == name)
        return {
            "name": name,
            "arn": f"arn:aws:iam::{cloud.aws_account}:role/{name}",
            "tags": {"nuketown.io/stack": stack, "nuketown.io/agent": agent},
        }
    if token == "gcp:serviceaccount/getS:getS":
        prefix, project = str(args.get("prefix") or ""), args.get("project")
        return {
            "accounts": [
                {
                    "accountId": account_id,
                    "email": f"{account_id}@{project}.iam.gserviceaccount.com",
                    "displayName": f"nuketown agent {agent} ({stack})",
                }
                for account_id, stack, agent in sorted(cloud.kept.gcp_accounts)
                if account_id.startswith(prefix)
            ]
        }
    if token == "gcp:storage/getBuckets:getBuckets":
        prefix = str(args.get("prefix") or "")
        return {
            "buckets": [
                {
                    "name": name,
                    "labels": {"nuketown-stack": stack, "nuketown-agent": agent},
                    "location": "US",
                    "selfLink": f"https://www.googleapis.com/storage/v1/b/{name}",
                    "storageClass": "STANDARD",
                }
                for name, stack, agent in sorted(cloud.kept.gcp_buckets)
                if name.startswith(prefix)
            ]
        }
    if token == "aws:resourcegroupstaggingapi/getResources:getResources":
        if args.get("resourceTypeFilters") == ["s3:bucket"]:
            kept = [(f"arn:aws:s3:::{name}", stack, agent) for name, stack, agent in cloud.kept.aws_buckets]
        else:
            region, account = cloud.aws_region, cloud.aws_account
            kept = [
                (f"arn:aws:kms:{region}:{account}:key/{key}", stack, agent) for stack, agent, key in cloud.kept.aws_keys
            ]
        return _tagged_resources(args, kept)
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {
            "accountId": cloud.aws_account,
            "arn": f"arn:aws:iam::{cloud.aws_account}:user/pulumi",
            "userId": "AIDAMOCKUSER",
            "id": cloud.aws_account,
        }
    return {}
