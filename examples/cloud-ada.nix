# The cloud-ada example through the builtins-only spec function: evaluates on
# any machine with nix, no nixpkgs needed.
#   nix-instantiate --eval --strict --json examples/cloud-ada.nix
(import ../nix/spec.nix).spec (import ./cloud-ada/nuketown.nix)
