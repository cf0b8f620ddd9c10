package devcluster_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	sdkclient "go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/dayops/dayops/internal/devcluster"
	"github.com/dayops/dayops/internal/devcluster/devrun"
	"github.com/dayops/dayops/internal/devcluster/devtest"
)

// TestTemporalServerMode starts Temporal's own server (--temporal=server,
// Temporal alone) on a database of its own and free ports, runs a workflow
// over mutual TLS (which crosses frontend, history and matching over their
// internode mutual TLS), checks that a client without a certificate is
// refused by the frontend and, on the history and matching services' gRPC
// ports, that plain gRPC and TLS without a client certificate are refused
// while the internode certificate is served, and that a restart keeps the
// namespace and the schema.
func TestTemporalServerMode(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	cfg := devtest.TemporalServerConfig(t, devcluster.FindRoot(wd))
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

	// The services behind the frontend talk mutual TLS among themselves.
	internode, err := cfg.TemporalInternodeTLS().Config()
	if err != nil {
		t.Fatal(err)
	}
	noCert = internode.Clone()
	noCert.Certificates = nil
	ports := cfg.TemporalServerPorts()
	// (The worker service serves no gRPC; it only calls the others.)
	for _, svc := range []string{"history", "matching"} {
		addr := fmt.Sprintf("127.0.0.1:%d", ports[svc])
		if err := checkHealth(ctx, addr, credentials.NewTLS(internode)); err != nil {
			t.Errorf("%s service at %s with the internode certificate: %v", svc, addr, err)
		}
		for name, creds := range map[string]credentials.TransportCredentials{
			"plain gRPC": insecure.NewCredentials(), "TLS without a client certificate": credentials.NewTLS(noCert),
		} {
			err := checkHealth(ctx, addr, creds)
			if err == nil {
				t.Errorf("%s service at %s, %s: health check answered, want the connection refused", svc, addr, name)
				continue
			}
			t.Logf("%s service, %s: refused: %v", svc, name, err)
		}
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
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
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

// checkHealth asks the gRPC health service at addr (overall status) over
// creds, waiting for the connection at most 10s.
func checkHealth(ctx context.Context, addr string, creds credentials.TransportCredentials) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("status %s", resp.GetStatus())
	}
	return nil
}
