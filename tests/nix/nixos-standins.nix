# Stand-ins for what a NixOS configuration of nuketown is evaluated with, for
# `lib.evalModules` with nixpkgs `lib` alone (no nixpkgs, no NixOS):
#   nixos         the NixOS options the upstream stand-in and the examples set,
#                 and a stand-in `pkgs`
#   homeManager, impermanence, sops
#                 the options those projects' NixOS modules declare that
#                 upstream nuketown sets (home-manager.users,
#                 environment.persistence, sops.secrets)
#   nixosSystem   nixpkgs' lib.nixosSystem for a flake's outputs: evalModules
#                 over its modules and `nixos`
# Option types are loose (the values are not what is tested); which options
# exist is what matters: a configuration without home-manager fails here with
# "The option `home-manager' does not exist", as on NixOS.
{ lib, pkgs ? import ./pkgs-standin.nix { } }:
let
  t = lib.types;
  anything = lib.mkOption { type = t.attrsOf t.anything; default = { }; };
in
rec {
  nixos = {
    options = {
      assertions = lib.mkOption { type = t.listOf t.unspecified; default = [ ]; };
      warnings = lib.mkOption { type = t.listOf t.str; default = [ ]; };
      system.stateVersion = lib.mkOption { type = t.str; default = "25.11"; };
      boot.isContainer = lib.mkOption { type = t.bool; default = false; };
      networking.hostName = lib.mkOption { type = t.str; default = "nixos"; };
      users.users = anything;
      users.groups = anything;
      environment.systemPackages = lib.mkOption { type = t.listOf t.package; default = [ ]; };
      nixpkgs.overlays = lib.mkOption { type = t.listOf t.unspecified; default = [ ]; };
    };
    config._module.args.pkgs = lib.mkDefault pkgs;
  };

  homeManager = {
    options.home-manager = {
      users = lib.mkOption { type = t.attrsOf t.anything; default = { }; };
      useGlobalPkgs = lib.mkOption { type = t.bool; default = false; };
      useUserPackages = lib.mkOption { type = t.bool; default = false; };
    };
  };

  impermanence = {
    options.environment.persistence = anything;
  };

  sops = {
    options.sops.secrets = anything;
  };

  nixosSystem =
    {
      modules,
      system ? null,
      specialArgs ? { },
      ...
    }:
    lib.evalModules {
      inherit specialArgs;
      modules = modules ++ [ nixos ];
    };
}
