package benchkit

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/server"
	"github.com/dayops/dayops/internal/temporaltls"
)

// APIConfig configures StartAPI.
type APIConfig struct {
	// Name is the bench's: the task queue is dayops-<Name>-<random>.
	Name            string
	TemporalAddress string
	TemporalTLS     temporaltls.Files
	Kubeconfig      string
	// DatabaseURL is the bench's own database.
	DatabaseURL string
	// BackupStore is the backup store (empty: none).
	BackupStore string
}

// API is a dayops API (role api) served in this process for a bench, with
// an operator's and an auditor's client.
type API struct {
	Config   server.Config
	Deps     *server.Deps
	Operator *cli.Client
	Auditor  *cli.Client
	srv      *httptest.Server
}

// StartAPI connects to the stack and serves the API on a local port; Close
// stops it.
func StartAPI(ctx context.Context, c APIConfig, log *slog.Logger) (*API, error) {
	opTok, auTok := "op-"+Random()+Random(), "au-"+Random()+Random()
	scfg := server.Config{
		Roles: []string{"api"}, APIURL: "http://127.0.0.1:0",
		TemporalAddress: c.TemporalAddress, TemporalNamespace: "default", TemporalTLS: c.TemporalTLS,
		TaskQueue:  "dayops-" + c.Name + "-" + Random(),
		Kubeconfig: c.Kubeconfig, DatabaseURL: c.DatabaseURL,
		Tokens:      opTok + "=bench-operator:operator," + auTok + "=bench-auditor:auditor",
		BackupStore: c.BackupStore, HookAllow: "127.0.0.1",
		CallKeys: c.Name + "-call-key-" + Random() + Random() + Random(),
	}
	deps, err := server.Connect(ctx, scfg, log)
	if err != nil {
		return nil, err
	}
	api, err := deps.NewAPI(scfg)
	if err != nil {
		deps.Close()
		return nil, err
	}
	srv := httptest.NewServer(api.Handler())
	client := func(tok string) *cli.Client {
		return &cli.Client{Base: srv.URL, Token: tok, HTTP: &http.Client{Timeout: time.Minute}}
	}
	return &API{Config: scfg, Deps: deps, Operator: client(opTok), Auditor: client(auTok), srv: srv}, nil
}

// Close stops serving and closes the connections.
func (a *API) Close() {
	a.srv.Close()
	a.Deps.Close()
}

// WorkerEnv is the environment of a `dayops server --roles worker` process
// for this API's task queue, database and backup store; extra adds the
// Temporal address (and TLS).
func (a *API) WorkerEnv(extra ...string) []string {
	env := append(os.Environ(), "DAYOPS_ROLES=worker", "DAYOPS_TASK_QUEUE="+a.Config.TaskQueue,
		"KUBECONFIG="+a.Config.Kubeconfig, "DATABASE_URL="+a.Config.DatabaseURL,
		"DAYOPS_LOG_LEVEL=warn", "DAYOPS_HOOK_ALLOW=127.0.0.1", "DAYOPS_CALL_KEYS="+a.Config.CallKeys)
	if a.Config.BackupStore != "" {
		env = append(env, server.EnvBackupStore+"="+a.Config.BackupStore)
	}
	return append(env, extra...)
}
