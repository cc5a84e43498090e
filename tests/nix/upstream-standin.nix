# Stand-in for the upstream nuketown module (github.com/joshperry/nuketown,
# module.nix at 4d6560d), so the cloud module is evaluated with nixpkgs `lib`
# alone: every option upstream declares, with upstream's types and defaults
# (defaults that need packages are stand-in derivations), and the options it
# sets on the system, in the same way: users, home-manager.users,
# environment.persistence (impermanence), and sops.secrets when sops-nix is
# imported. A configuration missing home-manager or impermanence therefore
# fails here as it fails on NixOS. The services, scripts and prompts upstream
# generates are left out: nothing in the cloud module reads them.
{ config, options, lib, pkgs, ... }:
let
  t = lib.types;
  cfg = config.nuketown;
  opt = type: default: lib.mkOption { inherit type default; };
  enabledAgents = lib.filterAttrs (_: a: a.enable) cfg.agents;

  agentOpts = { name, config, ... }: {
    options = {
      enable = lib.mkEnableOption "Nuketown agent ${name}";
      uid = lib.mkOption { type = t.int; };
      role = opt t.str "general";
      description = opt t.lines "";
      git = {
        name = opt t.str name;
        email = opt t.str "${name}@${cfg.domain}";
        signing = opt t.bool true;
      };
      packages = opt (t.listOf t.package) [ ];
      extraHomeConfig = opt t.attrs { };
      persist = opt (t.listOf t.str) [ "projects" ];
      secrets = {
        sshKey = opt (t.nullOr t.str) null;
        gpgKey = opt (t.nullOr t.str) null;
        extraSecrets = opt (t.attrsOf t.str) { };
      };
      devices = opt (t.listOf (t.submodule {
        options = {
          subsystem = lib.mkOption { type = t.str; };
          attrs = lib.mkOption { type = t.attrsOf t.str; };
          action = opt t.str "add|bind";
          permission = opt t.str "rw";
          group = opt t.str "plugdev";
        };
      })) [ ];
      sudo = {
        enable = opt t.bool false;
        commands = opt (t.listOf t.str) [ ];
      };
      portal = {
        enable = opt t.bool false;
        command = opt t.str "${pkgs.claude-code}/bin/claude --dangerously-skip-permissions";
        layout = opt t.str "50/50";
      };
      claudeCode = {
        enable = opt t.bool false;
        package = opt (t.nullOr t.package) pkgs.claude-code;
        settings = opt t.attrs { };
        agentName = opt t.str "${name}-${config.role}";
        extraPrompt = opt t.lines "";
        extraAgents = opt (t.attrsOf (t.either t.lines t.path)) { };
      };
      daemon = {
        enable = lib.mkEnableOption "Nuketown agent daemon";
        package = opt t.package pkgs.nuketown-daemon;
        bootstrapModel = opt t.str "claude-haiku-4-5-20251001";
        apiKeySecret = opt (t.nullOr t.str) null;
        repos = opt (t.attrsOf (t.submodule { options.url = lib.mkOption { type = t.str; }; })) { };
        headlessTimeout = opt t.int 14400;
        mail = {
          enable = lib.mkEnableOption "IMAP IDLE mail watcher in the daemon";
          host = opt t.str "";
          port = opt t.int 993;
          username = opt t.str "";
          passwordSecret = opt (t.nullOr t.str) null;
          mailbox = opt t.str "INBOX";
        };
      };
      xmpp = {
        enable = lib.mkEnableOption "XMPP client for this agent";
        jid = opt t.str "${name}@${cfg.domain}";
        passwordSecret = opt (t.nullOr t.str) null;
        rooms = opt (t.listOf t.str) [ ];
      };
    };
  };
in
{
  options.nuketown = {
    enable = lib.mkEnableOption "Nuketown agent framework";
    domain = opt t.str "${config.networking.hostName}.local";
    agentsDir = opt t.str "/agents";
    btrfsDevice = opt (t.nullOr t.str) null;
    sopsFile = opt (t.nullOr t.path) null;
    basePackages = opt (t.listOf t.package) (with pkgs; [ git ripgrep fd jq curl tree tmux ]);
    agents = opt (t.attrsOf (t.submodule agentOpts)) { };
    projectDirs = opt (t.listOf t.str) [ "~/dev" ];
    humanUser = opt (t.nullOr t.str) null;
    humanName = opt (t.nullOr t.str) cfg.humanUser;
    humanEmail = opt (t.nullOr t.str) (if cfg.humanUser == null then null else "${cfg.humanUser}@${cfg.domain}");
  };

  config = lib.mkIf cfg.enable (
    {
      users.users = lib.mapAttrs (name: agent: {
        inherit (agent) uid;
        group = name;
        isNormalUser = true;
        home = "${cfg.agentsDir}/${name}";
      }) enabledAgents;
      users.groups = lib.mapAttrs (name: agent: { gid = agent.uid; }) enabledAgents;
      home-manager.users = lib.mapAttrs (name: agent: {
        home.username = name;
        home.homeDirectory = "${cfg.agentsDir}/${name}";
        home.stateVersion = config.system.stateVersion;
        home.packages = cfg.basePackages ++ agent.packages;
        programs.git.settings.user = { inherit (agent.git) name email; };
      }) enabledAgents;
      environment.persistence."/persist".users = lib.mapAttrs (name: agent: { directories = agent.persist; }) enabledAgents;
    }
    # As upstream: sops.secrets only when sops-nix is imported.
    // lib.optionalAttrs (options ? sops) {
      sops.secrets = lib.mkMerge (
        lib.mapAttrsToList (
          name: agent:
          lib.optionalAttrs (agent.secrets.sshKey != null) {
            ${agent.secrets.sshKey} = {
              owner = name;
              path = "${cfg.agentsDir}/${name}/.ssh/id_ed25519";
            };
          }
          // lib.mapAttrs' (_: sopsName: lib.nameValuePair sopsName { owner = name; }) agent.secrets.extraSecrets
        ) enabledAgents
      );
    }
  );
}
