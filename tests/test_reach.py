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
