# Defaults shared by the NixOS module and the builtins-only spec function,
# so a plain `nix-instantiate` and a full NixOS evaluation agree.
{
  resources = "standard";
  storageDefaultSize = "10Gi";
  # Local image name; CI pushing to a registry sets nuketown.cloud.image.
  image = "nuketown-@agent@:latest";
  egress = "all";
  # The prefix of cloud resource names an agent owns.
  scope = name: "${name}-*";
  tiers = {
    small = {
      cpu = "1";
      memory = "2Gi";
      extendedResources = { };
      nodeSelector = { "nuketown.io/tier" = "small"; };
      tolerations = [ ];
    };
    standard = {
      cpu = "2";
      memory = "4Gi";
      extendedResources = { };
      nodeSelector = { "nuketown.io/tier" = "standard"; };
      tolerations = [ ];
    };
    large = {
      cpu = "4";
      memory = "8Gi";
      extendedResources = { };
      nodeSelector = { "nuketown.io/tier" = "large"; };
      tolerations = [ ];
    };
    gpu = {
      cpu = "4";
      memory = "16Gi";
      extendedResources = { "nvidia.com/gpu" = "1"; };
      nodeSelector = { "nuketown.io/tier" = "gpu"; };
      tolerations = [
        { key = "nvidia.com/gpu"; operator = "Exists"; effect = "NoSchedule"; }
      ];
    };
  };
}
