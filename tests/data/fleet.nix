# A fleet exercising every shape the plan handles: GPU, spot, egress lists and
# none, a 50-character agent name (its namespace is exactly 63 characters in
# stack dev), dotted persist paths, custom env, an existing GCP identity.
(import ../../nix/spec.nix).spec {
  enable = true;
  domain = "fleet.example";
  agents = {
    ada = {
      enable = true;
      uid = 1100;
      role = "software";
      persist = [ "projects" ".config/claude" ".local/share/nvim" ];
      cloud.env = { EDITOR = "nvim"; TZ = "Europe/Berlin"; };
      cloud.buckets = [ "data" ];
    };
    vox = {
      enable = true;
      uid = 1101;
      role = "research";
      persist = [ "projects" "datasets" ];
      cloud = {
        resources = "gpu";
        spot = true;
        network.egress = [
          { cidr = "0.0.0.0/0"; except = [ "10.0.0.0/8" ]; ports = [ 443 80 ]; }
          { cidr = "2001:db8::/32"; }
        ];
      };
    };
    rio = {
      enable = true;
      uid = 1102;
      role = "ops";
      persist = [ ];
      cloud = {
        resources = "small";
        network.egress = "none";
        identity.gcpServiceAccount = "rio-agent@fleet-project.iam.gserviceaccount.com";
        # A bucket granted to the given account: the pack must see it is the allow-listed identity's.
        buckets = [ "runbooks" ];
      };
    };
    a-very-long-agent-name-that-fills-a-namespace-abc = {
      enable = true;
      uid = 1103;
      persist = [ "work.in.progress/notes_2024" ];
      cloud.scaling.maxResources = "large";
    };
    off = {
      enable = true;
      uid = 1104;
      cloud.enable = false;
    };
  };
  cloud = {
    enable = true;
    scaling.idleTimeout = 900;
    storage.sizes = { datasets = "100Gi"; ".config/claude" = "1Gi"; };
    image = "registry.example/nuketown/@agent@:2026.11";
  };
}
