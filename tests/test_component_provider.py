"""The Fleet for programs in other languages: the component provider host of Pulumi's Python SDK serves it.

Read in their source (pulumi/pulumi):
- `sdk/python/lib/pulumi/provider/experimental/host.py` (component_provider_host) and `analyzer.py`: the
  schema is inferred from the component's class annotations (its outputs) and the annotations of the type of
  its `__init__`'s `args` (its inputs, named in camelCase; a TypedDict's optional keys are optional inputs;
  `Any` is `pulumi.json#/Any`; a Union is refused; a resource class is a reference into its package's schema);
  descriptions are the attributes' docstrings.
- `sdk/python/lib/pulumi/provider/server.py` (main): the provider is a gRPC server on 127.0.0.1 that prints
  its port, and needs the engine only once it is asked to construct.
- `sdk/python/lib/pulumi/provider/experimental/component.py` (construct): the inputs arrive as a dict under
  the Python names, and an exception in the component's `__init__` becomes a ComponentInitError with its text.
- `sdk/python/cmd/pulumi-language-python/main.go` (RunPlugin, parseOptions): a plugin directory with a
  `__main__.py` is run as `python <dir>`; PulumiPlugin.yaml's `toolchain: uv` runs it in the virtualenv
  beside the repository's uv.lock (tests/engine/test_engine_toolchain.py has the lines).
- `pkg/cmd/pulumi/packagecmd/package_add.go`: `pulumi package add` takes a local directory or
  `<host>/<org>/<repo>.git/<path>`, and extracts the schema by running the plugin.
- `pkg/codegen/schema/bind.go`: a reference to `#/resources/pulumi:providers:<package>` (how the analyzer
  names a provider class) binds with a deprecation warning ("use '#/provider' instead").

What is not run here: the Pulumi CLI, so neither `pulumi package add` nor SDK generation from this schema.
"""

import inspect
import json
import subprocess
import sys
from importlib.metadata import version
from typing import Any, get_origin

import grpc
import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from conftest import EXAMPLE, ROOT
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.server import ComponentInitError
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from nuketown_stack import Fleet, FleetArgs
from nuketown_stack.program.engine import run_program

PLUGIN = ROOT / "plugin"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """The schema the plugin serves, read over gRPC from the running plugin, as the CLI would read it."""
    plugin = subprocess.Popen(
        [sys.executable, str(PLUGIN / "__main__.py"), "127.0.0.1:1"],  # no engine: GetSchema does not call it
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert plugin.stdout is not None
        port = plugin.stdout.readline().strip()
        assert port.isdigit(), plugin.stderr.read() if plugin.stderr else port
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            response = provider_pb2_grpc.ResourceProviderStub(channel).GetSchema(
                provider_pb2.GetSchemaRequest(version=0), timeout=60
            )
        return dict(json.loads(response.schema))
    finally:
        plugin.terminate()
        plugin.wait(timeout=30)


def test_the_plugin_is_a_python_plugin_that_runs_this_repository() -> None:
    assert yaml.safe_load((PLUGIN / "PulumiPlugin.yaml").read_text())["runtime"]["name"] == "python"
    assert (PLUGIN / "__main__.py").is_file() and (PLUGIN.parent / "pyproject.toml").is_file()


def test_the_plugin_serves_the_fleet_with_the_inputs_and_outputs_of_its_types(schema: dict[str, Any]) -> None:
    assert (schema["name"], schema["version"]) == ("nuketown", version("nuketown-stack"))
    fleet = schema["resources"]["nuketown:index:Fleet"]
    assert fleet["isComponent"] is True
    inputs = fleet["inputProperties"]
    assert sorted(inputs) == sorted(pulumi_name(key) for key in FleetArgs.__annotations__)
    assert fleet["requiredInputs"] == ["spec"]
    assert inputs["spec"]["$ref"] == inputs["settings"]["$ref"] == "pulumi.json#/Any"
    assert inputs["spec"]["plain"] is True and inputs["settings"]["plain"] is True  # known when the program runs
    assert inputs["adoptingKubernetesProvider"]["$ref"] == (
        f"/kubernetes/v{version('pulumi_kubernetes')}/schema.json#/resources/pulumi:providers:kubernetes"
    )
    assert {"name": "kubernetes", "version": version("pulumi_kubernetes")} in schema["dependencies"]
    outputs = fleet["properties"]
    assert sorted(outputs) == sorted(pulumi_name(key) for key in Fleet.__annotations__)
    for name in ("namespaces", "identities", "kmsKeys"):
        assert (outputs[name]["type"], outputs[name]["additionalProperties"]["type"]) == ("object", "string")
    assert outputs["sopsRules"]["items"]["additionalProperties"]["type"] == "string"
    assert outputs["sopsConfig"]["type"] == "string"
    assert sorted(fleet["required"]) == sorted(outputs)


def pulumi_name(python: str) -> str:
    head, *rest = python.split("_")
    return head + "".join(word.title() for word in rest)


def test_every_output_is_a_typed_attribute_of_the_fleet() -> None:
    hints = inspect.get_annotations(Fleet)
    assert hints and all(get_origin(hint) is pulumi.Output for hint in hints.values()), hints


def test_construct_declares_the_fleet_another_language_asks_for() -> None:
    """What the provider does on Construct: the inputs as sent (schema names), the caller's providers."""
    constructed: dict[str, Any] = {}

    def program() -> dict[str, Any]:
        cluster = k8s.Provider("cluster", context="prod")
        provider = ComponentProvider([Fleet], "nuketown")
        inputs = {"spec": str(EXAMPLE), "settings": {"cloud": "gcp", "gcpProject": "acme-agents"}}
        result = provider.construct(
            "agents", "nuketown:index:Fleet", inputs, pulumi.ResourceOptions(providers=[cluster])
        )
        constructed.update(result.state)
        return {name: value for name, value in result.state.items()}

    result = run_program(program, "dev", {}, known=None)
    assert set(constructed) == {"namespaces", "identities", "kmsKeys", "sopsRules", "sopsConfig"}
    assert result.outputs["namespaces"] == {"ada": "nuketown-dev--ada", "vox": "nuketown-dev--vox"}
    kube = [r for r in result.resources if r.type.startswith("kubernetes:")]
    assert kube and {r.provider for r in kube} == {"cluster"}
    assert {r.parent for r in result.resources if r.type == "nuketown:index:Agent"} == {"nuketown:index:Fleet::agents"}


def test_bad_inputs_from_another_language_come_back_as_the_input_error_lines() -> None:
    def program() -> dict[str, Any]:
        ComponentProvider([Fleet], "nuketown").construct(
            "agents",
            "nuketown:index:Fleet",
            {"spec": str(EXAMPLE), "settings": {"clud": "gcp"}},
            pulumi.ResourceOptions(),
        )
        return {}

    with pytest.raises(ComponentInitError) as caught:
        run_program(program, "dev", {})
    assert str(caught.value) == "settings.clud: not a setting (did you mean settings.cloud?)"
