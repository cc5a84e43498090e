# Nuketown Cloud: cloud options on top of the upstream nuketown module.
#
# Reads (never redeclares) what upstream owns: nuketown.{enable, domain,
# agentsDir} and nuketown.agents.<n>.{enable, uid, role, description, git,
# persist}. Adds nuketown.cloud.* and nuketown.agents.<n>.cloud.*, and the
# read-only nuketown.cloud.spec that the Pulumi program consumes.
{ config, lib, ... }:
let
  cfg = config.nuketown.cloud;
  specLib = import ./spec.nix;
  defaults = specLib.defaults;
  t = lib.types;

  quantity = t.strMatching specLib.grammar.quantity.pattern // {
    description = specLib.grammar.quantity.description;
  };

  tolerationType = t.submodule {
    options = {
      key = lib.mkOption { type = t.nullOr t.str; default = null; description = "Taint key the toleration matches."; };
      operator = lib.mkOption { type = t.enum [ "Exists" "Equal" ]; default = "Equal"; description = "How key and value are matched."; };
      value = lib.mkOption { type = t.nullOr t.str; default = null; description = "Taint value (with operator Equal)."; };
      effect = lib.mkOption { type = t.nullOr (t.enum [ "NoSchedule" "PreferNoSchedule" "NoExecute" ]); default = null; description = "Taint effect matched; null matches all."; };
    };
  };

  tierType = t.submodule {
    options = {
      cpu = lib.mkOption { type = quantity; example = "2"; description = "CPU request and limit (Kubernetes quantity)."; };
      memory = lib.mkOption { type = quantity; example = "4Gi"; description = "Memory request and limit (Kubernetes quantity)."; };
      extendedResources = lib.mkOption {
        type = t.attrsOf quantity;
        default = { };
        example = { "nvidia.com/gpu" = "1"; };
        description = "Extended resources (GPUs) requested and limited.";
      };
      nodeSelector = lib.mkOption {
        type = t.attrsOf t.str;
        default = { };
        example = { "nuketown.io/tier" = "large"; };
        description = "Node labels the tier's pods are placed on.";
      };
      tolerations = lib.mkOption {
        type = t.listOf tolerationType;
        default = [ ];
        description = "Taints the tier's pods tolerate (GPU pools are usually tainted).";
      };
    };
  };

  tierName = t.str; # checked against nuketown.cloud.tiers by an assertion, with the list of tiers

  egressRuleType = t.submodule {
    options = {
      cidr = lib.mkOption { type = t.str; example = "0.0.0.0/0"; description = "Destination network."; };
      except = lib.mkOption { type = t.listOf t.str; default = [ ]; example = [ "10.0.0.0/8" ]; description = "Networks inside cidr that stay blocked."; };
      ports = lib.mkOption { type = t.listOf t.port; default = [ ]; example = [ 443 ]; description = "TCP ports allowed; empty allows every port."; };
    };
  };

  agentCloudModule = { name, ... }: {
    options.cloud = {
      enable = lib.mkOption {
        type = t.bool;
        default = cfg.enable;
        defaultText = lib.literalExpression "config.nuketown.cloud.enable";
        description = "Run this agent in the cluster.";
      };
      resources = lib.mkOption {
        type = tierName;
        default = cfg.resources;
        defaultText = lib.literalExpression "config.nuketown.cloud.resources";
        example = "large";
        description = "Tier the agent runs at (a name in nuketown.cloud.tiers).";
      };
      scaling = {
        maxResources = lib.mkOption {
          type = t.nullOr tierName;
          default = cfg.scaling.maxResources;
          defaultText = lib.literalExpression "config.nuketown.cloud.scaling.maxResources";
          description = "Largest tier the agent may be scaled to; null means its resources tier.";
        };
        idleTimeout = lib.mkOption {
          type = t.nullOr t.ints.unsigned;
          default = cfg.scaling.idleTimeout;
          defaultText = lib.literalExpression "config.nuketown.cloud.scaling.idleTimeout";
          description = "Seconds of idleness before the agent is scaled down; null never.";
        };
      };
      identity = {
        gcpServiceAccount = lib.mkOption {
          type = t.nullOr t.str;
          default = null;
          example = "ada-agent@myproject.iam.gserviceaccount.com";
          description = "Existing Google service account to bind instead of creating one.";
        };
        awsRoleArn = lib.mkOption {
          type = t.nullOr t.str;
          default = null;
          example = "arn:aws:iam::123456789012:role/ada-agent";
          description = "Existing IAM role to bind instead of creating one.";
        };
        azureClientId = lib.mkOption {
          type = t.nullOr t.str;
          default = null;
          description = "Azure workload identity client id (AKS).";
        };
        scope = lib.mkOption {
          type = t.str;
          default = "${name}-*";
          defaultText = lib.literalExpression ''"''${name}-*"'';
          description = "Prefix of the cloud resource names the agent owns (buckets, keys).";
        };
      };
      image = lib.mkOption {
        type = t.str;
        default = if builtins.isFunction cfg.image then cfg.image name else builtins.replaceStrings [ "@agent@" ] [ name ] cfg.image;
        defaultText = lib.literalMD "derived from `nuketown.cloud.image`";
        example = "nix:0/nix/store/...-nix-image-nuketown-ada.tar";
        description = "Image reference: a nix-snapshotter `nix:0/nix/store/...tar` or an OCI reference.";
      };
      network.egress = lib.mkOption {
        type = t.either (t.enum [ "all" "none" ]) (t.listOf egressRuleType);
        default = defaults.egress;
        example = [{ cidr = "0.0.0.0/0"; ports = [ 443 ]; }];
        description = "Outbound traffic allowed: all, none, or a list of networks and ports (DNS is then allowed too). Ingress is always closed.";
      };
      spot = lib.mkOption {
        type = t.bool;
        default = false;
        description = "Run on spot/preemptible capacity.";
      };
      env = lib.mkOption {
        type = t.attrsOf t.str;
        default = { };
        example = { NIX_CONFIG = "experimental-features = nix-command flakes"; };
        description = "Extra environment variables of the agent's container.";
      };
    };
  };

