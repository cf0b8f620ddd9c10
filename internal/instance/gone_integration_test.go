package instance_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/instance"
	"github.com/dayops/dayops/internal/instance/gonenotice"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// TestFenceGoneReplica: a shard lost whole (both redis-servers SIGKILLed)
// whose replica's volume is gone too. The former primary restarts on its
// AOF, fenced: its nodes.conf lists the replica, which will never answer.
// Without word of it (the control) the fence waits --unreachable-timeout
// and serves unverified; told the replica is gone with its data
// (Options.GoneReplicas, which the recover sets on the Pod) it serves at
// once, decided. Every write acknowledged before the kill is read back.
func TestFenceGoneReplica(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	lost := loseReplicaVolume(t, "")
	args, rID := lost.args, lost.replicaID
	control := runUntilServing(t, instance.Options{Args: args, Timeout: 3 * time.Second}, true)
	if control.Decision.Action != instance.Wait || !control.Unverified {
		t.Errorf("control: decision %q (%s), unverified %v; want a wait for the unreachable replica, then served unverified",
			control.Decision.Action, control.Decision.Reason, control.Unverified)
	}
	m := runUntilServing(t, instance.Options{Args: args, GoneReplicas: []string{rID}}, false)
	t.Logf("FIGURES fence with its only replica gone with its data: %q (%s) after %s; without word of it (control, --unreachable-timeout 3 s): %q after %s",
		m.Decision.Action, m.Decision.Reason, m.ServeAfter.Round(time.Millisecond), control.Decision.Action, control.ServeAfter.Round(time.Millisecond))
	if m.Decision.Action != instance.Serve || m.Unverified || m.Role != "primary" {
		t.Errorf("decision %q (%s), unverified %v, role %s; want serve at once as the primary", m.Decision.Action, m.Decision.Reason, m.Unverified, m.Role)
	}
	lost.verify(t)
}

// runUntilServing runs the instance manager with o until it lifts its
// fence, and returns the marker. stop: the manager (and its redis-server)
// is stopped again before it returns; otherwise at the test's end.
func runUntilServing(t *testing.T, o instance.Options, stop bool) instance.Marker {
	t.Helper()
	rctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	served := make(chan instance.Marker, 1)
	o.Stdout, o.Stderr = io.Discard, io.Discard
	if o.StatusAddr == "" {
		o.StatusAddr = freeAddr(t)
	}
	o.Log = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	o.OnServe = func(m instance.Marker) { served <- m }
	go func() { done <- instance.Run(rctx, o) }()
	end := func() { cancel(); <-done }
	var m instance.Marker
	select {
	case m = <-served:
	case err := <-done:
		t.Fatalf("instance manager exited: %v", err)
	case <-time.After(90 * time.Second):
		end()
		t.Fatal("the fenced node did not serve within 90 s")
	}
	if stop {
		end()
	} else {
		t.Cleanup(end)
	}
	return m
}

