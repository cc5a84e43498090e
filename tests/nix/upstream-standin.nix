# Stand-in for the upstream nuketown module (github.com/joshperry/nuketown):
# only the base options nix/module.nix reads, with upstream's types and
# defaults, plus NixOS's `assertions`, so the cloud module can be evaluated
# with nixpkgs `lib` alone (no NixOS, no pkgs).
{ config, lib, ... }:
let t = lib.types; in
{
  options.assertions = lib.mkOption {
    type = t.listOf t.unspecified;
    default = [ ];
    internal = true;
  };
  options.nuketown = {
    enable = lib.mkEnableOption "nuketown";
    domain = lib.mkOption { type = t.str; default = "localhost.local"; };
    agentsDir = lib.mkOption { type = t.str; default = "/agents"; };
    agents = lib.mkOption {
      default = { };
      type = t.attrsOf (t.submodule ({ name, ... }: {
        options = {
          enable = lib.mkEnableOption "this agent";
          uid = lib.mkOption { type = t.int; };
          role = lib.mkOption { type = t.str; default = "general"; };
          description = lib.mkOption { type = t.str; default = ""; };
          git.name = lib.mkOption { type = t.str; default = name; };
          git.email = lib.mkOption { type = t.str; default = "${name}@${config.nuketown.domain}"; };
          persist = lib.mkOption { type = t.listOf t.str; default = [ "projects" ]; };
        };
      }));
    };
  };
}
