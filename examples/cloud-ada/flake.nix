{
  description = "Nuketown Cloud example: ada and vox on a cluster";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    nuketown.url = "github:joshperry/nuketown";
    nuketown.inputs.nixpkgs.follows = "nixpkgs";
  };

  outputs = { nixpkgs, nuketown, ... }: {
    nixosConfigurations.cloud-ada = nixpkgs.lib.nixosSystem {
      system = "x86_64-linux";
      modules = [
        nuketown.nixosModules.default
        ./configuration.nix
        { boot.isContainer = true; system.stateVersion = "25.11"; }
      ];
    };
  };
}
