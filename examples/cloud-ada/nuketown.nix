# The seed's cloud-ada machine: ada (software) and vox (research, GPU).
# A plain attrset in the shape of `config.nuketown`, so it serves both paths:
#   - NixOS: configuration.nix sets `nuketown = import ./nuketown.nix;`
#   - no nixpkgs: ../cloud-ada.nix passes it to the builtins-only spec function.
{
  enable = true;
  domain = "nuketown.cloud";

  agents.ada = {
    enable = true;
    uid = 1100;
    role = "software";
    description = "Software collaborator. Thinks before acting.";
    git.name = "Ada";
    persist = [ "projects" ".config/claude" ];
  };

  agents.vox = {
    enable = true;
    uid = 1101;
    role = "research";
    description = "Research agent. Reads papers, runs experiments.";
    git.name = "Vox";
    persist = [ "projects" "datasets" ];
    cloud = {
      resources = "gpu";
      scaling = {
        maxResources = "gpu";
        idleTimeout = 1800;
      };
      spot = true;
      network.egress = [
        { cidr = "0.0.0.0/0"; except = [ "10.0.0.0/8" "172.16.0.0/12" "192.168.0.0/16" ]; ports = [ 443 ]; }
      ];
    };
  };

  cloud = {
    enable = true;
    resources = "standard";
    scaling = {
      maxResources = "large";
      idleTimeout = 3600;
    };
    storage.sizes = {
      ".config/claude" = "1Gi";
      datasets = "50Gi";
    };
  };
}
