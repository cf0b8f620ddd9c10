// Package server wires dayops' processes: the Temporal worker (workflows,
// activities, the audit step interceptor, the operation propagator), the REST
// API and the audit projector, from one typed Config.
//
// Contract: Config.Validate reports every problem at once; Run builds every
// client from the Config, runs what Config.Roles asks for until ctx ends, then
// stops the API (draining for up to 10 s) and the worker, and returns.
package server

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/activities/hooks"
	"github.com/dayops/dayops/internal/callauth"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/temporaltls"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Config of a dayops server process. Each field's doc names its variable.
type Config struct {
	// Roles to run: "api", "worker" or both (DAYOPS_ROLES, default "api,worker").
	Roles []string
	// APIURL is where the API listens, http://HOST:PORT (DAYOPS_API,
	// default http://127.0.0.1:8080).
	APIURL string
	// TemporalAddress is the Temporal frontend host:port (TEMPORAL_ADDRESS,
	// default 127.0.0.1:7233).
	TemporalAddress string
	// TemporalNamespace (TEMPORAL_NAMESPACE, default "default").
	TemporalNamespace string
	// TemporalTLS are the client certificate, key and CA of a frontend that
	// requires mutual TLS (TEMPORAL_TLS_CLIENT_CERT_PATH,
	// TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH,
	// TEMPORAL_TLS_SERVER_NAME: the Temporal CLI's names). None set: plain
	// TCP.
	TemporalTLS temporaltls.Files
	// TemporalAPIKey is sent as "Authorization: Bearer KEY" on every call
	// to a frontend with API-key authorization (TEMPORAL_API_KEY, the
	// Temporal CLI's name, or TEMPORAL_API_KEY_FILE, a file such as a
	// mounted Secret, read again when it changes). A key implies TLS: with
	// no TLS files the frontend is verified against the system's roots. The
	// key is never logged.
	TemporalAPIKey temporaltls.APIKey
	// TaskQueue the worker polls and the API starts workflows on
	// (DAYOPS_TASK_QUEUE, default "dayops").
	TaskQueue string
	// TemporalUI is the Web UI's base URL, for links (TEMPORAL_UI).
	TemporalUI string
	// Kubeconfig is the kubeconfig file (KUBECONFIG); empty means in-cluster
	// configuration.
	Kubeconfig string
	// DatabaseURL is the audit log's PostgreSQL (DATABASE_URL, required).
	DatabaseURL string
	// Tokens are the API's bearer tokens, "token=subject:role,..."
	// (DAYOPS_API_TOKENS, required for the api role).
	Tokens string
	// AuditSigningKey is the path of the Ed25519 PEM private key that signs
	// audit checkpoints; when empty, DAYOPS_AUDIT_SIGNING_KEY (a path or the
	// key itself, as `dayops audit` reads it) is used, and without either the
	// chain is hashed but not signed. `dayops audit keygen` makes a key.
	AuditSigningKey string
	// BackupStore is where backups go (DAYOPS_BACKUP_STORE): an absolute
	// path or file:///path (a directory, e.g. a mounted volume), or
	// s3://BUCKET/PREFIX?endpoint=HOST:PORT[&insecure=true][&region=R] with
	// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. When empty,
	// DAYOPS_BACKUP_STORE is read at Connect; without either, backup and
	// restore requests are refused.
	BackupStore string
	// BackupServeHost is the address the worker serves RDB files on to
	// restore's temporary instances (DAYOPS_BACKUP_SERVE_HOST, default: the
	// worker's address on the route to each instance).
	BackupServeHost string
	// InstanceImage is the image of the dayops binary that Redis Pods run
	// redis-server under: an init container copies the binary from it and
	// `dayops instance run` fences a restarted former primary whose data is
	// behind its replicas (DAYOPS_INSTANCE_IMAGE, default "dayops:dev", which
	// the local stack's node agent maps to bin/dayops; "none" renders Pods
	// without the instance manager). Only new and recreated Pods change.
	InstanceImage string
	// Namespaces are the Kubernetes namespaces dayops manages
	// (DAYOPS_NAMESPACES, comma-separated). With a list, dayops only ever
	// reads and writes inside those namespaces (and reads Nodes and
	// Namespaces), so namespaced Roles in each of them suffice (see
	// deploy/); admission refuses a cluster in any other namespace. Empty:
	// every namespace, which needs a ClusterRole that lists ConfigMaps
	// cluster-wide.
	Namespaces []string
	// HealthAddr is where a process without the api role serves /healthz
	// and /readyz for its probes (DAYOPS_HEALTH_ADDR, host:port, e.g.
	// ":8081"). Empty: not served. The API serves both on its own port.
	HealthAddr string
	// PprofAddr is where the process serves Go's profiler, net/http/pprof
	// under /debug/pprof/ (DAYOPS_PPROF_ADDR, host:port, e.g.
	// "127.0.0.1:6060"), on a listener of its own. Empty (the default): not
	// served. It answers anyone who reaches it: keep it on loopback (or reach
	// it with kubectl port-forward).
	PprofAddr string
	// HookAllow names what HTTP hooks may reach although it is loopback,
	// link-local (cloud metadata) or the Kubernetes API server
	// (DAYOPS_HOOK_ALLOW): comma-separated IP addresses, CIDR prefixes and
	// address:port endpoints, e.g. "127.0.0.1" for hooks served on the
	// worker's host. Empty: none of them.
	HookAllow string
	// CallKeys sign the signals and updates the API sends to running
	// operations (an upgrade's approve, abort, pause, resume) and let the
	// worker refuse any that did not come through the API
	// (DAYOPS_CALL_KEYS): comma-separated, each at least 32 bytes; the first
	// signs, all verify (rotation). API and workers must share them. Empty:
	// nothing is signed or checked, and a warning says so at start.
	CallKeys string
	// MigrationLatencyBudget is how much slot migration may add to the
	// primaries' round trip before it slows itself down
	// (DAYOPS_MIGRATION_LATENCY_BUDGET: a duration such as 1ms, the default,
	// or "off" for the fixed, fastest concurrency; see docs/slot-migration.md).
	MigrationLatencyBudget string
}

