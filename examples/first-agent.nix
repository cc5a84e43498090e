# A first agent, evaluated with nix alone (no nixpkgs): copy it, then edit.
# `../nix/spec.nix` is this repository's spec function; point it there from your copy.
(import ../nix/spec.nix).spec {
  enable = true;
  domain = "example.org";
  cloud.enable = true;
  agents.ada = {
    enable = true;
    uid = 1100;
    git.name = "Ada";
    persist = [ "projects" ];
  };
}
