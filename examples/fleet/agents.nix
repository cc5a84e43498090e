# The fleet example's agents: `count` of them, a pure function of `count` (no clock, no randomness,
# no file but the spec function), so the same count gives the same spec byte for byte.
#   nix-instantiate --eval --strict --json --arg count 40 agents.nix   # a small fleet, as the tests use
# fleet.nix is this with the default count, 10,000: the environment `fleet` the stacks here deploy.
{ count ? 10000 }:
let
  # 50 words x `count / 50` numbers: names that interleave when sorted (ada-10 sorts before ada-2).
  words = [
    "ada" "bea" "cal" "dax" "eli" "fay" "gus" "hal" "ivy" "jon"
    "kai" "lux" "max" "nia" "oda" "pia" "quin" "rio" "sol" "tam"
    "uma" "vox" "wes" "xia" "yan" "zed" "arlo" "bram" "cleo" "dora"
    "ezra" "finn" "gaia" "hugo" "iris" "juno" "kira" "leo" "mira" "nova"
    "otto" "pax" "rhea" "sage" "theo" "una" "vera" "wren" "yara" "zoe"
  ];
  tiers = [ "small" "standard" "standard" "large" ];
  dirs = [ "projects" ".config/claude" "datasets" ];
  mod = a: b: a - (a / b) * b;
  agent = i:
    let
      word = builtins.elemAt words (mod i (builtins.length words));
      number = i / (builtins.length words);
    in
    {
      name = "${word}-${toString number}";
      value = {
        enable = true;
        uid = 2000 + i;
        role = if mod i 3 == 0 then "research" else "software";
        persist = builtins.genList (d: builtins.elemAt dirs d) (1 + mod i 3);
        cloud = {
          resources = builtins.elemAt tiers (mod i 4);
          spot = mod i 5 == 0;
        } // (if mod i 7 == 0 then { buckets = [ "artifacts" ]; } else { })
          // (if mod i 5 == 0 then { network.egress = [ { cidr = "0.0.0.0/0"; ports = [ 443 ]; } ]; } else { });
      };
    };
in
(import ../../nix/spec.nix).spec {
  enable = true;
  domain = "fleet.example";
  cloud = {
    enable = true;
    scaling.maxResources = "large";
    storage.sizes.datasets = "20Gi";
  };
  agents = builtins.listToAttrs (builtins.genList agent count);
}
