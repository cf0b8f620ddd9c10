package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/dayops/dayops/internal/devcluster/nodeagent"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/podproc"
)

// newDevAgentCmd is `dayops-dev dev agent`: the node agent of the local
// Kubernetes stack (started by `dayops-dev dev up`). It runs until SIGTERM, then
// stops its pods gracefully and exits.
func newDevAgentCmd() *cobra.Command {
	cfg := nodeagent.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the local stack's node agent: zone-labelled Nodes whose Pods run as local processes on their own IPs",
		Long: `The node agent registers Nodes (--zones x --nodes-per-zone) with the API server, keeps their Leases and
Ready condition, runs every Pod bound to them as local processes on the Pod's own IP (10.244.<node+1>.0/24,
routed to the loopback device), serves the kubelet API (logs, exec, port-forward) on each Node's IP, and
provisions PersistentVolumes for the default StorageClass. Images map to local commands through the image map
(built in: redis images run /usr/bin/redis-server; --image-map replaces it).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = slog.Default().With("component", "node-agent")
			a, err := nodeagent.New(cfg)
			if err != nil {
				return err
			}
			return a.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Kubeconfig, "kubeconfig", cfg.Kubeconfig, "kubeconfig of the agent")
	f.StringVar(&cfg.StateDir, "state-dir", cfg.StateDir, "directory for pod IPs, logs, volumes")
	f.StringVar(&cfg.PKIDir, "pki-dir", cfg.PKIDir, "directory holding the cluster CA (ca.crt, ca.key)")
	f.IntVar(&cfg.Zones, "zones", cfg.Zones, "number of zones (zone-a, zone-b, ...)")
	f.IntVar(&cfg.NodesPerZone, "nodes-per-zone", cfg.NodesPerZone, "nodes in each zone")
	f.StringVar(&cfg.NodePrefix, "node-prefix", cfg.NodePrefix, "node name prefix: <prefix>-<zone letter><n>")
	f.IntVar(&cfg.SubnetOffset, "subnet-offset", cfg.SubnetOffset, "node i gets 10.244.(i+1+offset).1")
	f.IntVar(&cfg.KubeletPort, "kubelet-port", cfg.KubeletPort, "kubelet API port on each node IP")
	f.StringVar(&cfg.APIServer, "apiserver", cfg.APIServer, "host:port pods get as KUBERNETES_SERVICE_HOST/PORT (default: the kubeconfig's server)")
	f.StringVar(&cfg.ImageMapFile, "image-map", cfg.ImageMapFile, "YAML/JSON image map replacing the built-in one")
	f.StringVar(&cfg.DayopsBinary, "dayops-binary", cfg.DayopsBinary, "product binary (cmd/dayops) that dayops:* images and the instance manager run (default: dayops beside this executable)")
	f.StringVar(&cfg.NodeCPU, "node-cpu", cfg.NodeCPU, "CPU capacity of each node")
	f.StringVar(&cfg.NodeMemory, "node-memory", cfg.NodeMemory, "memory capacity of each node")
	f.IntVar(&cfg.NodePods, "node-pods", cfg.NodePods, "pod capacity of each node")
	f.DurationVar(&cfg.LeaseRenew, "lease-renew", cfg.LeaseRenew, "node Lease renewal interval")
	f.DurationVar(&cfg.BackoffBase, "backoff-base", cfg.BackoffBase, "restart back-off after the first restart (doubles)")
	f.DurationVar(&cfg.BackoffMax, "backoff-max", cfg.BackoffMax, "maximum restart back-off")
	f.StringVar(&cfg.StorageClass, "storage-class", cfg.StorageClass, "default StorageClass served by the agent's provisioner (empty: none)")
	f.BoolVar(&cfg.StorageClassDefault, "default-storage-class", cfg.StorageClassDefault, "mark --storage-class as the cluster's default StorageClass")
	f.DurationVar(&cfg.VolumeRefresh, "volume-refresh", cfg.VolumeRefresh, "how often ConfigMap/Secret/projected volumes are rewritten")
	f.Int64Var(&cfg.MaxLogBytes, "max-log-bytes", cfg.MaxLogBytes, "size at which a container log file is rotated")

	cmd.AddCommand(&cobra.Command{
		Use:    "pod-exec",
		Short:  "internal: become a pod process (bind-mount its volumes in a private mount namespace, then exec)",
		Hidden: true,
		Args:   cobra.ArbitraryArgs,
		RunE: func(*cobra.Command, []string) error {
			return podproc.RunHelper()
		},
	})
	reap := &cobra.Command{
		Use:   "reap",
		Short: "Stop the pod processes a killed agent left running (the agent also does this when it starts)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n := nodeagent.Reap(cfg.StateDir, slog.Default().With("component", "node-agent"))
			cmd.Printf("stopped %d pod process(es)\n", n)
			return nil
		},
	}
	reap.Flags().StringVar(&cfg.StateDir, "state-dir", cfg.StateDir, "the agent's state dir")
	cmd.AddCommand(reap)
	return cmd
}
