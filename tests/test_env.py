"""The spec's `env`: the variable families that move credentials or load code are refused.

Each family is shown to matter with the real program that reads it (botocore sending the pod's web
identity token to the address AWS_ENDPOINT_URL_STS names, urllib's and curl's proxies, node, perl,
python, bash, git), then hypothesis draws other names of the family and every one is refused. Names
outside the families stay allowed; `diff` marks a change to them SECURITY (tests/test_diff.py).
"""

import http.server
import json
import os
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import botocore.session
import pytest
from botocore.configprovider import ConfiguredEndpointProvider
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nuketown_stack import cli
from nuketown_stack.errors import InputError
from nuketown_stack.inputs.env import REFUSED_ENV, env_problem
from nuketown_stack.inputs.spec import load_spec

NAME_TAIL = st.from_regex(r"[A-Za-z0-9_]{0,12}", fullmatch=True)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def refusal(example_json: dict[str, Any], name: str, value: str = "x") -> list[str]:
    """The problems load_spec reports for ada's env {name: value}."""
    spec = json.loads(json.dumps(example_json))
    spec["agents"]["ada"]["env"] = {name: value}
    try:
        load_spec(spec)
    except InputError as error:
        return list(error.problems)
    return []


def mixed_case(draw: Any, text: str) -> str:
    return "".join(c.lower() if draw(st.booleans()) else c for c in text)


# --- cloud SDK configuration: the pod's credentials go where the spec says -----------------------------------


