# The spec function: `nuketown` settings -> the schemaVersion 1 spec the
# Pulumi program reads.
#
# builtins only (no nixpkgs lib, no pkgs) so it evaluates with a bare
# `nix-instantiate --eval --strict --json`. Two entry points:
#   spec         a plain, possibly partial attrset in the shape of
#                config.nuketown (examples/cloud-ada.nix). Strict: a name that
#                neither the cloud options nor upstream nuketown has fails
#                with its option path, as the NixOS module system would.
#   fromOptions  config.nuketown of an evaluated NixOS configuration
#                (./module.nix): the module system has checked the names.
# Every default is applied here with `or`, so both give one spec.
let
  defaults = import ./defaults.nix;
  strict = import ./strict.nix;
  upstreamNames = import ./upstream-options.nix;
  # One grammar for nix and Python; the Python package ships it.
  grammar = builtins.fromJSON (builtins.readFile ../nuketown_stack/inputs/grammar.json);

  # Names the spec function accepts (notation of ./upstream-options.nix):
  # upstream nuketown's options, and the cloud options of ./module.nix.
  tolerationNames = {
    key = true;
    operator = true;
    value = true;
    effect = true;
    tolerationSeconds = true;
  };
  tierNames = {
    cpu = true;
    memory = true;
    extendedResources = true;
    nodeSelector = true;
    tolerations = [ tolerationNames ];
  };
  wakeTriggerNames = {
    type = true;
    metadata = true;
    name = true;
    authenticationRef = {
      name = true;
      kind = true;
    };
  };
  scalingNames = {
    maxResources = true;
    minResources = true;
    idleTimeout = true;
    rightSizing = true;
    # At the fleet level also a function of the agent name returning the list.
    wake = [ wakeTriggerNames ];
  };
  agentCloudNames = {
    enable = true;
    resources = true;
    scaling = scalingNames;
    image = true;
    imagePullPolicy = true;
    identity = {
      gcpServiceAccount = true;
      awsRoleArn = true;
      azureClientId = true;
      scope = true;
    };
    network.egress = [
      {
        cidr = true;
        except = true;
        ports = true;
      }
    ];
    spot = true;
    env = true;
    buckets = true;
  };
  cloudNames = {
    enable = true;
    resources = true;
    scaling = scalingNames;
    tiers."<name>" = tierNames;
    storage = {
      defaultSize = true;
      sizes = true;
    };
    image = true;
    imagePullPolicy = true;
    nixSnapshotter.enable = true;
  };
  names = upstreamNames // {
    agents."<name>" = upstreamNames.agents."<name>" // { cloud = agentCloudNames; };
    cloud = cloudNames;
  };

  agentDefaults = {
    enable = false;
    role = "general";
    description = "";
    persist = [ "projects" ];
  };

  # First of the values that is not null (null is "not set" in the options).
  firstSet = builtins.foldl' (found: v: if found == null then v else found) null;

  # A function, or what the module system makes of one (an attrset with __functor).
  isCallable = v: builtins.isFunction v || (builtins.isAttrs v && v ? __functor);

  # A fleet-wide setting given as a value or as a function of the agent name.
  forAgent = setting: name: if isCallable setting then setting name else setting;

  # The image an agent gets from nuketown.cloud.image: a template string
  # (@agent@ is the agent's name), or what a function of the name returns.
  imageFor =
    template: name:
    if builtins.isString template then builtins.replaceStrings [ "@agent@" ] [ name ] template
    else forAgent template name;

  storePrefix = builtins.storeDir + "/";
  inStore = s: builtins.substring 0 (builtins.stringLength storePrefix) s == storePrefix;

  # The reference the Pod spec names. An image built by nix (a derivation or a
  # store path) is the nix-snapshotter reference nix:0/nix/store/...: nodes
  # running nix-snapshotter fetch it from a binary cache. A string not in the
  # store is an OCI reference, unchanged.
  imageRef =
    name: image:
    let
      where = "the image of agent ${name}";
    in
    if builtins.isAttrs image then
      if image ? outPath then "nix:0${image.outPath}"
      else throw "${where} is an attribute set that is not a derivation (no outPath)"
    else if builtins.isPath image then
      if inStore (toString image) then "nix:0${toString image}"
      else throw "${where}, ${toString image}, is a path outside the nix store; give a derivation, a store path or an image reference"
    else if inStore image then
      "nix:0${image}"
    else
      image;

  # A KEDA trigger with the model's defaults filled in, as the module's submodule gives it.
  wakeTrigger =
    trigger:
    let
      withDefaults = {
        metadata = { };
        name = null;
        authenticationRef = null;
      } // trigger;
      ref = withDefaults.authenticationRef;
    in
    withDefaults
    // {
      authenticationRef = if ref == null then null else { kind = "TriggerAuthentication"; } // ref;
    };

  resolve =
    nuketown:
    let
      cloud = nuketown.cloud or { };
      domain = nuketown.domain or "localhost";
      agentsDir = nuketown.agentsDir or "/agents";
      # As in the module: the default tiers, each field replaced where given, and new tiers.
      tiers = builtins.mapAttrs (
        name: tier:
        {
          extendedResources = { };
          nodeSelector = { };
          tolerations = [ ];
        }
        // (defaults.tiers.${name} or { })
        // tier
      ) (defaults.tiers // (cloud.tiers or { }));
      storage = cloud.storage or { };
      sizes = storage.sizes or { };
      defaultSize = storage.defaultSize or defaults.storageDefaultSize;
      cloudScaling = cloud.scaling or { };

      agentCloud =
        name: agent:
        let
          c = agent.cloud or { };
          resources = c.resources or (cloud.resources or defaults.resources);
          scaling = c.scaling or { };
          identity = c.identity or { };
          fleet = setting: firstSet [ (scaling.${setting} or null) (cloudScaling.${setting} or null) ];
        in
        {
          enable = c.enable or (cloud.enable or false);
          inherit resources;
          scaling = {
            maxResources = firstSet [ (fleet "maxResources") resources ];
            minResources = fleet "minResources";
            idleTimeout = fleet "idleTimeout";
            rightSizing = fleet "rightSizing";
            wake = map wakeTrigger (scaling.wake or (forAgent (cloudScaling.wake or [ ]) name));
          };
          image = imageRef name (c.image or (imageFor (cloud.image or defaults.image) name));
          imagePullPolicy = c.imagePullPolicy or (cloud.imagePullPolicy or null);
          identity = {
            gcpServiceAccount = identity.gcpServiceAccount or null;
            awsRoleArn = identity.awsRoleArn or null;
            azureClientId = identity.azureClientId or null;
            scope = identity.scope or (defaults.scope name);
          };
          network.egress = (c.network or { }).egress or defaults.egress;
          spot = c.spot or false;
          env = c.env or { };
          buckets = c.buckets or [ ];
        };

      agentSpec =
        name: agent0:
        let
          agent = agentDefaults // agent0;
          c = agentCloud name agent;
          git = agent.git or { };
        in
        {
          inherit (agent) uid role description;
          home = "${agentsDir}/${name}";
          git = {
            name = git.name or name;
            email = git.email or "${name}@${domain}";
          };
          inherit (c)
            resources
            scaling
            image
            imagePullPolicy
            identity
            network
            spot
            env
            buckets
            ;
          persist = map (path: {
            inherit path;
            size = sizes.${path} or defaultSize;
          }) agent.persist;
        };

      isCloudAgent = name: agent: (agent.enable or agentDefaults.enable) && (agentCloud name agent).enable;

      allAgents = if nuketown.enable or false then nuketown.agents or { } else { };
      cloudAgentNames = builtins.filter (n: isCloudAgent n allAgents.${n}) (builtins.attrNames allAgents);
    in
    {
      inherit domain tiers;
      storage = { inherit defaultSize sizes; };
      agents = builtins.listToAttrs (
        map (n: {
          name = n;
          value = agentSpec n allAgents.${n};
        }) cloudAgentNames
      );
    };

  isQuantity = value: builtins.isString value && builtins.match grammar.quantity.pattern value != null;

  # Invariants the module turns into `assertions`; each message says what to change.
  checks =
    nuketown:
    let
      r = resolve nuketown;
      tierNames = builtins.attrNames r.tiers;
      known = t: builtins.elem t tierNames;
      tierList = builtins.concatStringsSep ", " tierNames;
      notATier =
        option: tier:
        "${option}: '${tier}' is not a tier (${tierList}); define it in nuketown.cloud.tiers or pick one of those.";
      # maxResources defaults to resources: report an unknown name once.
      agentChecks = name: a: [
        {
          assertion = known a.resources;
          message = notATier "nuketown.agents.${name}.cloud.resources" a.resources;
        }
        {
          assertion = known a.scaling.maxResources || a.scaling.maxResources == a.resources;
          message = notATier "nuketown.agents.${name}.cloud.scaling.maxResources" a.scaling.maxResources;
        }
        {
          assertion = a.scaling.minResources == null || known a.scaling.minResources;
          message = notATier "nuketown.agents.${name}.cloud.scaling.minResources" a.scaling.minResources;
        }
      ];
      # The module's types check these; a plain attrset is checked here.
      quantityCheck = option: value: {
        assertion = isQuantity value;
        message = "${option}: ${builtins.toJSON value} is not ${grammar.quantity.description}.";
      };
      tierChecks =
        name: tier:
        [
          (quantityCheck "nuketown.cloud.tiers.${name}.cpu" (tier.cpu or null))
          (quantityCheck "nuketown.cloud.tiers.${name}.memory" (tier.memory or null))
        ]
        ++ builtins.attrValues (
          builtins.mapAttrs (
            resource: quantityCheck "nuketown.cloud.tiers.${name}.extendedResources.\"${resource}\""
          ) (tier.extendedResources or { })
        );
      storageChecks =
        [ (quantityCheck "nuketown.cloud.storage.defaultSize" r.storage.defaultSize) ]
        ++ builtins.attrValues (
          builtins.mapAttrs (path: quantityCheck "nuketown.cloud.storage.sizes.\"${path}\"") r.storage.sizes
        );
    in
    builtins.concatLists (builtins.attrValues (builtins.mapAttrs agentChecks r.agents))
    ++ builtins.concatLists (builtins.attrValues (builtins.mapAttrs tierChecks r.tiers))
    ++ storageChecks;

  failedMessages = nuketown: map (c: c.message) (builtins.filter (c: !c.assertion) (checks nuketown));

  # What the NixOS module can do and a plain attrset cannot.
  offlineMessages =
    nuketown:
    let
      cloud = nuketown.cloud or { };
    in
    if (cloud.nixSnapshotter or { }).enable or false then
      [
        "nuketown.cloud.nixSnapshotter.enable: images are built from the agents' packages by the NixOS module, which needs nixpkgs; evaluate config.nuketown.cloud.spec of the NixOS configuration, or set nuketown.cloud.image"
      ]
    else
      [ ];

  # Everything wrong with a plain nuketown attrset, one message each: unknown
  # names first (the rest would read a misspelt setting as unset).
  problems =
    nuketown:
    let
      unknown = strict.unknownOptions names nuketown;
      offline = offlineMessages nuketown;
    in
    if unknown != [ ] then unknown else if offline != [ ] then offline else failedMessages nuketown;

  build =
    failed: nuketown:
    if failed != [ ] then
      throw ("nuketown.cloud:\n- " + builtins.concatStringsSep "\n- " failed)
    else
      let r = resolve nuketown; in
      {
        schemaVersion = 1;
        inherit (r) domain tiers agents;
      };

  spec = nuketown: build (problems nuketown) nuketown;
  fromOptions = nuketown: build (failedMessages nuketown) nuketown;
in
{
  inherit
    defaults
    grammar
    names
    checks
    problems
    spec
    fromOptions
    imageFor
    forAgent
    ;
}
