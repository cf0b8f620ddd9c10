package devcluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	sdkclient "go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"
	"sigs.k8s.io/yaml"

	"github.com/dayops/dayops/internal/devcluster/atomicfile"
	"github.com/dayops/dayops/internal/devcluster/devpki"
	"github.com/dayops/dayops/internal/devcluster/devproc"
	"github.com/dayops/dayops/internal/searchattr"
	"github.com/dayops/dayops/internal/temporaltls"
)

// Temporal modes (Config.Temporal, --temporal).
const (
	TemporalDev    = "dev"
	TemporalServer = "server"
)

// TemporalNamespace is the namespace dayops uses; the dev server makes it at
// start, the server mode's setup registers it.
const TemporalNamespace = "default"

// temporalRetention is how long the server mode keeps closed workflows.
const temporalRetention = 72 * time.Hour

var (
	temporalSchemaMain       = "postgresql/v12/temporal"
	temporalSchemaVisibility = "postgresql/v12/visibility"
)

// TemporalAuth is the server mode's authorization (Temporal's
// global.authorization): the default authorizer and the default JWT claim
// mapper, which reads an API key sent as "Authorization: Bearer JWT",
// checks its signature against the keys served at KeySourceURIs (a JWKS)
// and grants the roles its permissions claim lists, e.g.
// ["default:write"] or ["temporal-system:admin"] (system-wide). A call
// without a key, or with a key that grants too little, is refused
// (PermissionDenied); health checks are always allowed.
//
// The server's own worker service then reaches the frontend through an
// internal frontend (two more ports, see TemporalServerPorts) that trusts
// its callers, as Temporal documents for servers with authorization.
type TemporalAuth struct {
	// KeySourceURIs serve the JWKS whose keys sign the API keys.
	KeySourceURIs []string
	// PermissionsClaimName is the claim listing the permissions (default
	// "permissions").
	PermissionsClaimName string
	// AdminAPIKey is what dayops-dev's own calls send (health probe,
	// namespace and search attribute registration); it needs
	// temporal-system:admin.
	AdminAPIKey string
}

// TemporalServerPorts are the server mode's ports on 127.0.0.1, by service:
// the frontend's gRPC port is TemporalPort, the history, matching and worker
// services' gRPC ports the next three, and the four services' membership
// (ringpop) ports the four after those. With TemporalAuth, the internal
// frontend's gRPC and membership ports follow.
func (c Config) TemporalServerPorts() map[string]int {
	p := c.TemporalPort
	ports := map[string]int{
		"frontend": p, "history": p + 1, "matching": p + 2, "worker": p + 3,
		"frontend membership": p + 4, "history membership": p + 5, "matching membership": p + 6, "worker membership": p + 7,
	}
	if c.TemporalAuth != nil {
		ports["internal-frontend"], ports["internal-frontend membership"] = p+8, p+9
	}
	return ports
}

// TemporalDatabases are the server mode's PostgreSQL databases, named after
// the stack's DatabaseURL so that two stacks never share one: DBNAME_temporal
// and DBNAME_temporal_visibility.
func (c Config) TemporalDatabases() (main, visibility string) {
	name := "dayops"
	if cc, err := pgx.ParseConfig(c.DatabaseURL); err == nil && cc.Database != "" {
		name = cc.Database
	}
	return name + "_temporal", name + "_temporal_visibility"
}

// TemporalTLS is dayops' client side of the server mode's mutual TLS; the
// zero Files (plain TCP) in dev mode.
func (c Config) TemporalTLS() temporaltls.Files {
	if c.Temporal != TemporalServer {
		return temporaltls.Files{}
	}
	return temporaltls.Files{
		Cert:       filepath.Join(c.pkiDir(), devpki.TemporalClientID.File+".crt"),
		Key:        filepath.Join(c.pkiDir(), devpki.TemporalClientID.File+".key"),
		CA:         filepath.Join(c.pkiDir(), devpki.CACert),
		ServerName: devpki.TemporalServerName,
	}
}