in
{
  options.nuketown.agents = lib.mkOption {
    type = t.attrsOf (t.submodule agentCloudModule);
  };

  options.nuketown.cloud = {
    enable = lib.mkEnableOption "running nuketown agents on Kubernetes (every agent unless it opts out)";
    resources = lib.mkOption {
      type = tierName;
      default = defaults.resources;
      description = "Default tier of cloud agents.";
    };
    scaling = {
      maxResources = lib.mkOption {
        type = t.nullOr tierName;
        default = null;
        example = "large";
        description = "Default largest tier an agent may be scaled to; null means its own tier.";
      };
      idleTimeout = lib.mkOption {
        type = t.nullOr t.ints.unsigned;
        default = null;
        example = 3600;
        description = "Default seconds of idleness before scale-down; null never.";
      };
    };
    tiers = lib.mkOption {
      type = t.attrsOf tierType;
      description = "Resource tiers the cluster offers; defaults small, standard, large, gpu can be changed field by field.";
      example = lib.literalExpression ''{ xlarge = { cpu = "8"; memory = "32Gi"; nodeSelector."nuketown.io/tier" = "xlarge"; }; }'';
    };
    storage = {
      defaultSize = lib.mkOption {
        type = quantity;
        default = defaults.storageDefaultSize;
        description = "Size of each persist directory's volume.";
      };
      sizes = lib.mkOption {
        type = t.attrsOf quantity;
        default = { };
        example = { ".config/claude" = "1Gi"; };
        description = "Volume size per persist path, overriding defaultSize.";
      };
    };
    image = lib.mkOption {
      type = t.either t.str (t.functionTo t.str);
      default = defaults.image;
      example = lib.literalExpression ''name: "ghcr.io/me/nuketown-''${name}:latest"'';
      description = "How an agent's image is chosen: a template where @agent@ is the agent's name, or a function of the name.";
    };
    spec = lib.mkOption {
      type = t.attrs;
      readOnly = true;
      description = "The schemaVersion 1 spec the Pulumi program reads (`nix eval --json .#...config.nuketown.cloud.spec`).";
    };
  };

  config = {
    nuketown.cloud.tiers = lib.mapAttrs (_: lib.mapAttrs (_: lib.mkDefault)) defaults.tiers;
    # Assertions only fire on a system build; `nix eval` of the spec must fail too.
    nuketown.cloud.spec = specLib.spec config.nuketown;
    assertions = specLib.checks config.nuketown;
  };
}
