"""Which environment variables the spec's `env` may not set, by family.

A pinned image fixes what code an agent runs and where its credentials go only as long as the
environment does not change either: the cloud SDKs read their endpoints and credential sources from
it, HTTP clients their proxies, TLS libraries whom to trust, the dynamic loader, interpreters,
shells, git and package managers what code to load. No list can name every variable every program
reads, so these are families (prefixes, suffixes, a few names), matched on the upper-cased name,
and `diff` marks every change to an agent's environment SECURITY for a reviewer to read
(views/reach.py).
"""

from dataclasses import dataclass

# Set by the Deployment itself.
RESERVED_ENV = frozenset(
    {
        "HOME",
        "USER",
        "NUKETOWN_AGENT",
        "NUKETOWN_ROLE",
        "GIT_AUTHOR_NAME",
        "GIT_AUTHOR_EMAIL",
        "GIT_COMMITTER_NAME",
        "GIT_COMMITTER_EMAIL",
    }
)


@dataclass(frozen=True)
class Family:
    """Variables that do one kind of harm, and the words that say which."""

    harm: str  # completes "'<NAME>' ..."
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    names: frozenset[str] = frozenset()

    def has(self, name: str) -> bool:
        upper = name.upper()
        return upper in self.names or upper.startswith(self.prefixes) or upper.endswith(self.suffixes)


REFUSED_ENV: tuple[Family, ...] = (
    Family(
        # The SDKs' credential chains, endpoints (AWS_ENDPOINT_URL_STS receives the pod's web identity token),
        # regions and config files; Azure's managed identity endpoints.
        "would redirect the pod's cloud credentials; its identity comes from nix",
        prefixes=("AWS_", "AMAZON_", "BOTO_", "GOOGLE_", "GCE_", "GCLOUD_", "CLOUDSDK_", "AZURE_", "MSI_"),
        names=frozenset({"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT", "IMDS_ENDPOINT"}),
    ),
    Family(
        # urllib reads any *_proxy in any case; curl, Go and gRPC their own spellings.
        "would send the agent's traffic through another host (a proxy variable)",
        suffixes=("_PROXY",),
        names=frozenset({"GONOPROXY", "SOCKS_SERVER", "SOCKS5_SERVER"}),
    ),
    Family(
        "changes what the dynamic loader loads into the agent's processes",
        prefixes=("LD_", "DYLD_"),
        names=frozenset({"GCONV_PATH", "GLIBC_TUNABLES"}),
    ),
    Family(
        # OpenSSL's configuration names the provider and engine modules (shared objects) it loads and its
        # TLS settings; a CA bundle decides whom the agent's HTTPS trusts, so a proxy or a redirected name
        # could read it.
        "changes what TLS trusts or which modules OpenSSL loads",
        prefixes=("OPENSSL_", "SSL_CERT_"),
        suffixes=("_CA_BUNDLE", "_CA_CERTS"),
        names=frozenset({"GRPC_DEFAULT_SSL_ROOTS_FILE_PATH", "DENO_CERT"}),
    ),
    Family(
        "changes which programs run (the command search path)",
        names=frozenset({"PATH"}),
    ),
    Family(
        # Options and module paths of interpreters and runtimes: NODE_OPTIONS=--require, PERL5OPT=-M,
        # JAVA_TOOL_OPTIONS=-javaagent, PYTHONPATH, RUBYOPT, ... and any *_OPTS/*_OPTIONS/*_FLAGS a tool reads.
        "makes an interpreter or tool load code the image does not hold (an option or module path)",
        prefixes=(
            "PYTHON",
            "PERL",
            "RUBY",
            "JAVA_",
            "_JAVA_",
            "JDK_JAVA_",
            "DOTNET_",
            "CORECLR_",
            "COMPLUS_",
            "ERL_",
            "LUA_",
            "JULIA_",
            "NODE_PATH",
            "NODE_REPL_",
            "R_PROFILE",
            "R_ENVIRON",
            "R_LIBS",
        ),
        suffixes=("OPT", "OPTS", "OPTIONS", "FLAGS"),
        names=frozenset({"CLASSPATH", "TCLLIBPATH", "PHPRC", "PHP_INI_SCAN_DIR", "RUSTC_WRAPPER", "RUSTC"}),
    ),
    Family(
        "makes a shell run code when it starts or prompts",
        prefixes=("BASH_FUNC_",),
        names=frozenset({"BASH_ENV", "ENV", "PROMPT_COMMAND", "PS4", "SHELLOPTS", "BASHOPTS", "ZDOTDIR"}),
    ),
    Family(
        # GIT_SSH_COMMAND, GIT_ASKPASS, GIT_EXEC_PATH, GIT_CONFIG_COUNT/KEY_n/VALUE_n (core.fsmonitor, hooks)...
        "changes what git runs or trusts; git's configuration comes from nix",
        prefixes=("GIT_",),
        names=frozenset({"SSH_ASKPASS", "SUDO_ASKPASS"}),
    ),
    Family(
        # NIX_CONFIG: plugin-files (shared objects nix loads), substituters and their keys; NIX_PATH: nix code.
        "changes what nix loads or fetches; nix's configuration comes from the image",
        prefixes=("NIX_",),
    ),
    Family(
        "changes where packages come from (code the image does not hold)",
        prefixes=("PIP_", "UV_", "NPM_CONFIG_", "YARN_", "PNPM_", "CARGO_", "RUSTUP_", "POETRY_", "GEM_", "BUNDLE_"),
        names=frozenset({"GOPROXY", "GOSUMDB", "GONOSUMDB", "GONOSUMCHECK", "GOINSECURE", "GOPRIVATE", "GOTOOLCHAIN"}),
    ),
)


def env_problem(name: str) -> str | None:
    """Why the spec may not set `name`, or None."""
    if name in RESERVED_ENV:
        return f"{name!r} is set by nuketown itself ({', '.join(sorted(RESERVED_ENV))})"
    for family in REFUSED_ENV:
        if family.has(name):
            return f"{name!r} {family.harm}"
    return None