// TemporalInternodeTLS is the server mode's internode identity as a client
// sees it: the certificate that the history and matching services serve
// with and require from their callers (frontend, worker service and one
// another), the CA that signed it, and the name it holds. Tests use it to reach those
// services directly; dayops never does.
func (c Config) TemporalInternodeTLS() temporaltls.Files {
	return temporaltls.Files{
		Cert:       filepath.Join(c.pkiDir(), devpki.TemporalInternodeFile+".crt"),
		Key:        filepath.Join(c.pkiDir(), devpki.TemporalInternodeFile+".key"),
		CA:         filepath.Join(c.pkiDir(), devpki.CACert),
		ServerName: devpki.TemporalServerName,
	}
}

func (c Config) temporalServerDir() string { return c.path("temporal-server") }

// temporalServerArgs starts all four services from the config that
// prepareTemporalServer wrote (ROOT/config/dayops.yaml).
func (c Config) temporalServerArgs() []string {
	args := []string{filepath.Join(c.BinDir, "temporal-server"),
		"--root", c.temporalServerDir(), "--config", "config", "--env", "dayops", "--allow-no-auth",
		"start"}
	if c.TemporalAuth != nil {
		for _, s := range []string{"frontend", "internal-frontend", "history", "matching", "worker"} {
			args = append(args, "--service", s)
		}
	}
	return args
}