// FromEnv reads the Config from the environment, with defaults.
func FromEnv() Config {
	c := Config{
		Roles:                  splitList(envOr("DAYOPS_ROLES", "api,worker")),
		APIURL:                 envOr("DAYOPS_API", "http://127.0.0.1:8080"),
		TemporalAddress:        envOr("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		TemporalNamespace:      envOr("TEMPORAL_NAMESPACE", "default"),
		TemporalTLS:            temporaltls.FromEnv(),
		TemporalAPIKey:         temporaltls.APIKeyFromEnv(),
		TaskQueue:              envOr("DAYOPS_TASK_QUEUE", "dayops"),
		TemporalUI:             os.Getenv("TEMPORAL_UI"),
		Kubeconfig:             os.Getenv("KUBECONFIG"),
		DatabaseURL:            os.Getenv("DATABASE_URL"),
		Tokens:                 os.Getenv("DAYOPS_API_TOKENS"),
		BackupStore:            os.Getenv(EnvBackupStore),
		BackupServeHost:        os.Getenv("DAYOPS_BACKUP_SERVE_HOST"),
		InstanceImage:          envOr("DAYOPS_INSTANCE_IMAGE", DefaultInstanceImage),
		HookAllow:              os.Getenv("DAYOPS_HOOK_ALLOW"),
		Namespaces:             splitList(os.Getenv("DAYOPS_NAMESPACES")),
		HealthAddr:             os.Getenv("DAYOPS_HEALTH_ADDR"),
		PprofAddr:              os.Getenv("DAYOPS_PPROF_ADDR"),
		CallKeys:               os.Getenv(EnvCallKeys),
		MigrationLatencyBudget: os.Getenv(EnvMigrationLatencyBudget),
	}
	return c
}

// TemporalConnection is how the API and the worker reach the Temporal
// frontend: TLS files and API key.
func (c Config) TemporalConnection() temporaltls.Connection {
	return temporaltls.Connection{TLS: c.TemporalTLS, APIKey: c.TemporalAPIKey}
}

// Has reports whether role is to run.
func (c Config) Has(role string) bool { return slices.Contains(c.Roles, role) }

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Roles) == 0 {
		errs = append(errs, errors.New("DAYOPS_ROLES: name at least one of api, worker"))
	}
	for _, r := range c.Roles {
		if r != "api" && r != "worker" {
			errs = append(errs, fmt.Errorf("DAYOPS_ROLES: unknown role %q (api, worker)", r))
		}
	}
	if c.Has("api") {
		if u, err := url.Parse(c.APIURL); err != nil || u.Scheme != "http" || u.Host == "" {
			errs = append(errs, fmt.Errorf("DAYOPS_API: %q must be http://HOST:PORT", c.APIURL))
		}
		if c.Tokens == "" {
			errs = append(errs, errors.New("DAYOPS_API_TOKENS: the API needs at least one token (token=subject:role)"))
		} else if _, err := httpapi.ParseTokens(c.Tokens); err != nil {
			// Refused at start: short, empty and placeholder tokens.
			errs = append(errs, fmt.Errorf("DAYOPS_API_TOKENS: %w", err))
		}
	}
	if c.TaskQueue == "" {
		errs = append(errs, errors.New("DAYOPS_TASK_QUEUE must not be empty"))
	}
	if c.TemporalAddress == "" {
		errs = append(errs, errors.New("TEMPORAL_ADDRESS is required"))
	}
	if err := c.TemporalConnection().Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL is required (the audit log's PostgreSQL)"))
	}
	if c.Kubeconfig != "" {
		if _, err := os.Stat(c.Kubeconfig); err != nil {
			errs = append(errs, fmt.Errorf("KUBECONFIG: %w", err))
		}
	}
	for _, ns := range c.Namespaces {
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("DAYOPS_NAMESPACES: %q is not a namespace name: %s", ns, strings.Join(msgs, "; ")))
		}
	}
	if c.HealthAddr != "" {
		if _, _, err := net.SplitHostPort(c.HealthAddr); err != nil {
			errs = append(errs, fmt.Errorf("DAYOPS_HEALTH_ADDR: %q must be HOST:PORT or :PORT: %w", c.HealthAddr, err))
		}
	}
	if c.PprofAddr != "" {
		if _, _, err := net.SplitHostPort(c.PprofAddr); err != nil {
			errs = append(errs, fmt.Errorf("DAYOPS_PPROF_ADDR: %q must be HOST:PORT or :PORT: %w", c.PprofAddr, err))
		}
	}
	if _, _, err := hooks.ParseAllow(c.HookAllow); err != nil {
		errs = append(errs, fmt.Errorf("DAYOPS_HOOK_ALLOW: %w", err))
	}
	if _, err := MigrationLimits(c.MigrationLatencyBudget); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvMigrationLatencyBudget, err))
	}
	if _, err := callauth.ParseKeys(c.CallKeys); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", EnvCallKeys, err))
	}
	return errors.Join(errs...)
}

