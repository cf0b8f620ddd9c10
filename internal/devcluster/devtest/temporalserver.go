package devtest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	sdkclient "go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/dayops/dayops/internal/devcluster"
	"github.com/dayops/dayops/internal/devcluster/hostsetup"
	"github.com/dayops/dayops/internal/testutil/pgtest"
)

// TemporalServer is a Temporal server of the production kind (Temporal's own
// server on PostgreSQL, frontend requiring mutual TLS) that one test started
// for itself beside the shared stack, and stops at its cleanup.
type TemporalServer struct {
	*devcluster.Stack
	// Config started it (Temporal only, server mode, its own ports and
	// databases).
	Config devcluster.Config
}

// StartTemporalServer starts a TemporalServer on free ports with databases of
// its own (see TemporalServerConfig), or skips t when bin/temporal-server is missing or under -short.
// Each option changes the server's config before it starts (e.g.
// WithTemporalAuth).
func StartTemporalServer(t testing.TB, root string, options ...func(*devcluster.Config)) *TemporalServer {
	t.Helper()
	cfg := TemporalServerConfig(t, root, options...)
	st, err := devcluster.Up(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &TemporalServer{Stack: st, Config: cfg}
}

// TemporalServerConfig is the Config of a Temporal server that t may start
// (devcluster.Up) and stop as often as it likes: server mode, Temporal only,
// a state dir under t.TempDir(), free ports, and a PostgreSQL database of its
// own whose Temporal databases are dropped at cleanup, after a final Down. It
// skips t when bin/temporal-server is missing or under -short. Each option
// changes the config before its ports are chosen.
func TemporalServerConfig(t testing.TB, root string, options ...func(*devcluster.Config)) devcluster.Config {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Temporal's own server; skipped under -short")
	}
	cfg := devcluster.DefaultConfig(root)
	if _, err := os.Stat(filepath.Join(cfg.BinDir, "temporal-server")); err != nil {
		t.Skip("bin/temporal-server is missing: build it with `scripts/build-tools.sh temporal-server` (make tools)")
	}
	cfg.Temporal = devcluster.TemporalServer
	cfg.TemporalOnly = true
	cfg.StateDir = filepath.Join(t.TempDir(), "temporal-server")
	for _, o := range options {
		o(&cfg)
	}
	cfg.TemporalPort = FreePortBlock(t, len(cfg.TemporalServerPorts()))
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
			t.Errorf("stop the Temporal server: %v", err)
		}
		mainDB, visDB := cfg.TemporalDatabases()
		DropDatabases(t, db.URL, mainDB, visDB)
		if err := db.Drop(ctx); err != nil {
			t.Error(err)
		}
	})
	return cfg
}

// WithTemporalAuth turns on the server's authorization (see
// devcluster.TemporalAuth): clients then need an API key signed by a key of
// the JWKS at auth.KeySourceURIs.
func WithTemporalAuth(auth devcluster.TemporalAuth) func(*devcluster.Config) {
	return func(c *devcluster.Config) { c.TemporalAuth = &auth }
}

// Client dials the server over mutual TLS (namespace "default"); it is
// closed at cleanup.
func (s *TemporalServer) Client(t testing.TB) sdkclient.Client {
	t.Helper()
	tc, err := s.TemporalTLS.Config()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := sdkclient.DialContext(t.Context(), sdkclient.Options{HostPort: s.TemporalAddress, Namespace: devcluster.TemporalNamespace,
		ConnectionOptions: sdkclient.ConnectionOptions{TLS: tc},
		Logger:            sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
	if err != nil {
		t.Fatalf("dial Temporal at %s over mutual TLS: %v", s.TemporalAddress, err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// FreePortBlock finds n consecutive free ports in [10000, 20000) and returns
// the first.
func FreePortBlock(t testing.TB, n int) int {
	t.Helper()
	first, err := hostsetup.FreePortBlock(10000, 20000, n)
	if err != nil {
		t.Fatal(err)
	}
	return first
}

// DropDatabases drops databases (FORCE) on the server of url.
func DropDatabases(t testing.TB, url string, names ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Errorf("drop databases: %v", err)
		return
	}
	defer conn.Close(ctx)
	for _, n := range names {
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", n, err)
		}
	}
}
