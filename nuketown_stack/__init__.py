"""Nuketown Cloud: nuketown agents declared in nix, run on Kubernetes by Pulumi."""
