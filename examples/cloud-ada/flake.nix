{
  description = "Nuketown Cloud example: ada and vox on a cluster";

  # Upstream nuketown sets home-manager.users, environment.persistence
  # (impermanence) and sops.secrets, so its module needs those modules too;
  # the versions follow upstream's own flake, and nuketown uses these inputs.
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";
    home-manager = {
      url = "github:nix-community/home-manager/release-25.11";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    impermanence.url = "github:nix-community/impermanence";
    sops-nix = {
      url = "github:Mic92/sops-nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    nuketown = {
      url = "github:joshperry/nuketown";
      inputs.nixpkgs.follows = "nixpkgs";
      inputs.home-manager.follows = "home-manager";
      inputs.impermanence.follows = "impermanence";
      inputs.sops-nix.follows = "sops-nix";
    };
  };

  outputs = { nixpkgs, nuketown, home-manager, impermanence, sops-nix, ... }: {
    nixosConfigurations.cloud-ada = nixpkgs.lib.nixosSystem {
      system = "x86_64-linux";
      modules = [
        nuketown.nixosModules.default
        home-manager.nixosModules.home-manager
        impermanence.nixosModules.impermanence
        sops-nix.nixosModules.sops
        {
          home-manager.useGlobalPkgs = true;
          home-manager.useUserPackages = true;
        }
        ./configuration.nix
        { boot.isContainer = true; system.stateVersion = "25.11"; }
      ];
    };
  };
}
