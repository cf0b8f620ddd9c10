package instance_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/instance"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/slotmigrate"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// TestFenceSIGKILL kills a primary of a real three-shard cluster (one
// replica each) with SIGKILL while a client writes, restarts it at once
// (as a kubelet does, well within cluster-node-timeout) and checks every
// acknowledged write afterwards through a fresh cluster client.
func TestFenceSIGKILL(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	aof := []string{"--appendonly", "yes", "--appendfsync", "everysec", "--aof-use-rdb-preamble", "yes"}
	tests := map[string]struct {
		config  []string
		wipeAOF bool
		// afterFailover restarts the node only once Redis has promoted its
		// replica (a node that stayed down past cluster-node-timeout).
		afterFailover bool
		// slowFsync: the writer waits for one replica (WAIT 1) and the
		// kill comes while Redis postpones its AOF write behind a slow
		// background fsync (disk load from another writer), with
		// acknowledged writes in its AOF buffer only.
		slowFsync bool
		// openSlot: at the kill, a slot is open between the node (its
		// "source" or "target") and another primary with half its keys
		// moved: a slot move in flight.
		openSlot string
		manager  bool
		action   instance.Action
		wantLoss bool
		// short: also run by make unit (go test -short); the others only
		// by make test (each case waits out a failover or a resync).
		short bool
	}{
		"default persistence (AOF everysec)":                 {config: aof, manager: true, action: instance.Takeover, short: true},
		"AOF write postponed by a slow fsync":                {config: aof, slowFsync: true, manager: true, action: instance.Takeover, short: true},
		"AOF write postponed, without the manager (control)": {config: aof, slowFsync: true, wantLoss: true},
		"AOF write postponed, the node a slot move's source": {config: aof, slowFsync: true, openSlot: "source", manager: true, action: instance.Takeover},
		"AOF write postponed, the node a slot move's target": {config: aof, slowFsync: true, openSlot: "target", manager: true, action: instance.Takeover},
		"default persistence without the manager":            {config: aof},
		"persistence none":                                   {manager: true, action: instance.Takeover, short: true},
		"persistence none without the manager (control)":     {wantLoss: true},
		"AOF wiped": {config: aof, wipeAOF: true, manager: true, action: instance.Takeover},
		"persistence none, restarted after Redis failed over": {manager: true, afterFailover: true, action: instance.Follow},
		"AOF wiped without the manager (control)":             {config: aof, wipeAOF: true, wantLoss: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if testing.Short() && !tc.short {
				t.Skip("a long fault case: make test runs it")
			}
			// The two short cases (each on its own cluster) run at once.
			// The full run keeps its seven cases one after the other: most
			// restart their node within cluster-node-timeout or wait for a
			// failover, timings that seven clusters at once would stretch.
			if testing.Short() {
				t.Parallel()
			}
			ctx := t.Context()
			opts := redistest.Options{Primaries: 3, ReplicasPerPrimary: 1, Config: tc.config}
			if tc.slowFsync {
				opts.Dir = t.TempDir() // on disk: redistest's default, /dev/shm, never fsyncs slowly
			}
			c := redistest.New(t, opts)
			p, r := c.Nodes()[0], c.Nodes()[3]
			cc := c.ClusterClient()
			defer cc.Close()
			// pre writes keys up to the kill and stops: its keys are never
			// written again, so a resync from a node that lacks them shows
			// as lost keys. w writes through the fault.
			pre := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 3000, Workers: 4, Prefix: "pre:"})
			// Where the replica ends up primary (a takeover, or Redis'
			// failover), w waits for it (WAIT 1): Redis writes a client's
			// reply and its replica's stream in one pass of its event loop,
			// in either order, so a write acknowledged without WAIT an
			// instant before SIGKILL may never reach the replica. That loss
			// is Redis' asynchronous replication, not the restart's (seen: 2
			// of 3000 keys in one of three runs of a source case, keys
			// outside the open slot).
			wo := redistest.WriterOptions{Keys: 3000, Workers: 4}
			if tc.action == instance.Takeover || tc.afterFailover {
				wo.WaitReplicas = 1
			}
			w := redistest.StartWriter(ctx, cc, wo)
			redistest.WaitFor(t, time.Minute, "writes", func() bool { return w.Stats().Acked > 10000 && pre.Stats().Acked > 10000 })
			before := w.Stats()

			preSt := pre.Stop()
			// Redis replicates asynchronously: a write the primary
			// acknowledged an instant before SIGKILL may not have reached
			// its replica yet, and with no persistence, or once Redis has
			// promoted the replica, nothing else holds it. That loss is
			// Redis' own (a client that must not suffer it waits for its
			// replicas: redistest.WriterOptions.WaitReplicas), not the
			// restart's, which is what this test is about; it showed once in
			// "restarted after Redis failed over" (1 of 3000 pre keys, make
			// test 2026-12-04). So the kill waits until the replica holds
			// every write pre had acknowledged.
			off := replOffset(ctx, t, p.Addr, "master_repl_offset")
			redistest.WaitFor(t, 10*time.Second, "the replica to hold every write pre acknowledged", func() bool {
				return replOffset(ctx, t, r.Addr, "slave_repl_offset") >= off
			})
			// tail (slowFsync) writes up to the kill, waiting for one
			// replica, and never again: a write of it missing afterwards
			// was acknowledged by the primary and its replica, and lost.
			var open openMove
			switch tc.openSlot {
			case "source":
				open = openMoveFrom(ctx, t, c, p, c.Nodes()[1])
			case "target":
				open = openMoveFrom(ctx, t, c, c.Nodes()[1], p)
			}
			var tail *redistest.Writer
			if tc.slowFsync {
				// Many writes in flight: more of them in the AOF buffer
				// while its write is postponed.
				tail = redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 20000, Workers: 16, Prefix: "tail:", WaitReplicas: 1})
				waitPostponedAOFWrite(ctx, t, p)
			}
			killed := time.Now()
			p.Kill()
			if tail != nil {
				tail.Stop()
			}
			if tc.wipeAOF {
				if err := os.RemoveAll(filepath.Join(p.Dir, "appendonlydir")); err != nil {
					t.Fatal(err)
				}
			}
			if tc.afterFailover {
				redistest.WaitFor(t, 30*time.Second, "the replica's promotion", func() bool { return isPrimary(ctx, r.Addr) })
			}
			p.Release() // its ports, for the restart
			args := nodeArgs(p, tc.config)
			var served time.Duration
			var marker instance.Marker
			statusAddr := freeAddr(t)
			if tc.manager {
				rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
				done := make(chan error, 1)
				served := make(chan instance.Marker, 1)
				go func() {
					done <- instance.Run(rctx, instance.Options{Args: args, Stdout: io.Discard, Stderr: io.Discard,
						Log:        slog.New(slog.NewTextHandler(testWriter{t}, nil)),
						StatusAddr: statusAddr,
						OnServe:    func(m instance.Marker) { served <- m }})
				}()
				t.Cleanup(func() { cancel(); <-done })
				select {
				case marker = <-served:
				case err := <-done:
					t.Fatalf("instance manager exited: %v", err)
				case <-time.After(60 * time.Second):
					t.Fatal("the fenced node did not serve within 60 s")
				}
			} else {
				cmd := exec.Command("redis-server", args[1:]...)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
				// The replica full-syncs from the restarted node.
				redistest.WaitFor(t, 30*time.Second, "replica resynced", func() bool { return linkUp(ctx, r.Addr) })
			}
			served = time.Since(killed)
			redistest.WaitFor(t, 30*time.Second, "writes after the restart", func() bool { return w.Stats().Acked > before.Acked+5000 })
			if tc.openSlot != "" {
				checkHandedOver(ctx, t, c, open, p, r)
			}
			st := w.Stop()
			check := c.ClusterClient()
			defer check.Close()
			preChecked, preLost, preErr := verify(t, pre, check)
			checked, lost, verr := verify(t, w, check)
			var tailLost int
			if tail != nil {
				tailSt := tail.Stats()
				var tailChecked int
				var tailErr error
				tailChecked, tailLost, tailErr = verify(t, tail, check)
				t.Logf("FIGURES %s: tail (WAIT 1, up to the kill) %d acked, %d failed, %d of %d keys lost an acknowledged write",
					name, tailSt.Acked, tailSt.Failed, tailLost, tailChecked)
				verr = errors.Join(verr, tailErr)
			}
			t.Logf("FIGURES %s: before the kill %d writes acked on %d keys, %d of them lost; through the fault %d acked, "+
				"%d failed, %d of %d keys lost an acknowledged write; kill to serving %s; fence %q (%s) after %s; restarted node %q",
				name, preSt.Acked, preChecked, preLost, st.Acked, st.Failed, lost, checked, served.Round(time.Millisecond),
				marker.Decision.Action, marker.Decision.Reason, marker.ServeAfter.Round(time.Millisecond), marker.Role)
			if tc.wantLoss {
				if preLost+lost+tailLost == 0 && tc.slowFsync {
					// The kill lands a few hundred microseconds after the
					// look that saw the postponed write; the fsync may have
					// ended between them (lost 15-26 writes in each of 4
					// runs, 0 in a fifth).
					t.Log("control run lost nothing this time: the fsync ended before the kill")
					return
				}
				if preLost+lost+tailLost == 0 {
					t.Errorf("control run lost nothing: the scenario does not reproduce the failure")
				}
				return
			}
			for _, err := range []error{preErr, verr} {
				if err != nil {
					t.Errorf("acknowledged writes lost: %v", err)
				}
			}
			if !tc.manager {
				return
			}
			if marker.Decision.Action != tc.action {
				t.Errorf("decision %q (%s), want %q", marker.Decision.Action, marker.Decision.Reason, tc.action)
			}
			m, ok, err := instance.ReadMarker(p.Dir)
			if err != nil || !ok || m.ID != marker.ID {
				t.Errorf("marker file: ok=%v err=%v", ok, err)
			}
			// The status endpoint (what the guardian reads) answers the
			// same record, no longer fenced.
			status, err := instance.FetchStatus(ctx, http.DefaultClient, statusAddr)
			if err != nil || status.Fenced || status.Marker == nil || status.Marker.ID != marker.ID || status.Marker.Decision.Action != tc.action {
				t.Errorf("status endpoint: %+v, err %v; want marker %s (%s), not fenced", status, err, marker.ID, tc.action)
			}
			if tc.action != instance.Serve && marker.Role != "replica" {
				t.Errorf("restarted node is %s, want replica", marker.Role)
			}
		})
	}
}

