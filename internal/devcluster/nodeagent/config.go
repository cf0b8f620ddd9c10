package nodeagent

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Config is the agent's configuration. The flag that sets each field is
// named in its comment (see cmd/dayops-dev/agent.go).
type Config struct {
	// Kubeconfig is the agent's credentials (--kubeconfig).
	Kubeconfig string
	// StateDir holds the IPAM state, pod directories (logs, emptyDirs,
	// projected volumes) and provisioned volumes (--state-dir).
	StateDir string
	// PKIDir holds ca.crt and ca.key: the CA that signs the kubelet serving
	// certificates and the apiserver's kubelet client certificate (--pki-dir).
	PKIDir string
	// Zones and NodesPerZone: nodes are named <NodePrefix>-<zone letter><n>
	// and labelled topology.kubernetes.io/zone=zone-<letter> (--zones,
	// --nodes-per-zone).
	Zones        int
	NodesPerZone int
	// NodePrefix starts each node name (--node-prefix).
	NodePrefix string
	// SubnetOffset shifts node subnets: node i gets 10.244.(i+1+SubnetOffset).1
	// and its pods the rest of that /24 (--subnet-offset; 0 in normal use).
	SubnetOffset int
	// KubeletPort is the port of the kubelet API on each node IP (--kubelet-port).
	KubeletPort int
	// APIServer is the kube-apiserver's host:port that every container gets
	// as KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, so that
	// client-go's in-cluster configuration works in a Pod. The kubelet gives
	// the `kubernetes` Service's ClusterIP, but nothing routes ClusterIPs in
	// the local stack, so the agent gives the apiserver's own address
	// (--apiserver; default: the server of the agent's kubeconfig).
	APIServer string
	// ImageMapFile replaces the built-in image map (--image-map).
	ImageMapFile string
	// DayopsBinary is the locally built product binary (cmd/dayops) that
	// dayops images and the instance manager's "dayops" command run; the
	// agent itself runs from the development binary (cmd/dayops-dev)
	// (--dayops-binary; default: "dayops" beside the agent's executable).
	DayopsBinary string
	// Capacity of each node (--node-cpu, --node-memory, --node-pods).
	NodeCPU    string
	NodeMemory string
	NodePods   int
	// LeaseRenew is how often each node's Lease is renewed (--lease-renew).
	LeaseRenew time.Duration
	// BackoffBase and BackoffMax bound the restart back-off: the first
	// restart is immediate, then BackoffBase doubling up to BackoffMax
	// (--backoff-base, --backoff-max).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// StorageClass is the name of the default StorageClass the agent's
	// provisioner serves (--storage-class); empty disables the provisioner.
	StorageClass string
	// StorageClassDefault marks StorageClass as the cluster's default class.
	StorageClassDefault bool
	// NodeLabels and NodeTaints are added to every node (tests use them to
	// keep a second agent's nodes to themselves).
	NodeLabels map[string]string
	NodeTaints []corev1.Taint
	// VolumeRefresh is how often ConfigMap, Secret, downward API and
	// projected volumes are rewritten from the API (--volume-refresh).
	VolumeRefresh time.Duration
	// MaxLogBytes caps each container log file before rotation (--max-log-bytes).
	MaxLogBytes int64
	// Helper is the command that runs the pod-exec helper; podproc.HelperEnv is added
	// to its environment. Default: this executable (dayops-dev) with
	// "dev agent pod-exec".
	Helper []string
	// Logger receives the agent's logs.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults used by `dayops-dev dev agent`.
func DefaultConfig() Config {
	return Config{
		Kubeconfig:          ".dayops/agent.kubeconfig",
		StateDir:            ".dayops/agent",
		PKIDir:              ".dayops/pki",
		Zones:               3,
		NodesPerZone:        2,
		NodePrefix:          "node",
		KubeletPort:         10250,
		NodeCPU:             "4",
		NodeMemory:          "8Gi",
		NodePods:            110,
		LeaseRenew:          10 * time.Second,
		BackoffBase:         10 * time.Second,
		BackoffMax:          5 * time.Minute,
		StorageClass:        "dayops-local",
		StorageClassDefault: true,
		MaxLogBytes:         10 << 20,
		VolumeRefresh:       30 * time.Second,
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.Kubeconfig == "" {
		errs = append(errs, errors.New("kubeconfig is required"))
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("state dir is required"))
	}
	if c.PKIDir == "" {
		errs = append(errs, errors.New("pki dir is required"))
	}
	if c.Zones < 1 || c.Zones > 26 {
		errs = append(errs, fmt.Errorf("zones must be 1..26, got %d", c.Zones))
	}
	if c.NodesPerZone < 1 {
		errs = append(errs, fmt.Errorf("nodes per zone must be at least 1, got %d", c.NodesPerZone))
	}
	if n := c.Zones*c.NodesPerZone + c.SubnetOffset; n > 255 || c.SubnetOffset < 0 {
		errs = append(errs, fmt.Errorf("zones x nodes per zone + subnet offset must fit 10.244.1-255.0/24, got %d", n))
	}
	if c.NodePrefix == "" {
		errs = append(errs, errors.New("node prefix is required"))
	}
	if c.KubeletPort <= 0 || c.KubeletPort > 65535 {
		errs = append(errs, fmt.Errorf("kubelet port %d out of range", c.KubeletPort))
	}
	if c.LeaseRenew <= 0 {
		errs = append(errs, errors.New("lease renew interval must be positive"))
	}
	if c.BackoffBase <= 0 || c.BackoffMax < c.BackoffBase {
		errs = append(errs, errors.New("back-off base must be positive and not above the max"))
	}
	if c.VolumeRefresh <= 0 {
		errs = append(errs, errors.New("volume refresh interval must be positive"))
	}
	if c.NodePods <= 0 {
		errs = append(errs, errors.New("node pods capacity must be positive"))
	}
	return errors.Join(errs...)
}

// nodeInfo is one node this agent runs.
type nodeInfo struct {
	Name  string
	Zone  string
	IP    netip.Addr   // 10.244.(i+1).1
	Pool  netip.Prefix // 10.244.(i+1).0/24
	Index int
}

// nodes lists the nodes of the configuration, zone by zone.
func (c Config) nodes() []nodeInfo {
	var out []nodeInfo
	for z := 0; z < c.Zones; z++ {
		letter := string(rune('a' + z))
		for n := 0; n < c.NodesPerZone; n++ {
			i := len(out)
			third := byte(i + 1 + c.SubnetOffset)
			out = append(out, nodeInfo{
				Name:  fmt.Sprintf("%s-%s%d", c.NodePrefix, letter, n+1),
				Zone:  "zone-" + letter,
				IP:    netip.AddrFrom4([4]byte{10, 244, third, 1}),
				Pool:  netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 244, third, 0}), 24),
				Index: i,
			})
		}
	}
	return out
}
