"""Sources: JSON file, stdin, .nix (nix-instantiate), flake reference (nix eval); nix's own errors shown."""

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLE, ROOT

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.progress import progress
from nuketown_stack.inputs.source import load_raw, nix_command, nix_environment


def refused(source: str) -> list[str]:
    with pytest.raises(InputError) as caught:
        load_raw(source)
    return list(caught.value.problems)


def test_commands() -> None:
    assert nix_command("spec.json") is None
    assert nix_command("-") is None
    assert nix_command("x/cloud.nix") == ["nix-instantiate", "--eval", "--strict", "--json", "x/cloud.nix"]
    assert nix_command(".#nixosConfigurations.a.config.nuketown.cloud.spec") == [
        "nix",
        "--extra-experimental-features",
        "nix-command flakes",
        "eval",
        "--json",
        ".#nixosConfigurations.a.config.nuketown.cloud.spec",
    ]


def test_nix_file(example_json: dict[str, Any]) -> None:
    assert load_raw(str(EXAMPLE)) == example_json


def test_json_file_and_stdin(tmp_path: Path, example_json: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(example_json))
    assert load_raw(str(path)) == example_json
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(example_json)))
    assert load_raw("-") == example_json


def test_flake_reference(tmp_path: Path, example_json: dict[str, Any]) -> None:
    # Pure flake evaluation reads only the flake's own tree, so the spec travels inside it.
    (tmp_path / "spec.json").write_text(json.dumps(example_json))
    (tmp_path / "flake.nix").write_text(
        "{ outputs = { self }: { cloudSpec = builtins.fromJSON (builtins.readFile ./spec.json); }; }"
    )
    assert load_raw(f"path:{tmp_path}#cloudSpec") == example_json


def test_malformed_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"schemaVersion": 1,\n  "agents": }')
    assert refused(str(path)) == [f"{path}: not valid JSON: Expecting value at line 2 column 13"]


def test_missing_file(tmp_path: Path) -> None:
    assert refused(str(tmp_path / "nope.json")) == [
        f"{tmp_path / 'nope.json'}: no such file (SOURCE is a .json or .nix file, '-', or a flake#attribute)"
    ]
    assert refused(str(tmp_path / "nope.nix")) == [f"{tmp_path / 'nope.nix'}: no such file"]


def test_nix_error_text_is_shown(tmp_path: Path) -> None:
    path = tmp_path / "broken.nix"
    path.write_text('{ agents = throw "ada needs a uid"; }')
    lines = refused(str(path))
    assert lines[0] == f"{path}: nix evaluation failed:"
    assert any("ada needs a uid" in line for line in lines[1:])


def test_undefined_tier_fails_in_nix_with_the_assertion(tmp_path: Path) -> None:
    path = tmp_path / "huge.nix"
    path.write_text(
        '(import %s).spec { enable = true; agents.ada = { enable = true; uid = 1100; cloud.resources = "huge"; };'
        " cloud.enable = true; }" % (ROOT / "nix" / "spec.nix")
    )
    lines = refused(str(path))
    assert any(
        "nuketown.agents.ada.cloud.resources: 'huge' is not a tier (gpu, large, small, standard)" in line
        for line in lines
    )


def test_flake_error_text_is_shown(tmp_path: Path) -> None:
    (tmp_path / "flake.nix").write_text("{ outputs = { self }: { }; }")
    lines = refused(f"path:{tmp_path}#missing")
    assert "does not provide attribute" in " ".join(lines)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_spins_on_a_terminal_and_clears_itself() -> None:
    terminal = _Terminal()
    with progress("evaluating fleet.nix with nix-instantiate", stream=terminal):
        time.sleep(0.3)
    shown = terminal.getvalue()
    assert "evaluating fleet.nix with nix-instantiate" in shown
    assert "\x1b[" in shown  # drawn with terminal control sequences (and erased at the end)


def test_progress_is_silent_off_a_terminal() -> None:
    log = io.StringIO()
    with progress("evaluating fleet.nix with nix-instantiate", stream=log):
        time.sleep(0.1)
    assert log.getvalue() == ""


def test_a_nix_spec_cannot_read_credentials_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A .nix spec runs whatever builtins it likes; under `pulumi up` in CI the environment holds the
    stack's passphrase and the deployer's cloud credentials. nix is given none of them."""
    spec = tmp_path / "leak.nix"
    names = ["PULUMI_CONFIG_PASSPHRASE", "AWS_SECRET_ACCESS_KEY", "GOOGLE_APPLICATION_CREDENTIALS", "GITHUB_TOKEN"]
    spec.write_text(
        "{ " + " ".join(f'{n} = builtins.getEnv "{n}";' for n in names) + ' home = builtins.getEnv "HOME"; }'
    )
    for name in names:
        monkeypatch.setenv(name, "secret-value")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_raw(str(spec)) == {**dict.fromkeys(names, ""), "home": str(tmp_path)}


def test_nix_keeps_what_evaluation_needs() -> None:
    environment = {"PATH": "/bin", "NIX_PATH": "nixpkgs=/x", "NIXPKGS_ALLOW_UNFREE": "1", "AWS_PROFILE": "prod"}
    assert nix_environment(environment) == {"PATH": "/bin", "NIX_PATH": "nixpkgs=/x", "NIXPKGS_ALLOW_UNFREE": "1"}
