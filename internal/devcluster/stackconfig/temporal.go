package stackconfig

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"

	"github.com/dayops/dayops/internal/devcluster/devpki"
	"github.com/dayops/dayops/internal/temporaltls"
	"github.com/jackc/pgx/v5"
)

// Temporal modes (Config.Temporal, --temporal).
const (
	TemporalDev    = "dev"
	TemporalServer = "server"
)

// TemporalNamespace is the namespace dayops uses; the dev server makes it at
// start, the server mode's setup registers it.
const TemporalNamespace = "default"

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
		Cert:       filepath.Join(c.PKIDir(), devpki.TemporalClientID.File+".crt"),
		Key:        filepath.Join(c.PKIDir(), devpki.TemporalClientID.File+".key"),
		CA:         filepath.Join(c.PKIDir(), devpki.CACert),
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
		Cert:       filepath.Join(c.PKIDir(), devpki.TemporalInternodeFile+".crt"),
		Key:        filepath.Join(c.PKIDir(), devpki.TemporalInternodeFile+".key"),
		CA:         filepath.Join(c.PKIDir(), devpki.CACert),
		ServerName: devpki.TemporalServerName,
	}
}

func (c Config) TemporalServerDir() string { return c.Path("temporal-server") }

// TemporalServerArgs starts all four services from the config that
// prepareTemporalServer wrote (ROOT/config/dayops.yaml).
func (c Config) TemporalServerArgs() []string {
	args := []string{filepath.Join(c.BinDir, "temporal-server"),
		"--root", c.TemporalServerDir(), "--config", "config", "--env", "dayops", "--allow-no-auth",
		"start"}
	if c.TemporalAuth != nil {
		for _, s := range []string{"frontend", "internal-frontend", "history", "matching", "worker"} {
			args = append(args, "--service", s)
		}
	}
	return args
}

// TemporalTuning returns the dynamic config both Temporal modes of the
// stack run with (a fresh map each call: neither mode can change the
// other's). The values were measured by `dayops-dev bench steps` (a step
// is a workflow task that schedules an activity, the activity, and its
// completion), except the visibility queue's limit, which is the same
// limiter as the transfer queue's and was set with it, not measured alone:
//   - one partition per task queue, so that a task meets the single local
//     poller at once instead of being forwarded between partitions, and
//     eager activities, handed to the worker with the workflow task that
//     schedules them: together ~100 ms -> ~50 ms per step;
//   - the history service reads its transfer and visibility queues at most
//     history.*ProcessorMaxPollRPS times a second per shard (default 20):
//     every step's next workflow task waited for the transfer queue's next
//     read, 50 ms at the default, the whole of a step's ~50 ms. 1000 reads a
//     second per shard are far within SQLite's and PostgreSQL's means here
//     (the reads are event-driven; the limit only spaces them): 14 ms per
//     step without the audit log, 17-19 ms with it (the dev server, SQLite
//     in rollback-journal mode, 2026-12-04). A production Temporal with few
//     history shards wants the same.
func TemporalTuning() map[string]any {
	return map[string]any{
		"matching.numTaskqueueReadPartitions":   1,
		"matching.numTaskqueueWritePartitions":  1,
		"system.enableActivityEagerExecution":   true,
		"history.transferProcessorMaxPollRPS":   1000,
		"history.visibilityProcessorMaxPollRPS": 1000,
	}
}

// TemporalDynamicConfig is TemporalTuning plus what `temporal server
// start-dev` sets by default: search attributes visible at once, and the
// persistence rate limits that this needs.
func (c Config) TemporalDynamicConfig() map[string][]map[string]any {
	values := map[string]any{
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
	maps.Copy(values, TemporalTuning())
	out := map[string][]map[string]any{}
	for k, v := range values {
		out[k] = []map[string]any{{"value": v}}
	}
	return out
}

// TemporalServerConfig is Temporal's server config (go.temporal.io/server
// common/config) for one process running the four services on 127.0.0.1,
// with PostgreSQL persistence, a frontend that requires client certificates
// signed by the stack's CA, and mutual TLS between the services
// (global.tls.internode): the history and matching services' gRPC ports take
// only callers presenting a certificate of the stack's CA, and the callers
// (frontend, history, matching, worker) verify theirs. Any certificate of
// the stack's CA passes, as for the frontend: the CA is the local stack's
// single trust root. Membership (ringpop) gossip on the membership ports
// is not TLS in Temporal; those ports bind to 127.0.0.1 only.
func (c Config) TemporalServerConfig(cc *pgx.ConnConfig) map[string]any {
	mainDB, visDB := c.TemporalDatabases()
	ports := c.TemporalServerPorts()
	service := func(name string) map[string]any {
		return map[string]any{"rpc": map[string]any{
			"grpcPort":        ports[name],
			"membershipPort":  ports[name+" membership"],
			"bindOnLocalHost": true,
		}}
	}
	services := map[string]any{
		"frontend": service("frontend"),
		"history":  service("history"),
		"matching": service("matching"),
		"worker":   service("worker"),
	}
	global := map[string]any{
		"membership": map[string]any{"maxJoinDuration": "30s", "broadcastAddress": "127.0.0.1"},
		"tls":        c.temporalTLSConfig(),
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
				"default":    temporalStore(cc, mainDB, 20),
				"visibility": temporalStore(cc, visDB, 10),
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
					"rpcAddress":             c.TemporalAddr(),
				},
			},
		},
		"dcRedirectionPolicy": map[string]any{"policy": "noop"},
		"dynamicConfigClient": map[string]any{
			"filepath":     filepath.Join(c.TemporalServerDir(), "dynamicconfig.yaml"),
			"pollInterval": "10s",
		},
	}
}

// temporalTLSConfig is global.tls of the server config: the frontend's and the
// internode TLS, and the system worker's client certificate.
func (c Config) temporalTLSConfig() map[string]any {
	pki := func(f string) string { return filepath.Join(c.PKIDir(), f) }
	toFrontend := map[string]any{"serverName": devpki.TemporalServerName, "rootCaFiles": []string{pki(devpki.CACert)}}
	return map[string]any{
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
	}
}

// temporalStore is a SQL datastore of the server config on database db.
func temporalStore(cc *pgx.ConnConfig, db string, conns int) map[string]any {
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
