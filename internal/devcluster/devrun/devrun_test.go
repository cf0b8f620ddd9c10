package devrun_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdkclient "go.temporal.io/sdk/client"

	"github.com/dayops/dayops/internal/devcluster/devrun"
	"github.com/dayops/dayops/internal/devcluster/devtest"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// TestServe runs the `dayops-dev run` stub against the shared stack: the API
// answers /healthz and /readyz, the worker runs PingWorkflow, and cancelling
// the context stops both.
func TestServe(t *testing.T) {
	env := devtest.Get(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	queue := "devrun-test-" + env.Namespace
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- devrun.Serve(ctx, devrun.Config{
			APIURL:          "http://" + addr,
			TemporalAddress: env.TemporalAddress,
			TaskQueue:       queue,
			Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
			Ready:           func(a string) { ready <- a },
		})
	}()
	select {
	case got := <-ready:
		if got != addr {
			t.Errorf("Ready(%q), want %q", got, addr)
		}
	case err := <-done:
		t.Fatalf("Serve returned early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Serve not ready after 30s")
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
			t.Errorf("GET %s = %d %q, want 200 \"ok\\n\"", path, resp.StatusCode, body)
		}
	}

	cl := env.TemporalClient(t)
	wctx, wcancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer wcancel()
	run, err := cl.ExecuteWorkflow(wctx, sdkclient.StartWorkflowOptions{ID: queue, TaskQueue: queue}, devrun.PingWorkflow, devrun.PingInput{Message: "run"})
	if err != nil {
		t.Fatal(err)
	}
	var got devrun.PingResult
	if err := run.Get(wctx, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(devrun.PingResult{Reply: "pong: run", TaskQueue: queue}, got); diff != "" {
		t.Errorf("PingWorkflow (-want +got):\n%s", diff)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not return within 30s of cancel")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("API still listens on %s after Serve returned", addr)
	}
}
