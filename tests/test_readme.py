"""The README's examples, as a new user pastes them: every `$ nuketown-stack ...` line in a ```console
block is run from the repository root and must print exactly the lines below it (stderr, which comes
first on a terminal, then stdout) and exit as its `# exit N` comment says (0 when it says nothing)."""

import json
import re
import runpy
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from nuketown_stack import cli

README = ROOT / "README.md"
EXIT_COMMENT = re.compile(r"#\s*exit (\d+)\s*$")


def console_examples() -> list[tuple[str, list[str]]]:
    """(command line, expected output lines) for every command in the README's console blocks."""
    examples: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", README.read_text(), flags=re.DOTALL):
        for line in block.splitlines():
            if line.startswith("$ "):
                examples.append((line[2:], []))
            else:
                examples[-1][1].append(line)
    return examples


EXAMPLES = console_examples()


def test_the_readme_has_runnable_examples() -> None:
    assert len(EXAMPLES) >= 4
    assert all(command.startswith("nuketown-stack ") for command, _ in EXAMPLES)


@pytest.mark.parametrize(("command", "expected"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_a_readme_example_prints_what_the_readme_shows(
    command: str,
    expected: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("NO_COLOR", raising=False)
    found = EXIT_COMMENT.search(command)
    exit_code = int(found.group(1)) if found else 0
    argv = shlex.split(command, comments=True)
    assert cli.main(argv[1:]) == exit_code
    captured = capsys.readouterr()
    assert captured.err.splitlines() + captured.out.splitlines() == expected


def test_every_document_the_readme_names_exists() -> None:
    text = README.read_text()
    named = set(re.findall(r"(?<![\w:/])((?:docs|examples|scripts|nix|deploy|benchmarks)/[\w./-]+[\w])", text))
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert missing == []


def test_docs_link_to_documents_that_exist() -> None:
    for document in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", document.read_text()):
            assert (document.parent / target).exists() or (ROOT / target).exists(), (document.name, target)


def test_path_note_is_in_the_quick_start() -> None:
    """Every example above runs `nuketown-stack` by name: the quick start must put .venv/bin on PATH."""
    quick_start = README.read_text().split("## Options")[0]
    assert 'export PATH="$PWD/.venv/bin:$PATH"' in quick_start


def test_every_test_the_docs_name_exists() -> None:
    """docs/ cite tests as evidence; a renamed or removed test must not leave a claim without one."""
    defined = set()
    for path in (ROOT / "tests").rglob("*.py"):
        defined |= set(re.findall(r"^def (test_\w+)", path.read_text(), flags=re.MULTILINE))
    cited = set()
    for document in [README, *(ROOT / "docs").glob("*.md")]:
        cited |= set(re.findall(r"\b(test_\w+)", document.read_text()))
    files = {path.stem for path in (ROOT / "tests").rglob("test_*.py")}
    assert sorted(cited - defined - files) == []


# `nix`, its options (a value may be quoted), then a new-style subcommand.
NIX_COMMAND = re.compile(
    r"(?<![\w-])nix (?:--[\w-]+ (?:'[^']*'|\"[^\"]*\"|\S+) )*(eval|flake|build|run|develop|shell|hash|profile|store)\b"
)


def _code_lines() -> list[tuple[str, str]]:
    lines = []
    for document in [README, *(ROOT / "docs").glob("*.md")]:
        for block in re.findall(r"```[a-z]*\n(.*?)```", document.read_text(), flags=re.DOTALL):
            lines += [(document.name, line) for line in block.splitlines()]
    return lines


def test_every_nix_command_the_docs_show_enables_what_it_needs() -> None:
    """`nix eval`, `nix flake` and the other new-style commands are experimental in the nix Debian ships (2.8):
    pasted without --extra-experimental-features they fail before doing anything."""
    commands = [(name, line) for name, line in _code_lines() if NIX_COMMAND.search(line)]
    assert commands
    assert [(n, line) for n, line in commands if "experimental-features 'nix-command flakes'" not in line] == []


def test_the_readmes_flake_command_runs_as_pasted(tmp_path: Path, example_json: dict[str, Any]) -> None:
    """The README's raw `nix eval` of a system's spec, run by the real nix in a flake whose HOST holds one."""
    [command] = [line for _, line in _code_lines() if NIX_COMMAND.match(line) and " eval " in line and "HOST" in line]
    (tmp_path / "evaluated.json").write_text(json.dumps(example_json))
    (tmp_path / "flake.nix").write_text(
        "{ outputs = { self }: { nixosConfigurations.HOST.config.nuketown.cloud.spec = "
        "builtins.fromJSON (builtins.readFile ./evaluated.json); }; }"
    )
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "spec.json").read_text()) == example_json


HOST = ROOT / "examples" / "host" / "__main__.py"


def test_the_readme_shows_the_host_program_as_it_is() -> None:
    """ "Use it in your own program" shows examples/host/__main__.py whole, the file the next test runs."""
    section = README.read_text().split("## Use it in your own program\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks == [HOST.read_text()]


def test_the_host_program_puts_everything_under_its_component_with_its_providers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Run as Pulumi runs it (from its directory), with no config at all: every resource is under the team's
    component, and every one uses a provider the team made."""
    from nuketown_stack.program.engine import run_program

    monkeypatch.chdir(HOST.parent)
    result = run_program(lambda: (runpy.run_path(str(HOST), run_name="__main__"), {})[1], "dev", {}, known=None)
    parents = {f"{r.type}::{r.name}": r.parent for r in result.resources}

    def ancestors(reference: str | None) -> list[str]:
        found = []
        while reference is not None:
            found.append(reference)
            reference = parents[reference]
        return found

    team = "platform:index:Team::research"
    assert [r.name for r in result.resources if r.parent is None] == ["research"]
    assert all(ancestors(r.parent)[-1] == team for r in result.resources if r.parent is not None)
    providers = {r.urn for r in result.resources if r.type.startswith("pulumi:providers:")}
    assert {p.split("::")[-1] for p in providers} == {"agents-cluster", "agents-cluster-adopting", "acme-agents"}
    assert all(p.split("::")[2].startswith("platform:index:Team$") for p in providers)
    custom = [r for r in result.resources if r.type.split(":")[0] in ("kubernetes", "gcp")]
    assert custom and all(r.provider_urn in providers for r in custom)
    kept = {r.provider for r in custom if r.retain_on_delete and r.type.startswith("kubernetes:")}
    assert kept == {"agents-cluster-adopting"}
    accounts = sorted(r.inputs["accountId"] for r in custom if r.type == "gcp:serviceaccount/account:Account")
    assert accounts == ["nt-dev--ada", "nt-dev--vox"]
