# NixOS configuration of the cloud-ada machine, for users with nixpkgs and the
# upstream nuketown module (see ./flake.nix). The spec the Pulumi program reads:
#   nix eval --json ./examples/cloud-ada#nixosConfigurations.cloud-ada.config.nuketown.cloud.spec
# Agents with upstream's portal or claudeCode also need upstream's
# `pkgs.unstable` overlay (see upstream's flake.nix).
{ ... }:
{
  imports = [ ../../nix/module.nix ];
  nuketown = import ./nuketown.nix;
}
