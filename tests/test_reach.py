"""views/reach.py: what a change adds to what an agent reaches, checked against the real evaluators.

Soundness: whenever the new grant reaches a bucket the old one did not (GCP: the storage condition
evaluated by cel-python; AWS: the policy evaluated by moto's IAM engine), the change is reported as
widening. Precision where it matters: a scope narrowed to a longer prefix is not reported.
"""

import json
from typing import Any

import celpy
import pytest
from conftest import CLOUD_SETTINGS, FLEET, FLEET_ALLOWED
from hypothesis import given, settings
from hypothesis import strategies as st
from moto.iam.access_control import IAMPolicy, PermissionResult

from nuketown_stack.program.engine import run_program
from nuketown_stack.program.program import define_stack
from nuketown_stack.views.reach import REACH, grants, widened

PREFIXES = st.from_regex(r"[ab][ab-]{0,3}", fullmatch=True)
BUCKETS = st.from_regex(r"[ab][ab-]{0,5}", fullmatch=True)
CHECKS = settings(max_examples=150, deadline=None)
# cel-python raises the interpreter's recursion limit while it compiles; hypothesis says so on every example.
pytestmark = pytest.mark.filterwarnings("ignore:The recursion limit will not be reset")


def agent(*resources: dict[str, Any]) -> list[dict[str, Any]]:
    component = {"type": "nuketown:index:Agent", "name": "ada", "parent": None, "inputs": {}}
    parent = "nuketown:index:Agent::ada"
    return [component, *({**r, "parent": parent} for r in resources)]


def storage_member(prefix: str) -> dict[str, Any]:
    expression = f'resource.name.startsWith("projects/_/buckets/{prefix}")'
    inputs = {
        "project": "acme",
        "role": "roles/storage.objectUser",
        "member": "serviceAccount:ada@acme.iam.gserviceaccount.com",
        "condition": {"title": "t", "expression": expression},
    }
    return {"type": "gcp:projects/iAMMember:IAMMember", "name": "ada-storage", "inputs": inputs}


def cel_allows(member: dict[str, Any], bucket: str) -> bool:
    environment = celpy.Environment()
    program = environment.program(environment.compile(member["inputs"]["condition"]["expression"]))
    return bool(program.evaluate({"resource": celpy.json_to_cel({"name": f"projects/_/buckets/{bucket}"})}))


@CHECKS
@given(old=PREFIXES, new=PREFIXES, bucket=BUCKETS)
def test_a_storage_condition_reaching_a_new_bucket_is_reported(old: str, new: str, bucket: str) -> None:
    before, after = storage_member(old), storage_member(new)
    reported = widened(agent(before), agent(after))
    if cel_allows(after, bucket) and not cel_allows(before, bucket):
        assert reported, (old, new, bucket)
    if new.startswith(old):
        assert reported == {}, (old, new)


def role_policy(prefix: str) -> dict[str, Any]:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": f"arn:aws:s3:::{prefix}*"},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::{prefix}*/*"},
        ],
    }
    inputs = {"role": "nuketown-dev--ada", "name": "nuketown-agent", "policy": json.dumps(document)}
    return {"type": "aws:iam/rolePolicy:RolePolicy", "name": "ada", "inputs": inputs}


def moto_allows(policy: dict[str, Any], action: str, arn: str) -> bool:
    return IAMPolicy(policy["inputs"]["policy"]).is_action_permitted(action, arn) == PermissionResult.PERMITTED


@CHECKS
@given(old=PREFIXES, new=PREFIXES, bucket=BUCKETS, key=st.sampled_from(["", "/k", "/a/b"]))
def test_an_s3_statement_reaching_a_new_bucket_is_reported(old: str, new: str, bucket: str, key: str) -> None:
    before, after = role_policy(old), role_policy(new)
    reported = widened(agent(before), agent(after))
    action = "s3:GetObject" if key else "s3:ListBucket"
    arn = f"arn:aws:s3:::{bucket}{key}"
    if moto_allows(after, action, arn) and not moto_allows(before, action, arn):
        assert reported, (old, new, arn)
    if new.startswith(old):
        assert reported == {}, (old, new)


