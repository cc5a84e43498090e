"""The real Pulumi program under the mock engine: resources, options, outputs, and render parity."""

import asyncio
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CLOUD_SETTINGS, EXAMPLE, FLEET, FLEET_ALLOWED, make_plan, spy_on_mocks

from nuketown_stack.errors import InputError
from nuketown_stack.program.engine import EngineResult, run_program
from nuketown_stack.program.program import define_stack
from nuketown_stack.views.render import to_yaml


def run(source: Path | str, stack: str = "dev", **config: str) -> EngineResult:
    return run_program(define_stack, stack, {"nuketown:source": str(source), **config})


@pytest.fixture(scope="module")
def example_run() -> EngineResult:
    return run(EXAMPLE)


@pytest.fixture(scope="module")
def fleet_run() -> EngineResult:
    return run(FLEET, **{"nuketown:storageClass": "standard-rwo"})


def kube_resources(result: EngineResult) -> list[dict[str, Any]]:
    return [r.to_json() for r in result.resources if r.type.startswith("kubernetes:")]


SOURCES = {"example": (EXAMPLE, {}), "fleet": (FLEET, {"nuketown:storageClass": "standard-rwo", **FLEET_ALLOWED})}
_RUNS: dict[tuple[str, str], tuple[EngineResult, dict[str, str]]] = {}


def cloud_run(source: str, cloud: str) -> tuple[EngineResult, dict[str, str]]:
    """The program run on a source under one cloud's settings (once per module), and those settings."""
    if (source, cloud) not in _RUNS:
        path, config = SOURCES[source]
        settings = {**config, **CLOUD_SETTINGS[cloud]}
        _RUNS[source, cloud] = (run(path, **settings), settings)
    return _RUNS[source, cloud]


@pytest.mark.parametrize("cloud", sorted(CLOUD_SETTINGS))
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_resource_is_declared_once(source: str, cloud: str) -> None:
    result, _ = cloud_run(source, cloud)
    repeated = [key for key, count in Counter(result.registrations).items() if count > 1]
    assert repeated == []
    assert len(result.registrations) == len(result.resources)


def test_resource_tree(example_run: EngineResult) -> None:
    tree = [(r.type, r.name, r.parent) for r in example_run.resources]
    fleet = "nuketown:index:Fleet::nuketown"
    assert ("pulumi:providers:kubernetes", "kubernetes", None) in tree
    assert ("nuketown:index:Fleet", "nuketown", None) in tree
    assert ("nuketown:index:Agent", "ada", fleet) in tree
    assert ("nuketown:index:Agent", "vox", fleet) in tree
    ada_children = sorted((t, n) for t, n, p in tree if p == "nuketown:index:Agent::ada")
    assert ada_children == sorted(
        [
            ("kubernetes:core/v1:Namespace", "ada"),
            ("kubernetes:core/v1:ServiceAccount", "ada"),
            ("kubernetes:core/v1:ConfigMap", "ada-identity"),
            ("kubernetes:core/v1:ResourceQuota", "ada"),
            ("kubernetes:core/v1:LimitRange", "ada"),
            ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "ada"),
            ("kubernetes:core/v1:PersistentVolumeClaim", "ada-projects"),
            ("kubernetes:core/v1:PersistentVolumeClaim", "ada-config-claude"),
            ("kubernetes:keda.sh/v1alpha1:ScaledObject", "ada"),
            ("kubernetes:apps/v1:Deployment", "ada"),
        ]
    )
    guard = [(t, n, p) for t, n, p in tree if t.startswith("kubernetes:admissionregistration.k8s.io/v1:")]
    assert [(t.rsplit(":", 1)[1], n, p) for t, n, p in guard] == [
        ("ValidatingAdmissionPolicy", "ownership", fleet),
        ("ValidatingAdmissionPolicyBinding", "ownership", fleet),
    ]
    # two providers; the Fleet; its guard; per agent a component and ten objects; vox's VPA
    assert len(tree) == 2 + 1 + 2 + 2 * 11 + 1


def test_retain_on_delete_reaches_the_engine(fleet_run: EngineResult) -> None:
    retained = {(r.type.rsplit(":", 1)[1], r.name) for r in fleet_run.resources if r.retain_on_delete}
    kinds = {kind for kind, _ in retained}
    assert kinds == {"Namespace", "PersistentVolumeClaim"}
    assert ("PersistentVolumeClaim", "ada-local-share-nvim") in retained
    every_claim = {r.name for r in fleet_run.resources if r.type.endswith("PersistentVolumeClaim")}
    assert every_claim == {name for kind, name in retained if kind == "PersistentVolumeClaim"}
    assert not any(r.protect for r in fleet_run.resources)  # no protected resources without a cloud