// openMove is a slot open from src to dst, holding keys "{tag}:0".."{tag}:39"
// (value: the number), written before the slot opened and never again.
type openMove struct {
	slot     int
	tag      string
	src, dst *redistest.Node
}

const openMoveKeys = 40

// openMoveFrom fills one of src's slots with openMoveKeys keys and opens
// it towards dst with half of them moved.
func openMoveFrom(ctx context.Context, t *testing.T, c *redistest.Cluster, src, dst *redistest.Node) openMove {
	t.Helper()
	v, err := c.Admin.View(ctx, src.Addr)
	if err != nil {
		t.Fatal(err)
	}
	mv := openMove{src: src, dst: dst}
	for i := 0; mv.tag == ""; i++ {
		s, err := c.Pool.Client(src.Addr).ClusterKeySlot(ctx, fmt.Sprintf("open%d", i)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if v.Myself.Slots.Contains(int(s)) {
			mv.slot, mv.tag = int(s), fmt.Sprintf("open%d", i)
		}
	}
	for k := range openMoveKeys {
		if err := c.Pool.Client(src.Addr).Set(ctx, fmt.Sprintf("{%s}:%d", mv.tag, k), k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	slot, moved, err := c.OpenHalfMoved(ctx, src.Addr, dst.Addr, mv.slot, mv.slot)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("slot %d open %s -> %s with %d of its %d keys moved", slot, src.Addr, dst.Addr, moved, openMoveKeys)
	return mv
}

// checkHandedOver: the replica that took the killed node's place (np)
// has the killed node's end of the open slot, and the other end points at
// np: killed was the source, np migrates the slot to the target and the
// target imports it from np and serves (cluster_state:ok: it did not lose
// the slot's owner); killed was the target, np imports it from the source
// and the source migrates it to np. The move then finishes forward
// (CloseOpenSlots, as the migration's next run would) with every key.
func checkHandedOver(ctx context.Context, t *testing.T, c *redistest.Cluster, mv openMove, killed, np *redistest.Node) {
	t.Helper()
	npID, err1 := c.NodeID(ctx, np.Addr)
	srcID, err2 := c.NodeID(ctx, mv.src.Addr)
	dstID, err3 := c.NodeID(ctx, mv.dst.Addr)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	src, dst := mv.src.Addr, mv.dst.Addr
	if killed == mv.src {
		src, srcID = np.Addr, npID
	} else {
		dst, dstID = np.Addr, npID
	}
	redistest.WaitFor(t, 10*time.Second, fmt.Sprintf("slot %d open from %s to %s on both, both serving", mv.slot, src, dst), func() bool {
		sv, err1 := c.Admin.View(ctx, src)
		dv, err2 := c.Admin.View(ctx, dst)
		info, err3 := c.Pool.Client(dst).ClusterInfo(ctx).Result()
		return errors.Join(err1, err2, err3) == nil && sv.Myself.Migrating[mv.slot] == dstID &&
			dv.Myself.Importing[mv.slot] == srcID && strings.Contains(info, "cluster_state:ok")
	})
	res, err := slotmigrate.New(c.Admin).CloseOpenSlots(ctx, slotmigrate.CloseOpenSlotsInput{Seeds: c.Addrs()})
	if err != nil || !res.Forward.Contains(mv.slot) {
		t.Errorf("close the open slot: %+v, err %v; want slot %d finished forward", res, err, mv.slot)
	}
	cc := c.ClusterClient()
	defer cc.Close()
	for k := range openMoveKeys {
		key := fmt.Sprintf("{%s}:%d", mv.tag, k)
		if got, err := cc.Get(ctx, key).Result(); err != nil || got != strconv.Itoa(k) {
			t.Errorf("%s = %q (err %v) after the move, want %d", key, got, err, k)
		}
	}
}

// verify checks w's acknowledged writes and counts the keys that lost one.
func verify(t *testing.T, w *redistest.Writer, c redis.UniversalClient) (checked, lost int, err error) {
	t.Helper()
	checked, err = w.Verify(t.Context(), c)
	if err != nil {
		if _, serr := fmt.Sscanf(err.Error(), "verify: %d of", &lost); serr != nil {
			t.Fatalf("verify: %v", err)
		}
	}
	return checked, lost, err
}

// waitPostponedAOFWrite loads the disk of n's directory (64 MB written and
// fsynced, again and again) until n's INFO shows a background AOF fsync
// running and more than 1 KB of commands in its AOF buffer, grown since
// the look before: Redis
// (appendfsync everysec) postpones writing its AOF while an fsync runs, up
// to 2 s, and replies and feeds its replicas meanwhile, so a crash now
// loses acknowledged writes from the AOF. A minute without is a failure.
func waitPostponedAOFWrite(ctx context.Context, t *testing.T, n *redistest.Node) {
	t.Helper()
	stop := make(chan struct{})
	defer close(stop)
	for i := range 2 {
		junk := filepath.Join(n.Dir, fmt.Sprintf("disk-load-%d", i))
		defer os.Remove(junk)
		go loadDisk(junk, stop)
	}
	cl := redis.NewClient(&redis.Options{Addr: n.Addr, Protocol: 2, DisableIdentity: true})
	defer cl.Close()
	t0 := time.Now()
	prev := 0
	for polls := 1; time.Since(t0) < time.Minute; polls++ {
		s, err := cl.Info(ctx, "persistence").Result()
		if err != nil {
			t.Fatalf("info persistence on %s: %v", n.Addr, err)
		}
		info := clusteradmin.ParseInfo(s)
		buffered, _ := strconv.Atoi(info["aof_buffer_length"])
		pending := info["aof_pending_bio_fsync"] != "0"
		// Growing across two looks behind the same fsync: postponed over
		// event-loop iterations, not just this one's writes.
		grew := pending && prev > 0 && buffered > prev
		if pending {
			prev = buffered
		} else {
			prev = 0
		}
		if grew && buffered > 1000 {
			t.Logf("AOF write postponed: %d bytes buffered behind a background fsync after %s (%d polls)",
				buffered, time.Since(t0).Round(time.Millisecond), polls)
			return
		}
	}
	t.Fatal("no postponed AOF write within a minute of disk load")
}

// loadDisk writes 64 MB to path and fsyncs it, again and again, until stop
// closes.
func loadDisk(path string, stop <-chan struct{}) {
	buf := make([]byte, 4<<20)
	for {
		select {
		case <-stop:
			return
		default:
		}
		f, err := os.Create(path)
		if err != nil {
			return
		}
		for range 16 {
			_, _ = f.Write(buf)
		}
		_ = f.Sync()
		_ = f.Close()
	}
}

// nodeArgs are the arguments redistest started node n with.
func nodeArgs(n *redistest.Node, config []string) []string {
	args := []string{"redis-server",
		"--port", strconv.Itoa(n.Port), "--bind", "127.0.0.1", "--protected-mode", "no",
		"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(n.BusPort),
		"--cluster-config-file", filepath.Join(n.Dir, "nodes.conf"), "--cluster-node-timeout", "5000",
		"--dir", n.Dir, "--save", "", "--appendonly", "no", "--daemonize", "no",
		"--logfile", filepath.Join(n.Dir, "redis.log"),
	}
	return append(args, config...)
}

func isPrimary(ctx context.Context, addr string) bool {
	cl := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer cl.Close()
	s, err := cl.Info(ctx, "replication").Result()
	return err == nil && strings.Contains(s, "role:master")
}

func linkUp(ctx context.Context, addr string) bool {
	cl := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer cl.Close()
	s, err := cl.Info(ctx, "replication").Result()
	return err == nil && strings.Contains(s, "master_link_status:up")
}

// replOffset reads one replication offset field of INFO replication on
// addr (-1 if it is not there).
func replOffset(ctx context.Context, t *testing.T, addr, field string) int64 {
	t.Helper()
	cl := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer cl.Close()
	s, err := cl.Info(ctx, "replication").Result()
	if err != nil {
		t.Fatalf("info replication on %s: %v", addr, err)
	}
	n, err := strconv.ParseInt(clusteradmin.ParseInfo(s)[field], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// freeAddr is a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}
