// Package stackconfig is the configuration of the local stack (dayops-dev
// dev up): ports, state dir layout, Temporal mode, and the paths derived
// from them.
package stackconfig

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/devcluster/devpki"
)

// ModulePath is the main module's path; FindRoot looks for its go.mod.
const ModulePath = "github.com/dayops/dayops"

// Config describes the local stack. DefaultConfig fills every field; the
// `dayops-dev dev` flag that overrides a field is named in its comment.
type Config struct {
	// Root is the repository root: bin/ and the default state dir live
	// under it (found by FindRoot).
	Root string
	// StateDir holds everything the stack writes: PKI, kubeconfigs, etcd
	// data, the Temporal SQLite file, logs, pids, dev.env (--state-dir,
	// default ROOT/.dayops).
	StateDir string
	// BinDir holds temporal, kube and kubectl as built by
	// scripts/build-tools.sh (--bin-dir, default ROOT/bin).
	BinDir string
	// DevBin is the development binary that runs the node agent
	// (`dayops-dev dev agent`). Default: BinDir/dayops-dev.
	DevBin string
	// DayopsBin is the product binary, handed to the node agent
	// (--dayops-binary) for Pods whose image is dayops itself. Default:
	// BinDir/dayops.
	DayopsBin string

	// Temporal is the Temporal mode (--temporal): TemporalDev (default), the
	// CLI's dev server on SQLite with its Web UI; or TemporalServer,
	// Temporal's own server (frontend, history, matching and worker
	// services) on the machine's PostgreSQL, its frontend requiring mutual
	// TLS, without a Web UI.
	Temporal string
	// TemporalOnly starts Temporal alone (--temporal-only): no Kubernetes
	// control plane and no node agent.
	TemporalOnly bool
	// TemporalPort is the Temporal frontend gRPC port on 127.0.0.1 and
	// TemporalUIPort the dev server's Web UI port (--temporal-port,
	// --temporal-ui-port). In server mode the history, matching and worker
	// services and the four membership ports take the eight ports after
	// TemporalPort (see TemporalServerPorts).
	TemporalPort   int
	TemporalUIPort int
	// TemporalAuth turns on the server mode's authorization: clients then
	// need an API key (a JWT) besides their certificate. Tests set it (no
	// flag); nil: every client with a certificate of the stack's CA may do
	// anything.
	TemporalAuth *TemporalAuth
	// EtcdPort and EtcdPeerPort are etcd's client and peer ports
	// (--etcd-port; the peer port is EtcdPort+1 unless set).
	EtcdPort     int
	EtcdPeerPort int
	// APIServerPort is kube-apiserver's secure port (--apiserver-port).
	APIServerPort int
	// ControllerManagerPort and SchedulerPort serve only /healthz here
	// (--controller-manager-port, --scheduler-port).
	ControllerManagerPort int
	SchedulerPort         int
	// ServiceCIDR is the Service cluster IP range (--service-cidr).
	ServiceCIDR string
	// PodCIDR is routed to the loopback device so that every pod has an
	// address of its own (--pod-cidr).
	PodCIDR string

	// Zones and NodesPerZone are passed to the node agent (--zones,
	// --nodes-per-zone); `up` waits for Zones*NodesPerZone Ready Nodes.
	Zones        int
	NodesPerZone int
	// AgentArgs are extra flags for `dayops-dev dev agent` (--agent-arg,
	// repeatable), e.g. --node-prefix and --subnet-offset for a second
	// stack beside the default one.
	AgentArgs []string
	// NoAgent starts the control plane and Temporal without the node agent
	// (--no-agent): Pods then stay Pending.
	NoAgent bool

	// DatabaseURL is dayops' PostgreSQL database, created if absent
	// (--database-url, env DATABASE_URL).
	DatabaseURL string
	// APIURL is where `dayops-dev run` serves the dayops API (--api-url,
	// env DAYOPS_API). dev up only records it in dev.env.
	APIURL string

	// StartTimeout bounds the wait for each component to become healthy
	// (--start-timeout).
	StartTimeout time.Duration
	// StopGrace is how long Down waits after SIGTERM before SIGKILL
	// (--stop-grace).
	StopGrace time.Duration

	// Logger receives progress logs. Default: slog.Default().
	Logger *slog.Logger
}

// Default returns the defaults for a repository rooted at root.
func Default(root string) Config {
	return Config{
		Root:                  root,
		Temporal:              TemporalDev,
		StateDir:              filepath.Join(root, ".dayops"),
		BinDir:                filepath.Join(root, "bin"),
		TemporalPort:          7233,
		TemporalUIPort:        8233,
		EtcdPort:              2379,
		EtcdPeerPort:          2380,
		APIServerPort:         6443,
		ControllerManagerPort: 10257,
		SchedulerPort:         10259,
		ServiceCIDR:           "10.96.0.0/16",
		PodCIDR:               "10.244.0.0/16",
		Zones:                 3,
		NodesPerZone:          2,
		DatabaseURL:           "postgres://postgres@127.0.0.1:5432/dayops?sslmode=disable",
		APIURL:                "http://127.0.0.1:8080",
		StartTimeout:          90 * time.Second,
		StopGrace:             15 * time.Second,
	}
}