class _Sink(http.server.BaseHTTPRequestHandler):
    """A local HTTP server standing in for wherever a spec would send requests; it records them."""

    received: ClassVar[list[tuple[str, str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.received.append(("POST", self.path, body))
        self.send_response(500)
        self.end_headers()

    def do_CONNECT(self) -> None:
        self.received.append(("CONNECT", self.path, ""))
        self.send_response(502)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    _Sink.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_port}", _Sink.received
    server.shutdown()


def test_aws_endpoint_url_sts_sends_the_pods_token_to_the_spec_and_is_refused(
    sink: tuple[str, list[tuple[str, str, str]]], tmp_path: Path, example_json: dict[str, Any]
) -> None:
    """botocore as an IRSA pod runs it (the EKS webhook sets AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE):
    with AWS_ENDPOINT_URL_STS from the spec, AssumeRoleWithWebIdentity posts the projected token there."""
    address, received = sink
    token = tmp_path / "token"
    token.write_text("the-pods-projected-token")
    environ = {
        "AWS_ROLE_ARN": "arn:aws:iam::111122223333:role/nuketown-dev-ada",
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
        "AWS_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_ENDPOINT_URL_STS": f"http://{address}",
    }
    # The sink answers 500: what it received is what counts.
    with mock.patch.dict(os.environ, environ, clear=True), pytest.raises(botocore.exceptions.ClientError):
        botocore.session.Session().get_credentials().get_frozen_credentials()
    assert [body for _, _, body in received if "WebIdentityToken=the-pods-projected-token" in body]
    assert refusal(example_json, "AWS_ENDPOINT_URL_STS", f"http://{address}") == [
        "agents.ada.cloud.env: 'AWS_ENDPOINT_URL_STS' would redirect the pod's cloud credentials; "
        "its identity comes from nix"
    ]


SERVICES = sorted(botocore.session.get_session().get_available_services())


@SETTINGS
@given(service=st.sampled_from(SERVICES))
def test_every_aws_endpoint_variable_botocore_reads_is_refused(example_json: dict[str, Any], service: str) -> None:
    """AWS_ENDPOINT_URL_<SERVICE>, named as botocore's ConfiguredEndpointProvider names it for each service."""
    provider = ConfiguredEndpointProvider(full_config={}, scoped_config={}, client_name=service, environ={})
    name = provider._get_service_env_var_name()
    assert name.startswith("AWS_ENDPOINT_URL_")
    assert refusal(example_json, name), name


@SETTINGS
@given(data=st.data())
def test_every_gcloud_endpoint_override_is_refused(example_json: dict[str, Any], data: st.DataObject) -> None:
    """gcloud reads its `api_endpoint_overrides/<api>` properties from CLOUDSDK_API_ENDPOINT_OVERRIDES_<API>."""
    api = data.draw(st.from_regex(r"[A-Z][A-Z0-9]{1,20}", fullmatch=True))
    assert refusal(example_json, f"CLOUDSDK_API_ENDPOINT_OVERRIDES_{api}")


# --- proxies: the agent's traffic goes through another host ---------------------------------------------------


@st.composite
def proxy_names(draw: Any) -> str:
    scheme = draw(st.sampled_from(["http", "https", "all", "no", "ftp", "grpc", "socks"]) | NAME_TAIL)
    return mixed_case(draw, f"{scheme}_proxy".upper())


@SETTINGS
@given(name=proxy_names())
def test_every_name_urllib_reads_as_a_proxy_is_refused(example_json: dict[str, Any], name: str) -> None:
    """urllib.request.getproxies_environment reads any variable whose lower-cased name ends in `_proxy`."""
    with mock.patch.dict(os.environ, {name: "http://127.0.0.1:9"}, clear=True):
        read = urllib.request.getproxies_environment()
    if read:
        assert refusal(example_json, name), name


@pytest.mark.parametrize("name", ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"])
def test_curl_sends_https_through_the_proxy_a_spec_names(
    sink: tuple[str, list[tuple[str, str, str]]], example_json: dict[str, Any], name: str
) -> None:
    address, received = sink
    subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "--max-time", "5", "https://sts.amazonaws.com/"],
        env={"PATH": os.environ["PATH"], name: f"http://{address}"},
        check=False,
    )
    assert ("CONNECT", "sts.amazonaws.com:443", "") in received
    assert refusal(example_json, name) == [
        f"agents.ada.cloud.env: {name!r} would send the agent's traffic through another host (a proxy variable)"
    ]


# --- interpreter options, shells and git: code the pinned image does not hold -------------------------------


def _runs(command: list[str], environ: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        command, env={"PATH": os.environ["PATH"], **environ}, cwd=cwd, capture_output=True, text=True, check=False
    )
    return done.stdout + done.stderr


@pytest.mark.parametrize(
    ("program", "variable"),
    [
        (["node", "-e", "0"], lambda d: {"NODE_OPTIONS": f"--require {d / 'loaded.js'}"}),
        (["perl", "-e", "1"], lambda d: {"PERL5OPT": f"-I{d} -Mloaded"}),
        (["python3", "-c", "0"], lambda d: {"PYTHONPATH": str(d)}),
        (["bash", "-c", "true"], lambda d: {"BASH_ENV": str(d / "loaded.sh")}),
        (
            ["git", "loaded"],
            lambda _: {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "alias.loaded",
                "GIT_CONFIG_VALUE_0": "!echo LOADED",
            },
        ),
    ],
    ids=["node", "perl", "python", "bash", "git"],
)
def test_a_variable_makes_the_program_run_code_and_is_refused(
    tmp_path: Path, example_json: dict[str, Any], program: list[str], variable: Any
) -> None:
    (tmp_path / "loaded.js").write_text("console.log('LOADED')\n")
    (tmp_path / "loaded.pm").write_text('package loaded; print "LOADED\\n"; 1;\n')
    (tmp_path / "sitecustomize.py").write_text("print('LOADED')\n")
    (tmp_path / "loaded.sh").write_text("echo LOADED\n")
    environ = variable(tmp_path)
    assert "LOADED" in _runs(program, environ, tmp_path)
    assert "LOADED" not in _runs(program, {}, tmp_path)
    for name in environ:
        assert refusal(example_json, name), name


# --- TLS: whom the agent's HTTPS trusts, and what OpenSSL loads ------------------------------------------------


def test_a_ca_bundle_the_spec_names_is_trusted_and_is_refused(tmp_path: Path, example_json: dict[str, Any]) -> None:
    """Python's ssl (OpenSSL's default verify paths) trusts the certificate SSL_CERT_FILE names."""
    ca = tmp_path / "ca.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=spec-named-ca"),
            *("-keyout", str(tmp_path / "key.pem"), "-out", str(ca)),
        ],
        check=True,
        capture_output=True,
    )
    trusted = "import ssl; print(ssl.create_default_context().get_ca_certs())"
    assert "spec-named-ca" in _runs(["python3", "-c", trusted], {"SSL_CERT_FILE": str(ca)}, tmp_path)
    assert "spec-named-ca" not in _runs(["python3", "-c", trusted], {}, tmp_path)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"):
        assert refusal(example_json, name), name


