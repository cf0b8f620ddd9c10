package devcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/devcluster/devpki"
	"github.com/dayops/dayops/internal/devcluster/devproc"
	"github.com/dayops/dayops/internal/devcluster/stackconfig"
	"github.com/dayops/dayops/internal/searchattr"
	sdkclient "go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Component names, as in logs/NAME.log, stack.json and `dev status`.
const (
	Temporal                = "temporal"
	TemporalServerComponent = "temporal-server"
	Etcd                    = "etcd"
	APIServer               = "apiserver"
	ControllerManager       = "controller-manager"
	Scheduler               = "scheduler"
	Agent                   = "agent"
)

// SearchAttributes are the Keyword search attributes dayops' workflows set.
var SearchAttributes = searchattr.Names

// component is one process of the stack.
type component struct {
	name string
	// needs must be healthy before this component starts.
	needs []string
	// group: stop by signalling the whole process group. The agent is
	// signalled alone so that it can stop its pods gracefully itself.
	group bool
	// ports are checked to be free before a start (nil: none).
	ports func(Config) []int
	url   func(Config) string
	args  func(Config) []string
	probe func(context.Context, Config, devproc.Record) error
	// prepare runs before each start (nil: nothing to do); setup runs on
	// every Up once the component is healthy, started or found running.
	// Both must be idempotent.
	prepare func(context.Context, Config) error
	setup   func(context.Context, Config) error
}

func onePort(f func(Config) int) func(Config) []int {
	return func(c Config) []int { return []int{f(c)} }
}

// kubeClientComponent is a Kubernetes control-plane process that needs the
// API server and answers /healthz on its port (controller-manager,
// scheduler).
func kubeClientComponent(name string, port func(Config) int, args func(Config) []string) component {
	return component{
		name:  name,
		needs: []string{APIServer},
		group: true,
		ports: onePort(port),
		url:   func(c Config) string { return healthzURL(port(c)) },
		args:  args,
		probe: func(ctx context.Context, c Config, _ devproc.Record) error {
			return probeHealthz(ctx, c, port(c))
		},
	}
}

// startOrder is the order of `up` (one of the two Temporal components,
// by mode); `down` stops in stopOrder: the agent first (it stops its pods),
// the API server before etcd (it hangs on SIGTERM once etcd is gone), etcd
// last.
var (
	startOrder = []string{Temporal, TemporalServerComponent, Etcd, APIServer, ControllerManager, Scheduler, Agent}
	stopOrder  = []string{Agent, Scheduler, ControllerManager, APIServer, Temporal, TemporalServerComponent, Etcd}
)

func components() map[string]component {
	return map[string]component{
		Temporal: {
			name:  Temporal,
			group: true,
			ports: onePort(func(c Config) int { return c.TemporalPort }),
			url:   func(c Config) string { return c.TemporalUI() + " (gRPC " + c.TemporalAddr() + ")" },
			args:  temporalDevArgs,
			probe: probeTemporal,
		},
		TemporalServerComponent: {
			name:  TemporalServerComponent,
			group: true,
			ports: func(c Config) []int {
				sp := c.TemporalServerPorts()
				return slices.Sorted(maps.Values(sp))
			},
			url: func(c Config) string {
				return "gRPC " + c.TemporalAddr() + " (mTLS; no Web UI)"
			},
			args:    func(c Config) []string { return c.TemporalServerArgs() },
			probe:   probeTemporalServer,
			prepare: prepareTemporalServer,
			setup:   setupTemporalServer,
		},
		Etcd: {
			name:  Etcd,
			group: true,
			ports: onePort(func(c Config) int { return c.EtcdPort }),
			url:   func(c Config) string { return c.EtcdURL() },
			args:  etcdArgs,
			probe: probeEtcd,
		},
		APIServer: {
			name:  APIServer,
			needs: []string{Etcd},
			group: true,
			ports: onePort(func(c Config) int { return c.APIServerPort }),
			url:   func(c Config) string { return c.APIServerURL() },
			args:  apiServerArgs,
			probe: probeAPIServer,
		},
		ControllerManager: kubeClientComponent(ControllerManager, func(c Config) int { return c.ControllerManagerPort }, controllerManagerArgs),
		Scheduler:         kubeClientComponent(Scheduler, func(c Config) int { return c.SchedulerPort }, schedulerArgs),
		Agent: {
			name:  Agent,
			needs: []string{APIServer},
			group: false,
			url: func(c Config) string {
				return fmt.Sprintf("%d nodes in %d zones", c.Zones*c.NodesPerZone, c.Zones)
			},
			args:  agentArgs,
			probe: probeNodes,
		},
	}
}