def test_every_row_reads_the_programs_own_resources() -> None:
    """Each row finds grants in what the program declares: a row reading a wrong field would find none."""
    found: dict[str, list[Any]] = {}
    for config in CLOUD_SETTINGS.values():
        # agentPrefix: each agent's `<agent>-*` granted too, beside its buckets, so every storage row has grants.
        config = {"nuketown:source": str(FLEET), **FLEET_ALLOWED, "nuketown:storage": "agentPrefix", **config}
        for resource in run_program(define_stack, "dev", config).to_json()["resources"]:
            found.setdefault(resource["type"], []).extend(grants(resource))
    assert set(REACH) <= set(found)
    for type_token in REACH:
        assert found[type_token], type_token
        assert all(g.readable and "None" not in g.who + g.does + g.on for g in found[type_token]), type_token


# --- buckets the stack declares: bucket-level grants, S3 statements naming buckets ------------------------------

ADA_MEMBER = "serviceAccount:nt-dev--ada@acme.iam.gserviceaccount.com"
NAMES = ["ada-a", "ada-b", "vox-a", "platform"]
NAME_SETS = st.frozensets(st.sampled_from(NAMES))


def owned_by(name: str, *resources: dict[str, Any]) -> list[dict[str, Any]]:
    component = {"type": "nuketown:index:Agent", "name": name, "parent": None, "inputs": {}}
    return [component, *({**r, "parent": f"nuketown:index:Agent::{name}"} for r in resources)]


def gcs_bucket(name: str, owner: str = "ada") -> dict[str, Any]:
    inputs = {"name": name, "project": "acme"}
    return {"type": "gcp:storage/bucket:Bucket", "name": f"{owner}--{name}", "inputs": inputs}


def s3_bucket(name: str, owner: str = "ada") -> dict[str, Any]:
    return {"type": "aws:s3/bucket:Bucket", "name": f"{owner}--{name}", "inputs": {"bucket": name}}


def vox_gcs_bucket(name: str) -> dict[str, Any]:
    return gcs_bucket(name, "vox")


def vox_s3_bucket(name: str) -> dict[str, Any]:
    return s3_bucket(name, "vox")


def bucket_member(bucket: str, member: str = ADA_MEMBER) -> dict[str, Any]:
    inputs = {"bucket": bucket, "role": "roles/storage.objectUser", "member": member}
    return {"type": "gcp:storage/bucketIAMMember:BucketIAMMember", "name": f"{bucket}--objects", "inputs": inputs}