// withDefaults fills what depends on other fields.
// WithDefaults fills the binaries and the logger when unset.
func (c Config) WithDefaults() Config {
	if c.DevBin == "" {
		c.DevBin = filepath.Join(c.BinDir, "dayops-dev")
	}
	if c.DayopsBin == "" {
		c.DayopsBin = filepath.Join(c.BinDir, "dayops")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if c.StateDir == "" {
		errs = append(errs, errors.New("state dir is required"))
	}
	if c.BinDir == "" {
		errs = append(errs, errors.New("bin dir is required"))
	}
	ports := map[string]int{
		"temporal port": c.TemporalPort, "temporal UI port": c.TemporalUIPort,
		"etcd port": c.EtcdPort, "etcd peer port": c.EtcdPeerPort, "apiserver port": c.APIServerPort,
		"controller-manager port": c.ControllerManagerPort, "scheduler port": c.SchedulerPort,
	}
	if c.Temporal == TemporalServer {
		sp := c.TemporalServerPorts()
		delete(ports, "temporal UI port") // no Web UI in server mode
		for _, name := range slices.Sorted(maps.Keys(sp)) {
			if name != "frontend" {
				ports["temporal "+name+" port (temporal port+"+strconv.Itoa(sp[name]-c.TemporalPort)+")"] = sp[name]
			}
		}
	}
	seen := map[int]string{}
	for _, name := range slices.Sorted(maps.Keys(ports)) {
		p := ports[name]
		if p <= 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s %d out of range", name, p))
			continue
		}
		if other, dup := seen[p]; dup {
			errs = append(errs, fmt.Errorf("%s and %s are both %d", other, name, p))
		}
		seen[p] = name
	}
	if c.Temporal != TemporalDev && c.Temporal != TemporalServer {
		errs = append(errs, fmt.Errorf("temporal mode %q: want %q or %q", c.Temporal, TemporalDev, TemporalServer))
	}
	if c.Zones < 1 || c.Zones > 26 {
		errs = append(errs, fmt.Errorf("zones must be 1..26, got %d", c.Zones))
	}
	if c.NodesPerZone < 1 || c.Zones*c.NodesPerZone > 254 {
		errs = append(errs, fmt.Errorf("nodes per zone must be at least 1 and zones x nodes at most 254, got %d", c.NodesPerZone))
	}
	if c.ServiceCIDR == "" || c.PodCIDR == "" {
		errs = append(errs, errors.New("service and pod CIDRs are required"))
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || u.Scheme == "" || strings.TrimPrefix(u.Path, "/") == "" {
		errs = append(errs, fmt.Errorf("database URL %q must be postgres://.../DBNAME", c.DatabaseURL))
	}
	if u, err := url.Parse(c.APIURL); err != nil || u.Host == "" {
		errs = append(errs, fmt.Errorf("API URL %q must be http://HOST:PORT", c.APIURL))
	}
	if c.StartTimeout <= 0 || c.StopGrace <= 0 {
		errs = append(errs, errors.New("start timeout and stop grace must be positive"))
	}
	return errors.Join(errs...)
}

// FindRoot walks up from dir to the directory whose go.mod declares
// ModulePath. It returns dir itself when there is none, so that a binary
// run outside a checkout keeps its state in the current directory.
func FindRoot(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	for d := abs; ; {
		if modulePathOf(filepath.Join(d, "go.mod")) == ModulePath {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return abs
		}
		d = parent
	}
}

func modulePathOf(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// Paths inside the state dir.
func (c Config) Path(elem ...string) string {
	return filepath.Join(append([]string{c.StateDir}, elem...)...)
}

// KubeconfigPath is the admin kubeconfig written by Up.
func (c Config) KubeconfigPath() string { return c.Path("kubeconfig") }

// EnvPath is the dev.env file written by Up.
func (c Config) EnvPath() string { return c.Path("dev.env") }

// LogPath is the log file of a component.
func (c Config) LogPath(component string) string { return c.Path("logs", component+".log") }

// PKIDir, StateFile, LockFile and the addresses below are derived from the
// state dir and ports.
func (c Config) PKIDir() string       { return c.Path("pki") }
func (c Config) StateFile() string    { return c.Path("stack.json") }
func (c Config) LockFile() string     { return c.Path("stack.lock") }
func (c Config) TemporalAddr() string { return fmt.Sprintf("127.0.0.1:%d", c.TemporalPort) }
func (c Config) TemporalUI() string {
	if c.Temporal == TemporalServer {
		return "" // the server mode runs no Web UI
	}
	return fmt.Sprintf("http://127.0.0.1:%d", c.TemporalUIPort)
}
func (c Config) APIServerURL() string { return fmt.Sprintf("https://127.0.0.1:%d", c.APIServerPort) }
func (c Config) EtcdURL() string      { return fmt.Sprintf("http://127.0.0.1:%d", c.EtcdPort) }

// kubeconfigFor is the kubeconfig file of an identity.
func (c Config) KubeconfigFor(id devpki.Identity) string {
	if id.File == devpki.AdminID.File {
		return c.KubeconfigPath()
	}
	return c.Path(id.File + ".kubeconfig")
}