def test_only_retained_objects_are_adopted(fleet_run: EngineResult) -> None:
    """Re-adding a removed agent finds its namespace and volumes still there: those creates must adopt them."""
    providers = {r.name: r.inputs for r in fleet_run.resources if r.type == "pulumi:providers:kubernetes"}
    assert providers == {"kubernetes": {}, "kubernetes-adopting": {"upsertExistingObjects": "true"}}
    for resource in fleet_run.resources:
        if resource.type.startswith("kubernetes:"):
            expected = "kubernetes-adopting" if resource.retain_on_delete else "kubernetes"
            assert resource.provider == expected, resource.name


@pytest.mark.parametrize("cloud", sorted(CLOUD_SETTINGS))
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_plan_inputs_equal_render(source: str, cloud: str) -> None:
    """`pulumi up` applies exactly the objects `render` prints, annotations from cloud outputs included."""
    result, settings = cloud_run(source, cloud)
    rendered = list(yaml.safe_load_all(to_yaml(make_plan(_evaluated(SOURCES[source][0]), **settings).objects())))
    declared = [r["inputs"] for r in kube_resources(result)]

    def key(obj: dict[str, Any]) -> tuple[str, str, str]:
        return obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]

    assert len(declared) == len(rendered)
    assert sorted(declared, key=key) == sorted(rendered, key=key)


def _evaluated(source: Path) -> dict[str, Any]:
    from conftest import nix_eval

    return nix_eval(source)


def test_outputs(example_run: EngineResult) -> None:
    assert example_run.outputs == {
        "agents": {
            "ada": {"namespace": "nuketown-dev--ada", "serviceAccount": "ada", "uid": 1100},
            "vox": {"namespace": "nuketown-dev--vox", "serviceAccount": "vox", "uid": 1101},
        }
    }


def test_stack_settings_reach_the_program() -> None:
    result = run(EXAMPLE, stack="staging", **{"nuketown:namespacePrefix": "ai--", "nuketown:scheduling": "none"})
    namespaces = sorted(r.inputs["metadata"]["name"] for r in result.resources if r.type.endswith(":Namespace"))
    assert namespaces == ["ai--ada", "ai--vox"]
    deployment = next(r for r in result.resources if r.type.endswith(":Deployment") and r.name == "vox")
    assert "nodeSelector" not in deployment.inputs["spec"]["template"]["spec"]


def test_kubernetes_provider_takes_the_stack_context() -> None:
    result = run(EXAMPLE, **{"kubernetes:context": "k3s-lab"})
    provider = next(r for r in result.resources if r.type == "pulumi:providers:kubernetes")
    assert provider.inputs["context"] == "k3s-lab"


def test_bad_input_declares_nothing(
    tmp_path: Path, example_json: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = json.loads(json.dumps(example_json))
    spec["agents"]["ada"]["resources"] = "huge"
    source = tmp_path / "spec.json"
    source.write_text(json.dumps(spec))
    registered = spy_on_mocks(monkeypatch, "new_resource")
    assert run(EXAMPLE).resources and registered  # the spy sees a good run's resources
    registered.clear()
    with pytest.raises(InputError) as caught:
        run(source)
    assert caught.value.problems == ("agents.ada.cloud.resources: 'huge' is not a tier (gpu, large, small, standard)",)
    assert registered == []


def test_missing_source_setting_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        run_program(define_stack, "dev", {})
    assert caught.value.problems == (
        "nuketown:source: required (pulumi config set nuketown:source examples/cloud-ada.nix)",
    )


def test_main_turns_bad_input_into_a_run_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `pulumi up`, bad input is reported as one message (RunError), not a traceback."""
    import pulumi

    from nuketown_stack.program import program

    def refuse() -> dict[str, Any]:
        raise InputError(["agents.ada.uid: 0 is not allowed"])

    monkeypatch.setattr(program, "define_stack", refuse)
    with pytest.raises(pulumi.RunError, match=re.escape("invalid nuketown input:\nagents.ada.uid: 0 is not allowed")):
        program.main()


def test_a_run_closes_every_event_loop_it_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loops left open are finalized at exit, sometimes after their sockets, printing a traceback on stderr."""
    made: list[asyncio.AbstractEventLoop] = []
    original = asyncio.BaseEventLoop.__init__

    def recording_init(self: asyncio.BaseEventLoop, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(asyncio.BaseEventLoop, "__init__", recording_init)
    run(EXAMPLE)
    assert len(made) > 1  # the main loop and the mock monitor's workers' loops
    assert [loop for loop in made if not loop.is_closed()] == []
