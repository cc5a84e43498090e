# Evaluations of the NixOS side with nixpkgs `lib` and the stand-ins, for
# tests/test_nix.py. One nix-instantiate call can evaluate many of them:
#   let h = import tests/nix/harness.nix { lib = import <lib>; }; in { a = (h.module { ... }).spec; ... }
{ lib, nixSnapshotter ? false }:
let
  pkgs = import ./pkgs-standin.nix { inherit nixSnapshotter; };
  standins = import ./nixos-standins.nix { inherit lib pkgs; };
  # What a NixOS configuration with upstream nuketown and the modules upstream needs has.
  system = [
    standins.nixos
    standins.homeManager
    standins.impermanence
    standins.sops
    ./upstream-standin.nix
  ];
  failedAssertions = config: map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
in
rec {
  inherit pkgs standins system;

  # The cloud module in a stand-in NixOS system with `configuration`.
  evalModule = configuration: lib.evalModules { modules = system ++ [ ../../nix/module.nix configuration ]; };
  module =
    configuration:
    let
      config = (evalModule configuration).config;
    in
    {
      inherit config;
      spec = config.nuketown.cloud.spec;
      failedAssertions = failedAssertions config;
    };

  # A flake's outputs with stand-ins for its inputs: nixpkgs' lib.nixosSystem
  # evaluates its modules with the stand-in NixOS, and nuketown, home-manager,
  # impermanence and sops-nix give their stand-in modules.
  flakeInputs = {
    nixpkgs.lib = lib // { inherit (standins) nixosSystem; };
    nuketown.nixosModules.default = ./upstream-standin.nix;
    home-manager.nixosModules.home-manager = standins.homeManager;
    impermanence.nixosModules.impermanence = standins.impermanence;
    sops-nix.nixosModules.sops = standins.sops;
  };
  flake =
    path:
    let
      f = import path;
      outputs = f.outputs (flakeInputs // { self = outputs; });
    in
    {
      inherit outputs;
      # Inputs the outputs function takes, and those the flake declares.
      takes = builtins.filter (n: n != "self") (builtins.attrNames (builtins.functionArgs f.outputs));
      declares = builtins.attrNames f.inputs;
    };

  # Names of the options declared under `options` (a tree: leaves are true;
  # a submodule, list or attribute set of submodules is its options' tree).
  optionTree =
    options:
    lib.mapAttrs (
      _: o:
      if lib.isOption o then
        let sub = subOptionsOf o.type; in if sub == { } then true else optionTree sub
      else
        optionTree o
    ) (builtins.removeAttrs options [ "_module" ]);
  subOptionsOf =
    type:
    let
      own = builtins.removeAttrs (type.getSubOptions [ ]) [ "_module" ];
      nested = builtins.filter (s: s != { }) (map subOptionsOf (builtins.attrValues (type.nestedTypes or { })));
    in
    if own != { } then own else if nested != [ ] then builtins.head nested else { };
}
