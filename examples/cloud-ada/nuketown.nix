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
    # A bucket of its own for build artifacts: the stack creates it, and ada's grants reach it alone.
    cloud.buckets = [ "artifacts" ];
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
        # The Vertical Pod Autoscaler sizes vox between standard and gpu from what it uses, applied when
        # its pod starts (never by evicting it mid-experiment); the GPU itself is left alone.
        rightSizing = "Initial";
        minResources = "standard";
      };
      spot = true;
      buckets = [ "papers" ];
      network.egress = [
        { cidr = "0.0.0.0/0"; except = [ "10.0.0.0/8" "172.16.0.0/12" "192.168.0.0/16" ]; ports = [ 443 ]; }
        # Its work queue (the Redis the wake triggers watch), inside the cluster.
        { cidr = "10.0.0.0/8"; ports = [ 6379 ]; }
      ];
    };
  };

  cloud = {
    enable = true;
    resources = "standard";
    scaling = {
      maxResources = "large";
      # After an hour with nothing in its queue an agent scales to zero (KEDA); a message wakes it.
      idleTimeout = 3600;
      wake = name: [
        {
          type = "redis";
          name = "inbox";
          metadata = {
            address = "redis.nuketown-system.svc.cluster.local:6379";
            listName = "nuketown:${name}:inbox";
            listLength = "1";
          };
        }
        {
          # Work taken from the inbox stays here until done, so a busy agent is never idled.
          type = "redis";
          name = "working";
          metadata = {
            address = "redis.nuketown-system.svc.cluster.local:6379";
            listName = "nuketown:${name}:working";
            listLength = "1";
          };
        }
      ];
    };
    storage.sizes = {
      ".config/claude" = "1Gi";
      datasets = "50Gi";
    };
  };
}
