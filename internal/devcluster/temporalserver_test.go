package devcluster_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	sdkclient "go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/dayops/dayops/internal/devcluster"
	"github.com/dayops/dayops/internal/devcluster/devrun"
	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/testutil/pgtest"
)

// TestTemporalServerMode starts Temporal's own server (--temporal=server,
// Temporal alone) on a database of its own and free ports, runs a workflow
// over mutual TLS, checks that a client without a certificate is refused,
// and that a restart keeps the namespace and the schema.
func TestTemporalServerMode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal's own server; skipped under -short")
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cfg := devcluster.DefaultConfig(devcluster.FindRoot(wd))
	if _, err := os.Stat(filepath.Join(cfg.BinDir, "temporal-server")); err != nil {
		t.Skip("bin/temporal-server is missing: build it with `scripts/build-tools.sh temporal-server` (make tools)")
	}
	cfg.Temporal = devcluster.TemporalServer
	cfg.TemporalOnly = true
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	cfg.TemporalPort = devtest.FreePortBlock(t, len(cfg.TemporalServerPorts()))
	cfg.StartTimeout = 2 * time.Minute
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := pgtest.Create(t.Context(), pgtest.BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.DatabaseURL = db.URL
	t.Cleanup(func() {
		ctx := context.Background()
		if err := devcluster.Down(ctx, cfg, devcluster.DownOptions{}); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
		mainDB, visDB := cfg.TemporalDatabases()
		devtest.DropDatabases(t, db.URL, mainDB, visDB)
		if err := db.Drop(ctx); err != nil {
			t.Error(err)
		}
	})
	ctx := t.Context()

	start := time.Now()
	st, err := devcluster.Up(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Temporal server (schema set up, namespace and search attributes registered) up in %s", time.Since(start).Round(10*time.Millisecond))
	if diff := cmp.Diff([]string{devcluster.TemporalServerComponent}, st.Started); diff != "" {
		t.Errorf("up started (-want +got):\n%s", diff)
	}
	env, err := devcluster.ReadEnvFile(st.EnvFile)
	if err != nil {
		t.Fatal(err)
	}
	if env["TEMPORAL_TLS_CLIENT_CERT_PATH"] != st.TemporalTLS.Cert || st.TemporalTLS.Cert == "" {
		t.Errorf("dev.env client certificate %q, stack %q", env["TEMPORAL_TLS_CLIENT_CERT_PATH"], st.TemporalTLS.Cert)
	}

	tc, err := st.TemporalTLS.Config()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := sdkclient.DialContext(ctx, sdkclient.Options{HostPort: st.TemporalAddress, Namespace: devcluster.TemporalNamespace,
		ConnectionOptions: sdkclient.ConnectionOptions{TLS: tc}, Logger: quiet})
	if err != nil {
		t.Fatalf("dial over mutual TLS: %v", err)
	}
	t.Cleanup(cl.Close)
	sas, err := cl.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: devcluster.TemporalNamespace})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range devcluster.SearchAttributes {
		if got := sas.GetCustomAttributes()[name]; got != enums.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s: got %v, want Keyword", name, got)
		}
	}
	ping(t, cl, "mtls")

	// Without a client certificate the frontend refuses the handshake;
	// without TLS at all, the connection.
	noCert := tc.Clone()
	noCert.Certificates = nil
	for name, tlsConfig := range map[string]*tls.Config{"no client certificate": noCert, "plain TCP": nil} {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := sdkclient.DialContext(dctx, sdkclient.Options{HostPort: st.TemporalAddress, Namespace: devcluster.TemporalNamespace,
			ConnectionOptions: sdkclient.ConnectionOptions{TLS: tlsConfig}, Logger: quiet})
		cancel()
		if err == nil {
			c.Close()
			t.Errorf("%s: dial succeeded, want it refused", name)
			continue
		}
		t.Logf("%s: refused: %v", name, err)
	}

	// A restart sets the schema up again (a no-op) and finds the namespace.
	if err := devcluster.Down(ctx, cfg, devcluster.DownOptions{}); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if st, err = devcluster.Up(ctx, cfg); err != nil {
		t.Fatalf("up after down: %v", err)
	}
	t.Logf("Temporal server restarted in %s", time.Since(start).Round(10*time.Millisecond))
	cl2, err := sdkclient.DialContext(ctx, sdkclient.Options{HostPort: st.TemporalAddress, Namespace: devcluster.TemporalNamespace,
		ConnectionOptions: sdkclient.ConnectionOptions{TLS: tc}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl2.Close)
	ping(t, cl2, "restarted")

	// down --purge drops the Temporal databases.
	if err := devcluster.Down(ctx, cfg, devcluster.DownOptions{Purge: true}); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	mainDB, visDB := cfg.TemporalDatabases()
	var left int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = ANY($1)", []string{mainDB, visDB}).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d of the Temporal databases %s, %s left after down --purge", left, mainDB, visDB)
	}
}

var quiet = sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))

// ping runs devrun's PingWorkflow on a task queue of its own.
func ping(t *testing.T, cl sdkclient.Client, tag string) {
	t.Helper()
	queue := fmt.Sprintf("server-mode-%s-%d", tag, rand.Int64())
	w := worker.New(cl, queue, worker.Options{})
	devrun.Register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	run, err := cl.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: "ping-" + queue, TaskQueue: queue}, devrun.PingWorkflow, devrun.PingInput{Message: tag})
	if err != nil {
		t.Fatal(err)
	}
	var got devrun.PingResult
	if err := run.Get(ctx, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(devrun.PingResult{Reply: "pong: " + tag, TaskQueue: queue}, got); diff != "" {
		t.Errorf("PingWorkflow result (-want +got):\n%s", diff)
	}
}
