# Nuketown Cloud: cloud options on top of the upstream nuketown module.
#
# Reads (never redeclares) what upstream owns: nuketown.{enable, domain,
# agentsDir, basePackages} and nuketown.agents.<n>.{enable, uid, role,
# description, git, persist, packages}. Adds nuketown.cloud.* and
# nuketown.agents.<n>.cloud.*, and the read-only nuketown.cloud.spec that the
# Pulumi program consumes.
{ config, lib, pkgs, ... }:
let
  cfg = config.nuketown.cloud;
  specLib = import ./spec.nix;
  defaults = specLib.defaults;
  t = lib.types;

  quantity = t.strMatching specLib.grammar.quantity.pattern // {
    description = specLib.grammar.quantity.description;
  };

  # An image is a reference string, or a derivation or store path built by nix
  # (the spec then names it nix:0/nix/store/...).
  imageType = t.either t.str t.pathInStore;

  # With nuketown.cloud.nixSnapshotter.enable: each agent's image, built from
  # its packages by nix-snapshotter (nixpkgs' pkgs.nix-snapshotter, or the
  # nix-snapshotter flake's overlay).
  nixSnapshotterImage =
    name:
    let
      agent = config.nuketown.agents.${name};
      home = "${config.nuketown.agentsDir}/${name}";
      daemon = agent.daemon or { enable = false; };
    in
    if !(pkgs ? nix-snapshotter && pkgs.nix-snapshotter ? buildImage) then
      throw "nuketown.cloud.nixSnapshotter.enable: pkgs.nix-snapshotter.buildImage is missing; use a nixpkgs that has nix-snapshotter, or add the nix-snapshotter flake's overlay"
    else
      pkgs.nix-snapshotter.buildImage {
        name = "nuketown-${name}";
        resolvedByNix = true;
        copyToRoot =
          (config.nuketown.basePackages or [ ])
          ++ (agent.packages or [ ])
          ++ lib.optional daemon.enable daemon.package;
        config = {
          Env = [ "PATH=/bin" ];
          WorkingDir = home;
        }
        // lib.optionalAttrs daemon.enable { Entrypoint = [ "/bin/nuketown-daemon" ]; };
      };

  tolerationType = t.submodule {
    options = {
      key = lib.mkOption { type = t.nullOr t.str; default = null; description = "Taint key the toleration matches."; };
      operator = lib.mkOption { type = t.enum [ "Exists" "Equal" ]; default = "Equal"; description = "How key and value are matched."; };
      value = lib.mkOption { type = t.nullOr t.str; default = null; description = "Taint value (with operator Equal)."; };
      effect = lib.mkOption { type = t.nullOr (t.enum [ "NoSchedule" "PreferNoSchedule" "NoExecute" ]); default = null; description = "Taint effect matched; null matches all."; };
      tolerationSeconds = lib.mkOption { type = t.nullOr t.ints.unsigned; default = null; example = 300; description = "With effect NoExecute: seconds the pod stays bound after the taint appears; null forever."; };
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

  rightSizingType = t.enum [ "Off" "Initial" "Recreate" "InPlaceOrRecreate" ];
  rightSizingText = "How the Vertical Pod Autoscaler resizes the agent between minResources and maxResources: Off only records its recommendation, Initial applies it when a pod starts, Recreate evicts a running pod to apply it, InPlaceOrRecreate resizes in place; null creates no autoscaler.";

  pullPolicyType = t.enum [ "Always" "IfNotPresent" "Never" ];
  pullPolicyText = "Kubernetes imagePullPolicy of the agent's container; null leaves Kubernetes' default (Always for :latest and untagged references), except for nix-snapshotter references.";

  authenticationRefType = t.submodule {
    options = {
      name = lib.mkOption { type = t.str; example = "redis-auth"; description = "Name of the KEDA TriggerAuthentication (in the agent's namespace) or ClusterTriggerAuthentication."; };
      kind = lib.mkOption { type = t.enum [ "TriggerAuthentication" "ClusterTriggerAuthentication" ]; default = "TriggerAuthentication"; description = "Kind of the authentication object."; };
    };
  };

  wakeTriggerType = t.submodule {
    options = {
      type = lib.mkOption { type = t.str; example = "redis"; description = "KEDA scaler type (redis, cron, rabbitmq, ...)."; };
      metadata = lib.mkOption {
        type = t.attrsOf t.str;
        default = { };
        example = { listName = "nuketown:ada:inbox"; listLength = "1"; };
        description = "The scaler's metadata, as KEDA documents it for that type.";
      };
      name = lib.mkOption { type = t.nullOr t.str; default = null; description = "Name of the trigger (KEDA scaling modifiers refer to it); null leaves it unnamed."; };
      authenticationRef = lib.mkOption {
        type = t.nullOr authenticationRefType;
        default = null;
        description = "Credentials of the scaler; null when it needs none.";
      };
    };
  };
  wakeExample = name: [ { type = "redis"; metadata = { address = "redis.nuketown:6379"; listName = "nuketown:${name}:inbox"; listLength = "1"; }; } ];
  wakeText = "KEDA triggers that bring an idled agent back: a message in its inbox queue, a cron window; empty for none.";

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
          example = "large";
          description = "Largest tier the agent may be scaled to; null means its resources tier.";
        };
        minResources = lib.mkOption {
          type = t.nullOr tierName;
          default = cfg.scaling.minResources;
          defaultText = lib.literalExpression "config.nuketown.cloud.scaling.minResources";
          example = "small";
          description = "Smallest tier right-sizing may shrink the agent to; null means each resource's smallest tier value.";
        };
        idleTimeout = lib.mkOption {
          type = t.nullOr t.ints.unsigned;
          default = cfg.scaling.idleTimeout;
          defaultText = lib.literalExpression "config.nuketown.cloud.scaling.idleTimeout";
          example = 3600;
          description = "Seconds of idleness before the agent is scaled down; null never.";
        };
        rightSizing = lib.mkOption {
          type = t.nullOr rightSizingType;
          default = cfg.scaling.rightSizing;
          defaultText = lib.literalExpression "config.nuketown.cloud.scaling.rightSizing";
          example = "Initial";
          description = rightSizingText;
        };
        wake = lib.mkOption {
          type = t.listOf wakeTriggerType;
          default = specLib.forAgent cfg.scaling.wake name;
          defaultText = lib.literalMD "`nuketown.cloud.scaling.wake` (called with the agent's name when it is a function)";
          example = wakeExample "ada";
          description = wakeText;
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
          default = defaults.scope name;
          defaultText = lib.literalExpression ''"''${name}-*"'';
          description = "Prefix of the cloud resource names the agent owns (buckets, keys).";
        };
      };
      image = lib.mkOption {
        type = imageType;
        default = specLib.imageFor cfg.image name;
        defaultText = lib.literalMD "derived from `nuketown.cloud.image`";
        example = lib.literalExpression "pkgs.nix-snapshotter.buildImage { name = \"ada\"; resolvedByNix = true; copyToRoot = [ pkgs.git ]; }";
        description = "The agent's image: an OCI reference (`ghcr.io/me/ada:v1`), or a derivation or store path built by nix, which the spec names `nix:0/nix/store/...tar` for nix-snapshotter.";
      };
      imagePullPolicy = lib.mkOption {
        type = t.nullOr pullPolicyType;
        default = cfg.imagePullPolicy;
        defaultText = lib.literalExpression "config.nuketown.cloud.imagePullPolicy";
        example = "IfNotPresent";
        description = pullPolicyText;
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
      buckets = lib.mkOption {
        type = t.listOf (t.strMatching "[a-z0-9]+(-[a-z0-9]+)*");
        default = [ ];
        example = [ "data" ];
        description = "Object storage buckets (GCS or S3) the stack creates for the agent, by short name; the stack derives each bucket's full name, and the agent's storage grants reach exactly these buckets. Kept, with their objects, when the agent is removed.";
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
      minResources = lib.mkOption {
        type = t.nullOr tierName;
        default = null;
        example = "small";
        description = "Default smallest tier right-sizing may shrink an agent to; null means each resource's smallest tier value.";
      };
      idleTimeout = lib.mkOption {
        type = t.nullOr t.ints.unsigned;
        default = null;
        example = 3600;
        description = "Default seconds of idleness before scale-down; null never.";
      };
      rightSizing = lib.mkOption {
        type = t.nullOr rightSizingType;
        default = null;
        example = "Initial";
        description = "Default for every agent. " + rightSizingText;
      };
      wake = lib.mkOption {
        type = t.either (t.listOf wakeTriggerType) (t.functionTo (t.listOf wakeTriggerType));
        default = [ ];
        example = lib.literalExpression ''
          name: [ { type = "redis"; metadata = { address = "redis.nuketown:6379"; listName = "nuketown:''${name}:inbox"; listLength = "1"; }; } ]'';
        description = "Default for every agent, as a list or a function of the agent's name returning one. " + wakeText;
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
      type = t.oneOf [ t.str t.pathInStore (t.functionTo imageType) ];
      default = if cfg.nixSnapshotter.enable then nixSnapshotterImage else defaults.image;
      defaultText = lib.literalMD ''`"${defaults.image}"`; with `nuketown.cloud.nixSnapshotter.enable`, each agent's packages built into a nix-snapshotter image'';
      example = lib.literalExpression ''name: "ghcr.io/me/nuketown-''${name}:latest"'';
      description = "How an agent's image is chosen: a template where @agent@ is the agent's name, a derivation or store path built by nix (referenced as `nix:0/nix/store/...`), or a function of the name returning either.";
    };
    imagePullPolicy = lib.mkOption {
      type = t.nullOr pullPolicyType;
      default = null;
      example = "IfNotPresent";
      description = "Default for every agent. " + pullPolicyText;
    };
    nixSnapshotter.enable = lib.mkEnableOption ''
      images built by nix: each agent's image holds nuketown.basePackages and
      its packages (and runs upstream's daemon when the agent enables it),
      built with pkgs.nix-snapshotter.buildImage and referenced as
      nix:0/nix/store/...tar. The cluster's nodes must run nix-snapshotter and
      substitute the image from a binary cache'';
    spec = lib.mkOption {
      type = t.attrs;
      readOnly = true;
      description = "The schemaVersion 1 spec the Pulumi program reads (`nix eval --json .#...config.nuketown.cloud.spec`).";
    };
  };

  config = {
    nuketown.cloud.tiers = lib.mapAttrs (_: lib.mapAttrs (_: lib.mkDefault)) defaults.tiers;
    # Assertions only fire on a system build; `nix eval` of the spec must fail too.
    nuketown.cloud.spec = specLib.fromOptions config.nuketown;
    assertions = specLib.checks config.nuketown;
  };
}