// DefaultInstanceImage is Config.InstanceImage's default.
const DefaultInstanceImage = "dayops:dev"

// EnvMigrationLatencyBudget is the variable of Config.MigrationLatencyBudget.
const EnvMigrationLatencyBudget = "DAYOPS_MIGRATION_LATENCY_BUDGET"

// MigrationLimits turns Config.MigrationLatencyBudget into the mover's
// limits: "" keeps the defaults, "off" turns the budget off, a duration
// between 100µs and 1s sets it.
func MigrationLimits(budget string) (clusteradmin.Limits, error) {
	var l clusteradmin.Limits
	switch budget {
	case "":
		return l, nil
	case "off":
		l.LatencyBudgetOff = true
		return l, nil
	}
	d, err := time.ParseDuration(budget)
	if err != nil || d < 100*time.Microsecond || d > time.Second {
		return l, fmt.Errorf("%q must be \"off\" or a duration between 100µs and 1s (e.g. 1ms)", budget)
	}
	l.LatencyBudget = d
	return l, nil
}

// EnvCallKeys is the variable of Config.CallKeys.
const EnvCallKeys = "DAYOPS_CALL_KEYS"

// EnvBackupStore is the variable of Config.BackupStore.
const EnvBackupStore = "DAYOPS_BACKUP_STORE"

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
