# The options of the upstream nuketown module (github.com/joshperry/nuketown,
# module.nix as of commit 4d6560d), names only. One nuketown.nix file serves
# both the NixOS module path and the builtins-only spec function; the spec
# function accepts every name here (reading the few it needs) and refuses any
# other, so a typo fails on both paths while upstream-only settings
# (packages, sudo, daemon, ...) are passed over.
#
# Notation, also used for the cloud names in ./spec.nix:
#   true          any value; names inside it are not checked
#   { a = ...; }  an attribute set with exactly these names
#   { "<name>" = x; }  an attribute set of x (agents, repos)
#   [ x ]         a list of x
# When upstream adds an option, add its name here.
{
  enable = true;
  domain = true;
  agentsDir = true;
  btrfsDevice = true;
  sopsFile = true;
  basePackages = true;
  projectDirs = true;
  humanUser = true;
  humanName = true;
  humanEmail = true;
  agents."<name>" = {
    enable = true;
    uid = true;
    role = true;
    description = true;
    git = {
      name = true;
      email = true;
      signing = true;
    };
    packages = true;
    extraHomeConfig = true;
    persist = true;
    secrets = {
      sshKey = true;
      gpgKey = true;
      extraSecrets = true;
    };
    devices = [
      {
        subsystem = true;
        attrs = true;
        action = true;
        permission = true;
        group = true;
      }
    ];
    sudo = {
      enable = true;
      commands = true;
    };
    portal = {
      enable = true;
      command = true;
      layout = true;
    };
    claudeCode = {
      enable = true;
      package = true;
      settings = true;
      agentName = true;
      extraPrompt = true;
      extraAgents = true;
    };
    daemon = {
      enable = true;
      package = true;
      bootstrapModel = true;
      apiKeySecret = true;
      repos."<name>".url = true;
      headlessTimeout = true;
      mail = {
        enable = true;
        host = true;
        port = true;
        username = true;
        passwordSecret = true;
        mailbox = true;
      };
    };
    xmpp = {
      enable = true;
      jid = true;
      passwordSecret = true;
      rooms = true;
    };
  };
}