// prepareTemporalServer creates the server mode's databases, sets up or
// updates their schema with Temporal's own SQL tool (the schema is the one
// embedded in bin/temporal-sql-tool, so it always matches the server's
// version), and writes the server's config. Every step is idempotent.
func prepareTemporalServer(ctx context.Context, c Config) error {
	cc, err := pgx.ParseConfig(c.DatabaseURL)
	if err != nil {
		return fmt.Errorf("parse database URL: %w", err)
	}
	mainDB, visDB := c.TemporalDatabases()
	for _, db := range []struct{ name, schema string }{{mainDB, temporalSchemaMain}, {visDB, temporalSchemaVisibility}} {
		u, err := withDatabase(c.DatabaseURL, db.name)
		if err != nil {
			return err
		}
		if err := ensureDatabase(ctx, u); err != nil {
			return err
		}
		// setup-schema -v 0.0 only makes the version tables when they are
		// missing (it leaves a later version alone); update-schema then
		// applies the versions above the database's.
		for _, args := range [][]string{
			{"setup-schema", "-v", "0.0"},
			{"update-schema", "--schema-name", db.schema},
		} {
			if err := runSQLTool(ctx, c, cc, db.name, args...); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(filepath.Join(c.temporalServerDir(), "config"), 0o755); err != nil {
		return fmt.Errorf("create temporal server config dir: %w", err)
	}
	dyn, err := yaml.Marshal(temporalDynamicConfig(c))
	if err != nil {
		return fmt.Errorf("encode temporal dynamic config: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(c.temporalServerDir(), "dynamicconfig.yaml"), dyn, 0o644); err != nil {
		return err
	}
	// 0600: the config may hold the database password.
	conf, err := yaml.Marshal(temporalServerConfig(c, cc))
	if err != nil {
		return fmt.Errorf("encode temporal server config: %w", err)
	}
	return atomicfile.Write(filepath.Join(c.temporalServerDir(), "config", "dayops.yaml"), conf, 0o600)
}

// runSQLTool runs bin/temporal-sql-tool against db, its output appended to
// STATE/logs/temporal-sql-tool.log. The password travels in SQL_PASSWORD,
// not on the command line.
func runSQLTool(ctx context.Context, c Config, cc *pgx.ConnConfig, db string, args ...string) error {
	logPath := c.LogPath("temporal-sql-tool")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	full := append([]string{"--plugin", "postgres12_pgx", "--endpoint", cc.Host, "--port", strconv.Itoa(int(cc.Port)),
		"--user", cc.User, "--database", db}, args...)
	fmt.Fprintf(logf, "\n==== %s dayops-dev: temporal-sql-tool %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(full, " "))
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "temporal-sql-tool"), full...)
	cmd.Env = append(os.Environ(), "SQL_PASSWORD="+cc.Password)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("temporal-sql-tool %s on %s: %w; last lines of %s:\n%s", args[0], db, err, logPath, devproc.Tail(logPath, 15))
	}
	return nil
}

// withDatabase returns url with its database replaced by name.
func withDatabase(raw, name string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parse database URL: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

// temporalDynamicConfig is the dev server's tuning (see the Temporal
// component) plus what `temporal server start-dev` sets by default: search
// attributes visible at once, and the persistence rate limits that this
// needs.
func temporalDynamicConfig(c Config) map[string][]map[string]any {
	values := map[string]any{
		"matching.numTaskqueueReadPartitions":            1,
		"matching.numTaskqueueWritePartitions":           1,
		"system.enableActivityEagerExecution":            true,
		"system.forceSearchAttributesCacheRefreshOnRead": true,
		"frontend.persistenceMaxQPS":                     10000,
		"history.persistenceMaxQPS":                      45000,
		"frontend.namespaceRPS.visibility":               100,
		"system.namespaceCacheRefreshInterval":           "1s",
		"history.hostLevelCacheMaxSize":                  8096,
		// No HTTP API port: Nexus would only warn that it cannot start.
		"system.enableNexus":                                  false,
		"frontend.enableUpdateWorkflowExecution":              true,
		"frontend.enableUpdateWorkflowExecutionAsyncAccepted": true,
	}
	out := map[string][]map[string]any{}
	for k, v := range values {
		out[k] = []map[string]any{{"value": v}}
	}
	return out
}

// temporalServerConfig is Temporal's server config (go.temporal.io/server
// common/config) for one process running the four services on 127.0.0.1,
// with PostgreSQL persistence, a frontend that requires client certificates
// signed by the stack's CA, and mutual TLS between the services
// (global.tls.internode): the history and matching services' gRPC ports take
// only callers presenting a certificate of the stack's CA, and the callers
// (frontend, history, matching, worker) verify theirs. Any certificate of
// the stack's CA passes, as for the frontend: the CA is the local stack's
// single trust root. Membership (ringpop) gossip on the membership ports
// is not TLS in Temporal; those ports bind to 127.0.0.1 only.
func temporalServerConfig(c Config, cc *pgx.ConnConfig) map[string]any {
	pki := func(f string) string { return filepath.Join(c.pkiDir(), f) }
	mainDB, visDB := c.TemporalDatabases()
	store := func(db string, conns int) map[string]any {
		return map[string]any{"sql": map[string]any{
			"pluginName":      "postgres12_pgx",
			"databaseName":    db,
			"connectAddr":     fmt.Sprintf("%s:%d", cc.Host, cc.Port),
			"connectProtocol": "tcp",
			"user":            cc.User,
			"password":        cc.Password,
			"maxConns":        conns,
			"maxIdleConns":    conns,
			"maxConnLifetime": "1h",
		}}
	}
	ports := c.TemporalServerPorts()
	service := func(name string) map[string]any {
		return map[string]any{"rpc": map[string]any{
			"grpcPort":        ports[name],
			"membershipPort":  ports[name+" membership"],
			"bindOnLocalHost": true,
		}}
	}
	toFrontend := map[string]any{"serverName": devpki.TemporalServerName, "rootCaFiles": []string{pki(devpki.CACert)}}
	services := map[string]any{
		"frontend": service("frontend"),
		"history":  service("history"),
		"matching": service("matching"),
		"worker":   service("worker"),
	}
	global := map[string]any{
		"membership": map[string]any{"maxJoinDuration": "30s", "broadcastAddress": "127.0.0.1"},
		"tls": map[string]any{
			"frontend": map[string]any{
				"server": map[string]any{
					"certFile":          pki(devpki.TemporalFrontendFile + ".crt"),
					"keyFile":           pki(devpki.TemporalFrontendFile + ".key"),
					"clientCaFiles":     []string{pki(devpki.CACert)},
					"requireClientAuth": true,
				},
				"client": toFrontend,
			},
			"internode": map[string]any{
				"server": map[string]any{
					"certFile":          pki(devpki.TemporalInternodeFile + ".crt"),
					"keyFile":           pki(devpki.TemporalInternodeFile + ".key"),
					"clientCaFiles":     []string{pki(devpki.CACert)},
					"requireClientAuth": true,
				},
				"client": map[string]any{"serverName": devpki.TemporalServerName, "rootCaFiles": []string{pki(devpki.CACert)}},
			},
			"systemWorker": map[string]any{
				"certFile": pki(devpki.TemporalSystemWorkerID.File + ".crt"),
				"keyFile":  pki(devpki.TemporalSystemWorkerID.File + ".key"),
				"client":   toFrontend,
			},
		},
	}
	if a := c.TemporalAuth; a != nil {
		services["internal-frontend"] = service("internal-frontend")
		global["authorization"] = map[string]any{
			"authorizer":           "default",
			"claimMapper":          "default",
			"permissionsClaimName": cmp.Or(a.PermissionsClaimName, "permissions"),
			"jwtKeyProvider":       map[string]any{"keySourceURIs": a.KeySourceURIs, "refreshInterval": "1m"},
		}
	}
	return map[string]any{
		"log": map[string]any{"stdout": true, "level": "warn"},
		"persistence": map[string]any{
			"defaultStore":     "default",
			"visibilityStore":  "visibility",
			"numHistoryShards": 4,
			"datastores": map[string]any{
				"default":    store(mainDB, 20),
				"visibility": store(visDB, 10),
			},
		},
		"global":   global,
		"services": services,
		"clusterMetadata": map[string]any{
			"enableGlobalNamespace":    false,
			"failoverVersionIncrement": 10,
			"masterClusterName":        "active",
			"currentClusterName":       "active",
			"clusterInformation": map[string]any{
				"active": map[string]any{
					"enabled":                true,
					"initialFailoverVersion": 1,
					"rpcName":                "frontend",
					"rpcAddress":             c.temporalAddr(),
				},
			},
		},
		"dcRedirectionPolicy": map[string]any{"policy": "noop"},
		"dynamicConfigClient": map[string]any{
			"filepath":     filepath.Join(c.temporalServerDir(), "dynamicconfig.yaml"),
			"pollInterval": "10s",
		},
	}
}

// dialTemporal dials the stack's frontend, over mutual TLS in server mode
// (with the admin API key under TemporalAuth).
func dialTemporal(ctx context.Context, c Config, namespace string) (sdkclient.Client, error) {
	tc, err := c.TemporalTLS().Config()
	if err != nil {
		return nil, err
	}
	opts := sdkclient.Options{
		HostPort:          c.temporalAddr(),
		Namespace:         namespace,
		Logger:            sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
		ConnectionOptions: sdkclient.ConnectionOptions{TLS: tc},
	}
	if c.TemporalAuth != nil {
		opts.Credentials = sdkclient.NewAPIKeyStaticCredentials(c.TemporalAuth.AdminAPIKey)
	}
	cl, err := sdkclient.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("dial temporal: %w", err)
	}
	return cl, nil
}

// probeTemporalServer checks the frontend's health over mutual TLS.
func probeTemporalServer(ctx context.Context, c Config, _ devproc.Record) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cl, err := dialTemporal(ctx, c, TemporalNamespace)
	if err != nil {
		return err
	}
	defer cl.Close()
	if _, err := cl.CheckHealth(ctx, &sdkclient.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("temporal health: %w", err)
	}
	return nil
}

