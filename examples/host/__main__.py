"""A Pulumi program of your own: a platform team's component, its cluster and cloud providers, and the
nuketown agents of examples/cloud-ada.nix in it. No nuketown:* config is read."""

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from nuketown_stack import Fleet, FleetArgs

CLUSTER = "gke_acme-agents_europe-west1_agents"  # a context of your kubeconfig


class Team(pulumi.ComponentResource):
    """What a team gets on the platform: here, its agents."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Team", name, None, opts)
        mine = pulumi.ResourceOptions(parent=self)
        cluster = k8s.Provider("agents-cluster", context=CLUSTER, opts=mine)
        cloud = gcp.Provider("acme-agents", project="acme-agents", opts=mine)
        # Optional: takes over the namespace and volumes a removed agent left when it is added back.
        adopting = k8s.Provider("agents-cluster-adopting", context=CLUSTER, upsert_existing_objects=True, opts=mine)
        self.agents = Fleet(
            "agents",
            FleetArgs(
                spec="../cloud-ada.nix",
                settings={"cloud": "gcp", "gcpProject": "acme-agents"},
                adopting_kubernetes_provider=adopting,
            ),
            opts=pulumi.ResourceOptions(parent=self, providers=[cluster, cloud]),
        )
        self.register_outputs({"identities": self.agents.identities})


team = Team("research")
pulumi.export("identities", team.agents.identities)
pulumi.export("sopsConfig", team.agents.sops_config)