// temporalDevArgs runs the Temporal dev server (temporal server start-dev).
func temporalDevArgs(c Config) []string {
	a := []string{filepath.Join(c.BinDir, "temporal"), "server", "start-dev",
		"--ip", "127.0.0.1",
		"--port", strconv.Itoa(c.TemporalPort),
		"--ui-port", strconv.Itoa(c.TemporalUIPort),
		"--db-filename", c.Path("temporal.db"),
		// A write-ahead log synced at checkpoints rather than a rollback
		// journal synced at every commit: a killed server loses nothing
		// (the log is in the page cache), only a lost host may lose the
		// last commits, which a local stack does not outlive anyway.
		"--sqlite-pragma", "journal_mode=wal",
		"--sqlite-pragma", "synchronous=normal",
		"--log-level", "warn",
	}
	for _, sa := range SearchAttributes {
		a = append(a, "--search-attribute", sa+"=Keyword")
	}
	// The stack's tuning, in a fixed order (see stackconfig.TemporalTuning).
	tuning := stackconfig.TemporalTuning()
	for _, k := range slices.Sorted(maps.Keys(tuning)) {
		v, _ := json.Marshal(tuning[k])
		a = append(a, "--dynamic-config-value", k+"="+string(v))
	}
	return a
}

// etcdArgs runs etcd through the kube binary.
func etcdArgs(c Config) []string {
	peer := fmt.Sprintf("http://127.0.0.1:%d", c.EtcdPeerPort)
	return []string{filepath.Join(c.BinDir, "kube"), "etcd",
		"--name", "dayops",
		"--data-dir", c.Path("etcd"),
		"--listen-client-urls", c.EtcdURL(),
		"--advertise-client-urls", c.EtcdURL(),
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", "dayops=" + peer,
		"--unsafe-no-fsync",
		"--log-level", "warn",
	}
}

// apiServerArgs runs the API server against etcd with the PKI of STATE/pki.
func apiServerArgs(c Config) []string {
	pki := func(f string) string { return filepath.Join(c.PKIDir(), f) }
	return []string{filepath.Join(c.BinDir, "kube"), "apiserver",
		"--etcd-servers", c.EtcdURL(),
		"--bind-address", "127.0.0.1",
		"--advertise-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(c.APIServerPort),
		"--cert-dir", c.Path("apiserver"),
		"--tls-cert-file", pki(devpki.APIServerCert),
		"--tls-private-key-file", pki(devpki.APIServerKey),
		"--client-ca-file", pki(devpki.CACert),
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", pki(devpki.SAPub),
		"--service-account-signing-key-file", pki(devpki.SAKey),
		"--authorization-mode", "Node,RBAC",
		"--service-cluster-ip-range", c.ServiceCIDR,
		"--allow-privileged=true",
		// The advertise address is loopback, which the
		// `kubernetes` Service's endpoints may not hold.
		"--endpoint-reconciler-type", "none",
		// No node-lifecycle controller runs to lift the
		// not-ready taint this plugin puts on new Nodes.
		"--disable-admission-plugins", "TaintNodesByCondition",
		"--kubelet-client-certificate", pki(devpki.KubeletClientCert),
		"--kubelet-client-key", pki(devpki.KubeletClientKey),
		"--kubelet-certificate-authority", pki(devpki.CACert),
		"--kubelet-preferred-address-types", "InternalIP",
		"--requestheader-client-ca-file", pki(devpki.CACert),
		"--requestheader-allowed-names", devpki.FrontProxyID.CN,
		"--requestheader-username-headers", "X-Remote-User",
		"--requestheader-group-headers", "X-Remote-Group",
		"--requestheader-extra-headers-prefix", "X-Remote-Extra-",
		"--proxy-client-cert-file", pki(devpki.FrontProxyID.File + ".crt"),
		"--proxy-client-key-file", pki(devpki.FrontProxyID.File + ".key"),
		"--profiling=false",
	}
}

// controllerManagerArgs runs the controller-manager with its own identity.
func controllerManagerArgs(c Config) []string {
	pki := func(f string) string { return filepath.Join(c.PKIDir(), f) }
	return kubeClientArgs(c, "controller-manager", devpki.ControllerManagerID, c.ControllerManagerPort,
		"--controllers", "*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service-lb-controller,-route",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file", pki(devpki.SAKey),
		"--root-ca-file", pki(devpki.CACert),
		"--cluster-signing-cert-file", pki(devpki.CACert),
		"--cluster-signing-key-file", pki(devpki.CAKey),
	)
}

// schedulerArgs runs the scheduler with its own identity.
func schedulerArgs(c Config) []string {
	return kubeClientArgs(c, "scheduler", devpki.SchedulerID, c.SchedulerPort)
}

// kubeClientArgs runs `kube sub` as id (its kubeconfig for the API server,
// authentication and authorization), without leader election, serving
// /healthz on 127.0.0.1:port with its PKI's sub-serving certificate; extra
// flags come before --profiling=false, the last.
func kubeClientArgs(c Config, sub string, id devpki.Identity, port int, extra ...string) []string {
	pki := func(f string) string { return filepath.Join(c.PKIDir(), f) }
	kc := c.KubeconfigFor(id)
	args := []string{filepath.Join(c.BinDir, "kube"), sub,
		"--kubeconfig", kc,
		"--authentication-kubeconfig", kc,
		"--authorization-kubeconfig", kc,
		"--leader-elect=false",
		"--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(port),
		"--tls-cert-file", pki(sub + "-serving.crt"),
		"--tls-private-key-file", pki(sub + "-serving.key"),
	}
	return append(append(args, extra...), "--profiling=false")
}

