# The environment `fleet`: 10,000 agents (agents.nix with its default count).
import ./agents.nix { }