// TestFenceToldOfGoneReplica: the primary restarts in place (its Pod kept,
// so nobody set GoneReplicas on it) while its only replica is gone with its
// volume. Fenced, it waits for the replica; the recover's notice on its
// status endpoint (gonenotice) ends the wait at once, and only a notice
// with the cluster's password and well-formed node IDs counts. Every write
// acknowledged before the kill is read back.
func TestFenceToldOfGoneReplica(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	ctx := t.Context()
	const password = "told-gone-pw"
	lost := loseReplicaVolume(t, password)
	args, rID := lost.args, lost.replicaID
	statusAddr := freeAddr(t)
	told := make(chan time.Time, 1)
	go func() {
		hc := &http.Client{Timeout: 2 * time.Second}
		for until := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) { // not WaitFor: no t.Fatal off the test's goroutine
			if s, err := instance.FetchStatus(ctx, hc, statusAddr); err == nil && s.Fenced {
				break
			} else if time.Now().After(until) {
				t.Errorf("the manager not fenced after 30 s: %+v (%v)", s, err)
				return
			}
		}
		for _, bad := range []struct {
			pass string
			ids  []string
			want string
		}{{"wrong", []string{rID}, "401"}, {password, []string{"not-an-id"}, "nodeIds"}, {password, nil, "nodeIds: empty"}} {
			if _, err := gonenotice.Tell(ctx, hc, statusAddr, bad.pass, bad.ids); err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Errorf("notice %v with password %q: %v, want refused (%s)", bad.ids, bad.pass, err, bad.want)
			}
		}
		time.Sleep(time.Second) // the refused notices changed nothing: still fenced
		if s, err := instance.FetchStatus(ctx, hc, statusAddr); err != nil || !s.Fenced || len(s.Gone) != 0 {
			t.Errorf("after the refused notices: %+v (%v), want fenced, told of nothing", s, err)
		}
		told <- time.Now()
		if _, err := gonenotice.Tell(ctx, hc, statusAddr, password, []string{rID}); err != nil {
			t.Errorf("notice: %v", err)
		}
	}()
	m := runUntilServing(t, instance.Options{Args: args, StatusAddr: statusAddr}, false)
	var after time.Duration
	select {
	case at := <-told:
		after = time.Since(at)
	default:
		t.Fatal("served before it was told")
	}
	t.Logf("FIGURES fence told of its only replica gone with its data: %q (%s), served %s after the notice, %s after the start",
		m.Decision.Action, m.Decision.Reason, after.Round(time.Millisecond), m.ServeAfter.Round(time.Millisecond))
	if m.Decision.Action != instance.Serve || m.Unverified || m.Role != "primary" || !slices.Contains(m.Observation.Gone, rID) {
		t.Errorf("decision %q (%s), unverified %v, role %s, gone %v; want serve as the primary, the replica gone", m.Decision.Action,
			m.Decision.Reason, m.Unverified, m.Role, m.Observation.Gone)
	}
	lost.verify(t)
}

// lostShard is a shard SIGKILLed whole with its replica's directory (its
// volume) removed: the former primary's arguments, with the cluster's
// password, and the gone replica's node ID.
type lostShard struct {
	c         *redistest.Cluster
	w         *redistest.Writer
	st        redistest.WriterStats
	args      []string
	replicaID string
}

// loseReplicaVolume writes to a cluster (password: its password, "" none),
// then SIGKILLs shard 0's primary and replica and removes the replica's
// directory. appendfsync always: every acknowledged write is on the
// primary's disk at the kill, so a key missing afterwards is the
// restart's loss.
func loseReplicaVolume(t *testing.T, password string) lostShard {
	t.Helper()
	ctx := t.Context()
	config := []string{"--appendonly", "yes", "--appendfsync", "always", "--aof-use-rdb-preamble", "yes"}
	c := redistest.New(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1, Config: config, Password: password})
	p, r := c.Nodes()[0], c.Nodes()[3]
	rID, err := c.NodeID(ctx, r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	cc := c.ClusterClient()
	defer cc.Close()
	w := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 3000, Workers: 4})
	redistest.WaitFor(t, time.Minute, "writes", func() bool { return w.Stats().Acked > 10000 })
	st := w.Stop()
	r.Kill()
	p.Kill()
	if err := os.RemoveAll(r.Dir); err != nil { // the replica's volume
		t.Fatal(err)
	}
	p.Release()
	if password != "" {
		config = append([]string{"--requirepass", password, "--masterauth", password}, config...)
	}
	return lostShard{c: c, w: w, st: st, args: nodeArgs(p, config), replicaID: rID}
}

// verify reads every written key back once the cluster serves again.
func (l lostShard) verify(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	check := l.c.ClusterClient()
	defer check.Close()
	redistest.WaitFor(t, 30*time.Second, "the cluster to serve every slot", func() bool { return check.Set(ctx, "probe", "1", 0).Err() == nil })
	n, err := l.w.Verify(ctx, check)
	if err != nil || l.st.Lost != 0 {
		t.Errorf("acknowledged writes lost: %d replaced (%v); read back %d keys: %v", l.st.Lost, l.st.LostErr, n, err)
	}
}
