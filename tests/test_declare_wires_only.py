"""The declare modules wire what the plan layer decided: they name, describe and keep nothing themselves.

Logical names and descriptions come from `nuketown_stack.plan.naming` and the clouds' plan modules; whether a
resource is kept or adopted comes from `nuketown_stack.plan.keeping` through `adoption_opts` (or a plan
object's own flag). This reads the declare modules' source, so a literal slipped into one fails here.
"""

import ast
from pathlib import Path

import pytest
from conftest import ROOT

DECLARE_MODULES = [
    ROOT / "nuketown_stack" / "program" / "declare.py",
    ROOT / "nuketown_stack" / "program" / "providers.py",
    ROOT / "nuketown_stack" / "clouds" / "gcp" / "declare.py",
    ROOT / "nuketown_stack" / "clouds" / "aws" / "declare.py",
]
# The SDK modules whose classes are resources (as each declare module imports them).
RESOURCE_MODULES = {"gcp", "aws", "k8s"}
# Arguments that name or describe a resource.
NAMING_KEYWORDS = {"resource_name", "name", "description", "display_name", "account_id", "role", "policy_name"}
KEEPING_KEYWORDS = {"protect", "retain_on_delete", "import_"}


def _is_literal_text(node: ast.expr) -> bool:
    """A string constant, an f-string, or text built from them (`"x" + "-y"`)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _is_literal_text(node.left) or _is_literal_text(node.right)
    return False


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _is_resource_call(call: ast.Call) -> bool:
    """`gcp.kms.CryptoKey(...)`, `aws.iam.Role(...)`, `k8s.core.v1.Namespace(...)`: a class of a provider SDK."""
    func = call.func
    return isinstance(func, ast.Attribute) and _root_name(func) in RESOURCE_MODULES and func.attr[:1].isupper()


def decisions_in(source: str) -> list[str]:
    """Every place where the source names, describes or keeps a resource itself, as 'line: what'."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        keeps_here = isinstance(node, ast.keyword) and node.arg in KEEPING_KEYWORDS
        if keeps_here and (node.arg == "protect" or isinstance(node.value, ast.Constant)):
            found.append(f"{node.value.lineno}: {node.arg}= set here")
        if not isinstance(node, ast.Call) or not _is_resource_call(node):
            continue
        if node.args and _is_literal_text(node.args[0]):
            found.append(f"{node.lineno}: logical name written here")
        for keyword in node.keywords:
            if keyword.arg in NAMING_KEYWORDS and _is_literal_text(keyword.value):
                found.append(f"{keyword.value.lineno}: {keyword.arg}= written here")
    return found


@pytest.mark.parametrize("path", DECLARE_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_declare_modules_decide_no_name_description_or_keeping(path: Path) -> None:
    assert decisions_in(path.read_text()) == []


def test_declare_modules_create_resources() -> None:
    """The check above reads resource calls: each declare module must have some, or it checks nothing."""
    for path in DECLARE_MODULES:
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call) and _is_resource_call(n)]
        assert calls, path


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ('gcp.kms.CryptoKey(f"{agent}-key", key_ring=ring)', "1: logical name written here"),
        ('aws.iam.Role(names.role, description="the agent role")', "1: description= written here"),
        ("k8s.core.v1.Namespace(names.ns, opts=pulumi.ResourceOptions(protect=True))", "1: protect= set here"),
        ("pulumi.ResourceOptions(retain_on_delete=True)", "1: retain_on_delete= set here"),
        ('aws.iam.RolePolicy(names.policy, name="nuketown-" + stack)', "1: name= written here"),
    ],
)
def test_the_check_finds_a_decision_made_in_declare(snippet: str, expected: str) -> None:
    assert decisions_in(snippet) == [expected]


def test_wiring_a_planned_decision_passes() -> None:
    snippet = (
        "gcp.kms.CryptoKey(names.key, key_ring=ring, opts=adoption_opts(gcp.kms.CryptoKey, adopt_id))\n"
        "pulumi.ResourceOptions(retain_on_delete=obj.retain_on_delete or None)\n"
    )
    assert decisions_in(snippet) == []