def test_openssl_loads_the_modules_its_configuration_names_and_is_refused(
    tmp_path: Path, example_json: dict[str, Any]
) -> None:
    """With OPENSSL_CONF, the configuration decides which provider modules OpenSSL loads: here one that
    does not exist replaces the default provider."""
    conf = tmp_path / "openssl.cnf"
    conf.write_text(
        "openssl_conf = init\n[init]\nproviders = providers\n[providers]\nspec = spec\n"
        f"[spec]\nmodule = {tmp_path / 'spec-provider.so'}\nactivate = 1\n"
    )
    providers = ["openssl", "list", "-providers"]
    assert "default" in _runs(providers, {"OPENSSL_CONF": os.devnull}, tmp_path)
    assert "default" not in _runs(providers, {"OPENSSL_CONF": str(conf)}, tmp_path)
    for name in ("OPENSSL_CONF", "OPENSSL_MODULES", "OPENSSL_ENGINES"):
        assert refusal(example_json, name), name


@st.composite
def family_names(draw: Any) -> tuple[str, str]:
    """A name of some family, in any case: a prefix with a tail, a tail with a suffix, or one of its names."""
    family = draw(st.sampled_from(REFUSED_ENV))
    forms = []
    if family.prefixes:
        forms.append(st.builds(str.__add__, st.sampled_from(family.prefixes), NAME_TAIL))
    if family.suffixes:
        forms.append(st.builds(str.__add__, NAME_TAIL.map(lambda t: "X" + t), st.sampled_from(family.suffixes)))
    if family.names:
        forms.append(st.sampled_from(sorted(family.names)))
    return mixed_case(draw, draw(st.one_of(forms))), family.harm


@SETTINGS
@given(drawn=family_names())
def test_every_name_of_every_family_is_refused_with_its_harm(
    example_json: dict[str, Any], drawn: tuple[str, str]
) -> None:
    name, _ = drawn
    [problem] = refusal(example_json, name)
    assert problem.startswith(f"agents.ada.cloud.env: {name!r} ")
    assert problem == f"agents.ada.cloud.env: {env_problem(name)}"


@pytest.mark.parametrize("name", ["TZ", "LANG", "EDITOR", "NODE_ENV", "ANTHROPIC_MODEL", "LOG_LEVEL", "TERM"])
def test_other_names_stay_allowed(example_json: dict[str, Any], name: str) -> None:
    assert refusal(example_json, name) == []


def test_each_refused_name_is_its_own_line_through_the_cli(
    tmp_path: Path, example_json: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = json.loads(json.dumps(example_json))
    spec["agents"]["ada"]["env"] = {"NODE_OPTIONS": "--require x", "https_proxy": "http://h", "TZ": "UTC"}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert cli.main(["validate", str(tmp_path / "spec.json"), "--stack-file", str(ROOT / "Pulumi.dev.yaml")]) == 2
    assert capsys.readouterr().err.splitlines()[1:] == [
        "agents.ada.cloud.env: 'NODE_OPTIONS' makes an interpreter or tool load code the image does not hold "
        "(an option or module path)",
        "agents.ada.cloud.env: 'https_proxy' would send the agent's traffic through another host (a proxy variable)",
    ]