// setupTemporalServer registers TemporalNamespace and dayops' search
// attributes in it, and waits until both are visible, retrying while the
// services finish joining. Both steps accept "already there".
func setupTemporalServer(ctx context.Context, c Config) error {
	ctx, cancel := context.WithTimeout(ctx, c.StartTimeout)
	defer cancel()
	var last error
	for {
		if last = registerTemporalNamespace(ctx, c); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("register Temporal namespace %q and search attributes: %w", TemporalNamespace, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func registerTemporalNamespace(ctx context.Context, c Config) error {
	cl, err := dialTemporal(ctx, c, TemporalNamespace)
	if err != nil {
		return err
	}
	defer cl.Close()
	ws := cl.WorkflowService()
	_, err = ws.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: TemporalNamespace})
	var notFound *serviceerror.NamespaceNotFound
	if errors.As(err, &notFound) {
		_, err = ws.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        TemporalNamespace,
			Description:                      "dayops (registered by dayops-dev dev up)",
			WorkflowExecutionRetentionPeriod: durationpb.New(temporalRetention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("register namespace: %w", err)
		}
		// Visible once the frontend's namespace cache has refreshed.
		return fmt.Errorf("namespace %q registered, not yet visible", TemporalNamespace)
	}
	if err != nil {
		return fmt.Errorf("describe namespace: %w", err)
	}
	added, err := searchattr.Register(ctx, cl.OperatorService(), TemporalNamespace)
	if err != nil || len(added) == 0 {
		return err
	}
	// Checked again on the next round.
	return fmt.Errorf("search attributes %v added, not yet listed", added)
}