def decrypter(member: str = ADA_MEMBER) -> dict[str, Any]:
    """The agent's key grant, held by the account the agent acts as (in every plan of an agent on GCP)."""
    inputs = {"cryptoKeyId": "ring/cryptoKeys/ada", "role": "roles/cloudkms.cryptoKeyDecrypter", "member": member}
    return {"type": "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "name": "ada-decrypter", "inputs": inputs}


def named_buckets_policy(names: frozenset[str]) -> dict[str, Any]:
    """ada's role policy as the program writes it for declared buckets: the key, and exactly these buckets."""
    arns = [f"arn:aws:s3:::{name}" for name in sorted(names)]
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "arn:aws:kms:us-east-1:111122223333:key/k"}
    ]
    if arns:
        statements += [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": arns},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"{arn}/*" for arn in arns]},
        ]
    document = {"Version": "2012-10-17", "Statement": statements}
    inputs = {"role": "nuketown-dev--ada", "name": "nuketown-agent", "policy": json.dumps(document)}
    return {"type": "aws:iam/rolePolicy:RolePolicy", "name": "ada", "inputs": inputs}


@CHECKS
@given(
    granted=st.tuples(NAME_SETS, NAME_SETS),
    ada_declares=st.tuples(NAME_SETS, NAME_SETS),
    vox_declares=st.tuples(NAME_SETS, NAME_SETS),
    bucket=st.sampled_from(NAMES),
    key=st.sampled_from(["", "/k"]),
)
def test_an_s3_statement_naming_a_bucket_not_its_own_and_new_is_reported(
    granted: tuple[frozenset[str], frozenset[str]],
    ada_declares: tuple[frozenset[str], frozenset[str]],
    vox_declares: tuple[frozenset[str], frozenset[str]],
    bucket: str,
    key: str,
) -> None:
    """Whatever HEAD's role policy newly allows on a bucket (moto's IAM engine) is reported, unless the bucket is
    ada's own and new: declared by ada in HEAD, by no one in BASE, and by no other agent in HEAD."""
    sides = [
        owned_by("ada", named_buckets_policy(granted[i]), *map(s3_bucket, ada_declares[i]))
        + owned_by("vox", *map(vox_s3_bucket, vox_declares[i]))
        for i in (0, 1)
    ]
    reported = widened(*sides)
    own_and_new = ada_declares[1] - ada_declares[0] - vox_declares[0] - vox_declares[1]
    before, after = named_buckets_policy(granted[0]), named_buckets_policy(granted[1])
    action, arn = ("s3:GetObject" if key else "s3:ListBucket"), f"arn:aws:s3:::{bucket}{key}"
    if moto_allows(after, action, arn) and not moto_allows(before, action, arn) and bucket not in own_and_new:
        assert reported, (granted, ada_declares, vox_declares, arn)
    if granted[1] <= granted[0] | own_and_new:
        assert reported == {}, (granted, ada_declares, vox_declares)


@CHECKS
@given(
    granted=st.tuples(NAME_SETS, NAME_SETS),
    ada_declares=st.tuples(NAME_SETS, NAME_SETS),
    vox_declares=st.tuples(NAME_SETS, NAME_SETS),
)
def test_a_bucket_member_not_on_a_new_bucket_of_its_own_is_reported(
    granted: tuple[frozenset[str], frozenset[str]],
    ada_declares: tuple[frozenset[str], frozenset[str]],
    vox_declares: tuple[frozenset[str], frozenset[str]],
) -> None:
    """GCP evaluates a bucket-level member on exactly its bucket: every bucket ada's members newly reach is
    reported, unless it is ada's own and new."""
    sides = [
        owned_by("ada", decrypter(), *map(bucket_member, granted[i]), *map(gcs_bucket, ada_declares[i]))
        + owned_by("vox", *map(vox_gcs_bucket, vox_declares[i]))
        for i in (0, 1)
    ]
    reported = widened(*sides)
    own_and_new = ada_declares[1] - ada_declares[0] - vox_declares[0] - vox_declares[1]
    newly = granted[1] - granted[0] - own_and_new
    assert {key[1].removesuffix("--objects") for key in reported} == newly


def test_a_new_bucket_of_its_own_granted_to_someone_else_is_reported() -> None:
    """The exemption is for the agent's own identity: another member on its new bucket reaches what it writes."""
    base = owned_by("ada", decrypter(), gcs_bucket("ada-a"), bucket_member("ada-a"))
    for member in ("user:eve@example.org", "serviceAccount:nt-dev--vox@acme.iam.gserviceaccount.com"):
        head = owned_by("ada", decrypter(), gcs_bucket("ada-a"), gcs_bucket("ada-b"), bucket_member("ada-b", member))
        [grant] = widened(base, head)[("gcp:storage/bucketIAMMember:BucketIAMMember", "ada-b--objects")]
        assert grant.words() == f"{member}: roles/storage.objectUser on bucket ada-b"
    # The agent's own identity on it: its own.
    head = owned_by("ada", decrypter(), gcs_bucket("ada-a"), gcs_bucket("ada-b"), bucket_member("ada-b"))
    assert widened(base, head) == {}
    # Unless its identity changed with it: then the new account reaches a bucket, like every other grant of it.
    given = "serviceAccount:ada-agent@acme.iam.gserviceaccount.com"
    head = owned_by("ada", decrypter(given), gcs_bucket("ada-a"), gcs_bucket("ada-b"), bucket_member("ada-b", given))
    assert ("gcp:storage/bucketIAMMember:BucketIAMMember", "ada-b--objects") in widened(base, head)


def test_a_bucket_of_another_agent_or_declared_before_is_not_its_own() -> None:
    """vox's bucket, even one vox adds in the same change, a bucket BASE declared for vox and HEAD for ada (its
    objects are vox's), and one both declare, are reached anew."""
    base = owned_by("ada", decrypter()) + owned_by("vox", vox_gcs_bucket("vox-a"))
    ada_on_vox_a = owned_by("ada", decrypter(), bucket_member("vox-a")) + owned_by("vox", vox_gcs_bucket("vox-a"))
    ada_on_new_vox_b = owned_by("ada", decrypter(), bucket_member("vox-b")) + owned_by("vox", vox_gcs_bucket("vox-b"))
    taken_over = owned_by("ada", decrypter(), gcs_bucket("vox-a"), bucket_member("vox-a")) + owned_by("vox")
    both = owned_by("ada", decrypter(), gcs_bucket("x"), bucket_member("x")) + owned_by("vox", vox_gcs_bucket("x"))
    for head in (ada_on_vox_a, ada_on_new_vox_b, taken_over, both):
        assert [key[0] for key in widened(base, head)] == ["gcp:storage/bucketIAMMember:BucketIAMMember"], head
