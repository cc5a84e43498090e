"""The stand-alone stack keeps every URN it had before the Fleet: each is a URN now, or an alias of one.

`tests/data/stand-alone-urns.txt` holds the URNs main's program declared (its header says how it was
made). A resource found under an old URN keeps its state, so its data and identity (docs/design.md, 3).
"""

from collections import Counter, defaultdict
from pathlib import Path

import pytest
from conftest import ROOT
from stand_alone_urns import CLOUDS, SOURCES, STACK, evaluated

from nuketown_stack.plan.keeping import KEPT
from nuketown_stack.program.engine import EngineResult, run_program
from nuketown_stack.program.program import define_stack

FIXTURE = ROOT / "tests" / "data" / "stand-alone-urns.txt"


def before() -> dict[tuple[str, str], list[str]]:
    urns: dict[tuple[str, str], list[str]] = defaultdict(list)
    for line in FIXTURE.read_text().splitlines():
        if line and not line.startswith("#"):
            source, cloud, urn = line.split(" ")
            urns[source, cloud].append(urn)
    return urns


BEFORE = before()
_RUNS: dict[tuple[str, str], EngineResult] = {}
_SPECS: dict[Path, str] = {}


def now(source: str, cloud: str, directory: Path) -> EngineResult:
    if (source, cloud) not in _RUNS:
        path, extra = SOURCES[source]
        if path not in _SPECS:
            _SPECS[path] = evaluated(path, directory)
        spec = _SPECS[path]
        _RUNS[source, cloud] = run_program(define_stack, STACK, {"nuketown:source": spec, **extra, **CLOUDS[cloud]})
    return _RUNS[source, cloud]


def test_the_fixture_covers_what_holds_data_identity_and_providers() -> None:
    assert sorted(BEFORE) == sorted((s, c) for s in SOURCES for c in CLOUDS)
    types = {key: {urn.split("::")[2].rsplit("$", 1)[-1] for urn in urns} for key, urns in BEFORE.items()}
    kube = {"kubernetes:core/v1:Namespace", "kubernetes:core/v1:PersistentVolumeClaim", "pulumi:providers:kubernetes"}
    gcp = {"gcp:kms/keyRing:KeyRing", "gcp:kms/cryptoKey:CryptoKey", "gcp:serviceaccount/account:Account"}
    aws = {"aws:kms/key:Key", "aws:iam/role:Role", "aws:iam/policy:Policy", "pulumi:providers:aws"}
    for (source, cloud), found in types.items():
        expected = kube | {"gcp": gcp | {"pulumi:providers:gcp"}, "none": set()}.get(cloud, aws)
        assert expected <= found, (source, cloud)
    assert set(KEPT) <= set().union(*types.values())


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_urn_of_the_stand_alone_stack_is_kept_or_aliased(source: str, cloud: str, tmp_path: Path) -> None:
    result = now(source, cloud, tmp_path)
    current = {r.urn for r in result.resources}
    aliased = {alias for r in result.resources for alias in r.aliases}
    old = BEFORE[source, cloud]
    assert sorted(urn for urn in old if urn not in current and urn not in aliased) == []
    # Providers keep their very URN: a resource whose provider reference moves to another URN is diffed
    # with the new provider's DiffConfig, unless that provider is an alias of the old one.
    providers = [urn for urn in old if "::pulumi:providers:" in urn]
    assert sorted(urn for urn in providers if urn not in current) == []


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_no_old_urn_is_claimed_twice(source: str, cloud: str, tmp_path: Path) -> None:
    """The engine refuses two resources that claim one old URN (step_generator.go getOldResource)."""
    result = now(source, cloud, tmp_path)
    current = {r.urn for r in result.resources}
    claims = Counter(urn for r in result.resources for urn in {r.urn, *r.aliases} if urn in BEFORE[source, cloud])
    assert [urn for urn, count in claims.items() if count > 1] == []
    # an alias never names another resource's URN of this run (diag 2016: an alias conflicts with a URN)
    assert sorted({a for r in result.resources for a in r.aliases} & current) == []


@pytest.mark.parametrize("cloud", sorted(CLOUDS))
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_resource_keeps_its_provider_reference(source: str, cloud: str, tmp_path: Path) -> None:
    """A provider reference is the provider's URN and id: with the providers where they were, no resource's
    changes, so the engine sees no provider diff (step_generator.go providerChanged; tests/engine/
    test_engine_component.py says what a moved Kubernetes provider would do instead)."""
    result = now(source, cloud, tmp_path)
    providers = {urn for urn in BEFORE[source, cloud] if "::pulumi:providers:" in urn}
    custom = [r for r in result.resources if r.type.split(":")[0] in ("kubernetes", "gcp", "aws")]
    assert custom and sorted({r.provider_urn for r in custom} - providers) == []
    assert all(r.provider_urn for r in custom)
