# A stand-in `pkgs`: packages are bare derivations, whose store paths nix
# computes without building anything (evaluate with --readonly-mode).
# With nixSnapshotter, `nix-snapshotter.buildImage` stands in for
# nix-snapshotter's: same arguments, an output named nix-image-<name>.tar, and
# `args` to see what it was given.
{ nixSnapshotter ? false }:
let
  package = name: builtins.derivation {
    inherit name;
    system = "x86_64-linux";
    builder = "/bin/sh";
  };
  buildImage =
    args@{ name, resolvedByNix ? false, copyToRoot ? null, config ? { }, ... }:
    builtins.derivation {
      name = "nix-image-${baseNameOf name}.tar";
      system = "x86_64-linux";
      builder = "/bin/sh";
      copyToRoot = if copyToRoot == null then [ ] else if builtins.isList copyToRoot then copyToRoot else [ copyToRoot ];
      config = builtins.toJSON config;
      resolvedByNix = if resolvedByNix then "1" else "";
    }
    // {
      inherit args;
    };
  names = [ "git" "ripgrep" "fd" "jq" "curl" "tree" "tmux" "claude-code" "nuketown-daemon" "hello" "python3" ];
in
builtins.listToAttrs (map (name: { inherit name; value = package name; }) names)
// (if nixSnapshotter then { nix-snapshotter = package "nix-snapshotter" // { inherit buildImage; }; } else { })