// agentArgs runs the node agent (dayops-dev dev agent).
func agentArgs(c Config) []string {
	return append([]string{c.DevBin, "dev", "agent",
		"--dayops-binary", c.DayopsBin,
		"--kubeconfig", c.KubeconfigFor(devpki.AgentID),
		"--state-dir", c.Path("agent"),
		"--pki-dir", c.PKIDir(),
		"--zones", strconv.Itoa(c.Zones),
		"--nodes-per-zone", strconv.Itoa(c.NodesPerZone),
	}, c.AgentArgs...)
}

// probeTimeout bounds one health probe.
const probeTimeout = 3 * time.Second

func probeTemporal(ctx context.Context, c Config, _ devproc.Record) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cl, err := sdkclient.DialContext(ctx, sdkclient.Options{
		HostPort: c.TemporalAddr(),
		Logger:   sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		return fmt.Errorf("dial temporal: %w", err)
	}
	defer cl.Close()
	if _, err := cl.CheckHealth(ctx, &sdkclient.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("temporal health: %w", err)
	}
	return httpGet(ctx, http.DefaultClient, c.TemporalUI()+"/", nil)
}

func probeEtcd(ctx context.Context, c Config, _ devproc.Record) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	return httpGet(ctx, http.DefaultClient, c.EtcdURL()+"/health", func(body []byte) error {
		var h struct {
			Health string `json:"health"`
		}
		if err := json.Unmarshal(body, &h); err != nil {
			return fmt.Errorf("decode etcd health: %w", err)
		}
		if h.Health != "true" {
			return fmt.Errorf("etcd health is %q", h.Health)
		}
		return nil
	})
}

func probeAPIServer(ctx context.Context, c Config, _ devproc.Record) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	hc, err := tlsClient(c, &devpki.AdminID)
	if err != nil {
		return err
	}
	return httpGet(ctx, hc, c.APIServerURL()+"/readyz", nil)
}

func probeHealthz(ctx context.Context, c Config, port int) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	hc, err := tlsClient(c, nil)
	if err != nil {
		return err
	}
	return httpGet(ctx, hc, healthzURL(port), nil)
}

// healthzURL is where a control-plane process on port answers /healthz.
func healthzURL(port int) string { return fmt.Sprintf("https://127.0.0.1:%d/healthz", port) }

// probeNodes succeeds when the agent's Nodes are all registered and Ready,
// as reported by this agent process: a Ready condition whose heartbeat
// predates the agent's start is left over from an earlier run.
func probeNodes(ctx context.Context, c Config, agent devproc.Record) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cs, err := Clientset(c.KubeconfigPath())
	if err != nil {
		return err
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	ready := 0
	for _, n := range nodes.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type != corev1.NodeReady || cond.Status != corev1.ConditionTrue {
				continue
			}
			// Condition times have a resolution of one second.
			if !agent.StartedAt.IsZero() && cond.LastHeartbeatTime.Time.Before(agent.StartedAt.Truncate(time.Second)) {
				continue
			}
			ready++
		}
	}
	if want := c.Zones * c.NodesPerZone; ready < want {
		return fmt.Errorf("%d of %d nodes ready", ready, want)
	}
	return nil
}

// tlsClient trusts the cluster CA and presents id's client certificate
// (none when id is nil).
func tlsClient(c Config, id *devpki.Identity) (*http.Client, error) {
	caPEM, err := os.ReadFile(filepath.Join(c.PKIDir(), devpki.CACert))
	if err != nil {
		return nil, fmt.Errorf("read cluster CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in %s", devpki.CACert)
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if id != nil {
		pair, err := tls.LoadX509KeyPair(filepath.Join(c.PKIDir(), id.File+".crt"), filepath.Join(c.PKIDir(), id.File+".key"))
		if err != nil {
			return nil, fmt.Errorf("load client certificate %s: %w", id.File, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true}}, nil
}

// httpGet expects 200 and hands the body to check (if any).
func httpGet(ctx context.Context, hc *http.Client, url string, check func([]byte) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if check != nil {
		return check(body)
	}
	return nil
}

// portFree reports whether nothing listens on 127.0.0.1:port.
// waitPortFree reports whether port is free on 127.0.0.1. When the stack
// recorded a process for it that is now gone (a killed run), the kernel may
// still be tearing that process's sockets down, so it waits up to 5 s.
func waitPortFree(ctx context.Context, port int, stale bool) bool {
	if portFree(port) || !stale {
		return portFree(port)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
		if portFree(port) {
			return true
		}
	}
	return false
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
