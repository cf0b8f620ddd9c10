// Package dayopstest runs dayops itself, the real API and worker, in a test
// process against the shared local stack (devtest) and a fresh PostgreSQL
// database, and gives the test a REST client with operator and auditor
// tokens.
package dayopstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/dayops/dayops/internal/audit"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/server"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/worker"
)

// Test tokens, generated per test binary: the server refuses placeholder
// tokens at start, as it would a fixed one in a real deployment.
var (
	OperatorToken = "op-" + randomToken()
	AuditorToken  = "au-" + randomToken()
)

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Dayops is a running API (and optionally worker) for one test.
type Dayops struct {
	Env      *devtest.Env
	Deps     *server.Deps
	Config   server.Config
	API      *httpapi.Server
	URL      string
	Operator *cli.Client
	Auditor  *cli.Client
	Worker   worker.Worker
}

// Options of Start.
type Options struct {
	// NoWorker runs only the API (a test that starts a worker elsewhere).
	NoWorker bool
	// Log receives the in-process API's (and worker's) log at level info
	// (a test that greps it); nil logs warnings to stderr.
	Log io.Writer
}

// Start runs dayops for t.
func Start(t testing.TB, env *devtest.Env, opts Options) *Dayops {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if opts.Log != nil {
		log = slog.New(slog.NewTextHandler(opts.Log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	cfg := server.Config{
		Roles: []string{"api", "worker"}, APIURL: "http://127.0.0.1:0",
		TemporalAddress: env.TemporalAddress, TemporalNamespace: "default", TemporalUI: env.TemporalUI,
		// A task queue of its own: no other test's (or `dayops-dev run`'s) worker
		// picks up this test's workflows, nor this worker theirs.
		TaskQueue:  "dayops-test-" + randomSuffix(),
		Kubeconfig: env.Kubeconfig, DatabaseURL: env.NewDatabase(t),
		Tokens: OperatorToken + "=test-operator:operator," + AuditorToken + "=test-auditor:auditor",
		// Off unless asked for: the stack's node agent must map dayops:*
		// images (a stack started from a binary with the instance manager).
		InstanceImage: os.Getenv("DAYOPS_INSTANCE_IMAGE"),
		// Tests serve their HTTP hooks on loopback.
		HookAllow: "127.0.0.1",
		// The API signs its signals and updates; a worker started apart
		// (tests/e2e) is given the same keys.
		CallKeys: "test-call-key-" + randomSuffix() + randomSuffix() + randomSuffix(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	deps, err := server.Connect(ctx, cfg, log)
	if err != nil {
		t.Fatalf("dayopstest: %v", err)
	}
	t.Cleanup(deps.Close)
	t.Cleanup(func() { terminateRunning(deps, cfg) })
	d := &Dayops{Env: env, Deps: deps, Config: cfg}
	if !opts.NoWorker {
		d.Worker = deps.NewWorker(cfg.TaskQueue)
		if err := d.Worker.Start(); err != nil {
			t.Fatalf("dayopstest: start worker: %v", err)
		}
		t.Cleanup(d.Worker.Stop)
	}
	if d.API, err = deps.NewAPI(cfg); err != nil {
		t.Fatalf("dayopstest: %v", err)
	}
	srv := httptest.NewServer(d.API.Handler())
	t.Cleanup(srv.Close)
	d.URL = srv.URL
	d.Operator = &cli.Client{Base: srv.URL, Token: OperatorToken, HTTP: &http.Client{Timeout: time.Minute}}
	d.Auditor = &cli.Client{Base: srv.URL, Token: AuditorToken, HTTP: &http.Client{Timeout: time.Minute}}
	return d
}

// Events reads every audit event of the test's database.
func (d *Dayops) Events(t testing.TB, f eventstore.Filter) []eventstore.Event {
	t.Helper()
	ev, err := d.Deps.Store.Query(t.Context(), f)
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	return ev
}

// Head is the audit log's last position (0 when empty).
func (d *Dayops) Head(t testing.TB) int64 {
	t.Helper()
	pos, _, err := d.Deps.Store.Head(t.Context())
	if err != nil {
		t.Fatalf("audit head: %v", err)
	}
	return pos
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// terminateRunning ends the workflows a test left running on its task queue,
// so they do not linger in the shared Temporal server.
func terminateRunning(deps *server.Deps, cfg server.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := deps.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("TaskQueue = '%s' AND ExecutionStatus = 'Running'", cfg.TaskQueue),
	})
	if err != nil {
		return
	}
	for _, e := range res.Executions {
		_ = deps.Temporal.TerminateWorkflow(ctx, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), "test ended")
	}
}

// OperationEventsAfter returns the audit events after position head other
// than the API's own request records (RequestRefused, CredentialsRead, ...):
// a refused request must write those and nothing else.
func (d *Dayops) OperationEventsAfter(t testing.TB, head int64) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	for _, e := range d.Events(t, eventstore.Filter{After: head}) {
		if !audit.IsRequestRecord(e.Type) {
			out = append(out, e)
		}
	}
	return out
}
