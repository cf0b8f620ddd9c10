package instance_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/instance"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// TestFenceFindsAMovedReplica: a primary and its replica both go down (a
// shard that lost every Pod); the replica comes back first at a new address
// (a new Pod, a new IP), then the primary under the manager. nodes.conf
// still names the replica's old address; the manager must find it where the
// cluster bus says it is now and decide with it, not wait its whole timeout
// for an address nobody answers at and serve unverified.
func TestFenceFindsAMovedReplica(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	ctx := t.Context()
	aof := []string{"--appendonly", "yes", "--appendfsync", "everysec", "--aof-use-rdb-preamble", "yes"}
	c := redistest.New(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1, Config: aof})
	p, r := c.Nodes()[0], c.Nodes()[3]
	cc := c.ClusterClient()
	defer cc.Close()
	w := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 2000, Workers: 2})
	redistest.WaitFor(t, time.Minute, "writes", func() bool { return w.Stats().Acked > 3000 })
	w.Stop()
	off := replOffset(ctx, t, p.Addr, "master_repl_offset")
	redistest.WaitFor(t, 10*time.Second, "the replica in sync", func() bool { return replOffset(ctx, t, r.Addr, "slave_repl_offset") >= off })
	r.Kill()
	p.Kill()
	p.Release() // restarted below at its own address

	// The replica at a new port: its own redis-server, its nodes.conf.
	moved := &redistest.Node{Port: freePort(t), BusPort: freePort(t), Dir: r.Dir}
	args := nodeArgs(moved, aof)
	cmd := exec.Command(args[0], args[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	movedAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(moved.Port))

	const timeout = 45 * time.Second
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	served := make(chan instance.Marker, 1)
	go func() {
		done <- instance.Run(rctx, instance.Options{Args: nodeArgs(p, aof), Stdout: io.Discard, Stderr: io.Discard,
			Log: slog.New(slog.NewTextHandler(testWriter{t}, nil)), StatusAddr: freeAddr(t), Timeout: timeout,
			OnServe: func(m instance.Marker) { served <- m }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	var m instance.Marker
	select {
	case m = <-served:
	case err := <-done:
		t.Fatalf("instance manager exited: %v", err)
	case <-time.After(timeout + 15*time.Second):
		t.Fatal("the fenced node did not serve")
	}
	t.Logf("served after %s: %s (%s)", m.ServeAfter.Round(time.Millisecond), m.Decision.Action, m.Decision.Reason)
	if m.Unverified {
		t.Fatalf("served unverified after %s: the manager never reached the replica at %s", m.ServeAfter, movedAddr)
	}
	found := false
	for _, rep := range m.Observation.Replicas {
		found = found || (rep.Reachable && rep.Addr == movedAddr)
	}
	if !found {
		t.Errorf("the decision's replicas %+v do not include the replica at its new address %s", m.Observation.Replicas, movedAddr)
	}
}
