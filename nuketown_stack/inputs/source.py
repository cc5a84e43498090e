"""Where the spec comes from: a JSON file or stdin, a .nix file, or a flake reference.

This is the only module that runs a subprocess. Failures are InputErrors that
carry nix's own error text, so the user sees what nix said.
"""

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from nuketown_stack.errors import InputError
from nuketown_stack.inputs.progress import progress

NIX_EXPERIMENTAL = ["--extra-experimental-features", "nix-command flakes"]

# What nix is given of this process's environment. A .nix spec can read any variable it is given
# (builtins.getEnv), and the spec may be written by agents; where this runs (CI's `pulumi up`, the
# deployer's shell) the environment holds cloud credentials and the stack's passphrase. So nix gets
# what evaluation and fetching need and nothing else: no AWS_*, GOOGLE_*, PULUMI_*, GITHUB_*.
NIX_ENV_KEYS = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "TZ", "LANG", "LC_ALL", "LC_CTYPE", "TERM",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO",
        "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
        "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR",
    }
)  # fmt: skip
NIX_ENV_PREFIXES = ("NIX_", "NIXPKGS_")


def nix_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of `environ` nix evaluates in (see NIX_ENV_KEYS)."""
    return {k: v for k, v in environ.items() if k in NIX_ENV_KEYS or k.startswith(NIX_ENV_PREFIXES)}


def nix_command(source: str) -> list[str] | None:
    """The nix invocation that evaluates `source`, or None when it is JSON."""
    if "#" in source:
        return ["nix", *NIX_EXPERIMENTAL, "eval", "--json", source]
    if source.endswith(".nix"):
        return ["nix-instantiate", "--eval", "--strict", "--json", source]
    return None


def load_raw(source: str) -> Any:
    """The decoded spec behind SOURCE (`-`, a .json file, a .nix file or `flake#attr`)."""
    command = nix_command(source)
    if command is not None:
        return _decode(_run_nix(command, source), source)
    if source == "-":
        return _decode(sys.stdin.read(), "stdin")
    path = Path(source)
    if path.is_dir() and (path / "flake.nix").is_file():
        raise InputError(
            [
                f"{source}: a flake; name the spec's attribute after '#', like "
                f"'{source}#nixosConfigurations.<host>.config.nuketown.cloud.spec'"
            ]
        )
    if not path.is_file():
        raise InputError([f"{source}: no such file (SOURCE is a .json or .nix file, '-', or a flake#attribute)"])
    return _decode(path.read_text(), source)


def _run_nix(command: list[str], source: str) -> str:
    if shutil.which(command[0]) is None:
        raise InputError([f"{source}: `{command[0]}` is not installed; install nix (Debian: apt-get install nix-bin)"])
    if command[0] == "nix-instantiate" and not Path(source).is_file():
        raise InputError([f"{source}: no such file"])
    with progress(f"evaluating {source} with {command[0]}"):
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=nix_environment(os.environ))
    if result.returncode != 0:
        said = [line for line in result.stderr.strip().splitlines() if line.strip()] or ["(no output)"]
        hint = []
        if "cannot convert a function to JSON" in result.stderr:
            hint = [
                f"{source}: is this a nuketown config rather than a spec? Wrap it with the spec function: "
                "(import ./nix/spec.nix).spec (import ./your-nuketown.nix)"
            ]
        raise InputError([f"{source}: nix evaluation failed:", *(f"  {line}" for line in said), *hint])
    return result.stdout


class JsonObject(dict[str, Any]):
    """A decoded JSON object that remembers the keys its text gave more than once (JSON keeps only the last)."""

    repeated: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> JsonObject:
    decoded = JsonObject()
    repeated = []
    for key, value in pairs:
        if key in decoded and key not in repeated:
            repeated.append(key)
        decoded[key] = value
    decoded.repeated = tuple(repeated)
    return decoded


def repeated_keys(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[str | int, ...]]:
    """The path of every key a decoded document's text gave more than once, outermost first."""
    if isinstance(value, Mapping):
        for key in getattr(value, "repeated", ()):
            yield (*path, key)
        for key, child in value.items():
            yield from repeated_keys(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from repeated_keys(child, (*path, index))


def decode_json(text: str) -> Any:
    """JSON whose objects keep track of repeated keys (see `repeated_keys`); raises json.JSONDecodeError."""
    return json.loads(text, object_pairs_hook=_object)


def _decode(text: str, where: str) -> Any:
    try:
        return decode_json(text)
    except json.JSONDecodeError as error:
        raise InputError(
            [f"{where}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"]
        ) from None
