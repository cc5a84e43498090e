# Evaluates nix/module.nix with nixpkgs lib and the upstream stand-in.
# Usage: nix-instantiate --eval --strict --json tests/nix/eval-module.nix \
#          --arg lib 'import <nixpkgs-lib>' --arg configuration ./some-module.nix [--arg attr '"assertions"']
{ lib, configuration, attr ? "spec" }:
let
  evaluated = lib.evalModules {
    modules = [ ./upstream-standin.nix ../../nix/module.nix configuration ];
  };
  failed = map (a: a.message) (builtins.filter (a: !a.assertion) evaluated.config.assertions);
in
if attr == "spec" then evaluated.config.nuketown.cloud.spec
else if attr == "failedAssertions" then failed
else if attr == "options" then
  builtins.attrNames evaluated.options.nuketown.cloud
else throw "unknown attr ${attr}"
