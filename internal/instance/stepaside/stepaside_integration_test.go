package stepaside_test

import (
	"context"
	"log/slog"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/instance/stepaside"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/failover"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// TestStepAside runs on a real three-shard cluster (one replica each) while
// a client writes, waiting for a replica (WAIT 1), through every fault: the
// cases where a primary must not step aside first (each leaves the cluster
// as it was), then a primary that steps aside and gets SIGTERM, as the
// instance manager relays it. Its replica must be the shard's primary
// before the old one stops, and no acknowledged write may be lost. Last,
// the control: another primary SIGTERMed without stepping aside.
func TestStepAside(t *testing.T) {
	ctx := t.Context()
	c, cc, w := underWrites(t)
	nodes := c.Nodes()
	p0, p1, r0, r1 := nodes[0], nodes[1], nodes[3], nodes[4]
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	run := func(addr string) stepaside.Result {
		return stepaside.Run(ctx, stepaside.Options{Addr: addr, Password: "pw", Wait: 5 * time.Second, Log: log})
	}
	refused := func(name, addr, why string) {
		t.Run(name, func(t *testing.T) {
			res := run(addr)
			if res.HandedOver || !strings.Contains(res.Reason, why) {
				t.Errorf("%+v, want no handover because %q", res, why)
			}
			if role(ctx, t, addr) != "master" && addr != r0.Addr {
				t.Errorf("%s is no longer a primary", addr)
			}
		})
	}
	// A stopping node holds itself from failover first, so that a primary
	// stopping with its replica does not hand it the shard.
	refused("a replica", r0.Addr, "not a primary")
	if got := configGet(ctx, t, r0.Addr, "cluster-replica-no-failover"); got != "yes" {
		t.Errorf("a stopping replica: cluster-replica-no-failover %q, want yes", got)
	}
	refused("its replica stopping too", p0.Addr, "held from failover")
	set(ctx, t, r0.Addr, "cluster-replica-no-failover", "no")
	// A replica held by a slot move (cluster-replica-no-failover yes).
	set(ctx, t, r1.Addr, "cluster-replica-no-failover", "yes")
	refused("its replica held by a slot move", p1.Addr, "held from failover")
	set(ctx, t, r1.Addr, "cluster-replica-no-failover", "no")
	// A slot open on the primary (a move in flight), one no key of the
	// writer's is in: after two passes over its keys, an empty slot stays
	// empty.
	redistest.WaitFor(t, time.Minute, "two passes", func() bool { return w.Stats().Acked > 6000 })
	slot := emptySlot(ctx, t, p1.Addr)
	id0, id1 := nodeID(ctx, t, c, p0.Addr), nodeID(ctx, t, c, p1.Addr)
	setSlot(ctx, t, p0.Addr, slot, "IMPORTING", id1)
	setSlot(ctx, t, p1.Addr, slot, "MIGRATING", id0)
	refused("a slot open on it", p1.Addr, "slot move is open")
	setSlot(ctx, t, p1.Addr, slot, "STABLE")
	setSlot(ctx, t, p0.Addr, slot, "STABLE")

	t.Run("hands over, then stops", func(t *testing.T) {
		w.TakeLatency()
		before := w.Stats()
		res := run(p0.Addr)
		if !res.HandedOver || res.To != r0.Addr {
			t.Fatalf("%+v, want handed over to %s", res, r0.Addr)
		}
		during := w.Stats()
		// The new primary's Pod is deleted a moment later (the shard's
		// Pods deleted together): it does not hand the shard back to
		// the stopping node, which held itself from failover.
		if back := run(r0.Addr); back.HandedOver || !strings.Contains(back.Reason, "held from failover") {
			t.Errorf("the new primary stopping too: %+v, want no handover back to %s (held)", back, p0.Addr)
		}
		stopAndRestart(ctx, t, w, p0, r0, during)
		t.Logf("FIGURES step-aside: handed over in %s; %d writes failed (outcome unknown) from the request until the node would stop (the handover, then the cluster told); writes %s",
			res.Took.Round(time.Millisecond), during.Failed-before.Failed, w.TakeLatency())
		if role(ctx, t, p0.Addr) != "slave" {
			t.Errorf("the old primary came back as %s, want a replica", role(ctx, t, p0.Addr))
		}
	})
	// redis-server stops answering the moment its replica is promoted, as
	// one that got its SIGTERM with the manager (a signal to the Pod's
	// whole process group) exits once it is a replica: the handover must
	// count at once, through the node's silence (Result.Stopped), rather
	// than wait for the stopped node to follow the new primary. The node
	// is frozen (SIGSTOP) rather than stopped, so that it leaves as a
	// replica afterwards: the harness keeps no data, and a node that
	// exited as a primary would come back empty.
	t.Run("its redis-server stopping too", func(t *testing.T) {
		p2, r2 := nodes[2], nodes[5]
		before := w.Stats()
		gctx, gone := context.WithCancel(ctx)
		defer gone()
		frozen := make(chan bool, 1)
		go func() {
			c := client(r2.Addr)
			defer c.Close()
			for gctx.Err() == nil {
				if v, err := c.Do(gctx, "ROLE").Slice(); err == nil && len(v) > 0 && v[0] == "master" {
					frozen <- syscall.Kill(p2.Pid(), syscall.SIGSTOP) == nil
					return
				}
				time.Sleep(time.Millisecond)
			}
			frozen <- false
		}()
		res := run(p2.Addr)
		gone()
		if !<-frozen {
			t.Fatalf("%+v: the replica was not promoted, or the node not frozen", res)
		}
		if err := syscall.Kill(p2.Pid(), syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		redistest.WaitFor(t, 15*time.Second, "the old primary to follow", func() bool { return role(ctx, t, p2.Addr) == "slave" })
		stopAndRestart(ctx, t, w, p2, r2, w.Stats())
		if !res.HandedOver || !res.Stopped || res.To != r2.Addr {
			t.Errorf("%+v, want handed over to %s, seen through the node's silence", res, r2.Addr)
		}
		t.Logf("FIGURES step-aside with redis-server stopping at the promotion: handed over in %s (the frozen node costs each look its 1 s timeout; an exited one refuses at once); %d writes failed (outcome unknown, its shard without a replica for WAIT 1 meanwhile)",
			res.Took.Round(time.Millisecond), w.Stats().Failed-before.Failed)
	})
	// The control: a primary that gets the SIGTERM without stepping aside
	// (dayops before, or --step-aside-wait 0). Its shard refuses writes
	// until Redis fails it over (cluster-node-timeout 5 s and an election).
	t.Run("stops without a handover (control)", func(t *testing.T) {
		if testing.Short() {
			t.Skip("waits out Redis' failover: make test runs it")
		}
		before := w.Stats()
		w.TakeLatency()
		stopped := time.Now()
		if err := syscall.Kill(p1.Pid(), syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		redistest.WaitFor(t, 30*time.Second, "Redis' failover", func() bool { return role(ctx, t, r1.Addr) == "master" })
		promoted := time.Since(stopped)
		during := w.Stats()
		if err := p1.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		redistest.WaitFor(t, 30*time.Second, "writes after the restart", func() bool { return w.Stats().Acked > during.Acked+5000 })
		t.Logf("FIGURES SIGTERM without a handover: replica promoted by Redis %s after the SIGTERM; %d writes failed (outcome unknown) meanwhile; writes %s",
			promoted.Round(time.Millisecond), during.Failed-before.Failed, w.TakeLatency())
	})
	stopAndVerify(ctx, t, w, cc)
}

// TestStepAsideAfterARecentElection: the replica that is to take over won
// an election seconds before (a switchover there and back, as an upgrade's
// canary handover and rollback do), and Redis 7.0 gives such a replica's
// CLUSTER FAILOVER up (it reuses the stale election's votes, see
// failover.Run). The primary's Pod is then deleted: it must still hand over
// within its wait (the paused takeover) and lose no acknowledged write.
func TestStepAsideAfterARecentElection(t *testing.T) {
	ctx := t.Context()
	c, cc, w := underWrites(t)
	nodes := c.Nodes()
	p0, r0 := nodes[0], nodes[3]
	for _, to := range []string{r0.Addr, p0.Addr} {
		fr, err := failover.Run(ctx, c.Admin, failover.Input{ReplicaAddr: to, Timeout: time.Minute})
		if err != nil {
			t.Fatalf("switchover to %s: %v", to, err)
		}
		t.Logf("switchover to %s: %+v", to, fr)
	}
	// At once: the primary may not have heard yet that its replica is
	// one again (the demoted node tells the cluster with its next pings).
	before := w.Stats()
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	res := stepaside.Run(ctx, stepaside.Options{Addr: p0.Addr, Password: "pw", Wait: 5 * time.Second, Log: log})
	if !res.HandedOver || res.To != r0.Addr {
		c := client(p0.Addr)
		text, _ := c.ClusterNodes(ctx).Result()
		_ = c.Close()
		t.Fatalf("%+v, want handed over to %s; CLUSTER NODES:\n%s", res, r0.Addr, text)
	}
	if res.Attempts > 1 && res.Method != failover.PausedTakeover {
		t.Errorf("%+v: a second attempt must be a paused takeover", res)
	}
	during := w.Stats()
	stopAndRestart(ctx, t, w, p0, r0, during)
	t.Logf("FIGURES step-aside after a recent election: handed over in %s (%d attempts, %s); %d writes failed (outcome unknown) meanwhile",
		res.Took.Round(time.Millisecond), res.Attempts, res.Method, during.Failed-before.Failed)
	stopAndVerify(ctx, t, w, cc)
}

// TestStepAsideWhenTheElectionIsGivenUp: the other primaries are frozen
// (SIGSTOP, as a stalled host or a long fork would) when the primary steps
// aside, so its replica's election gets no majority and Redis gives the
// coordinated failover up without a word. Within the wait, the second
// attempt (a paused takeover, which needs no vote) must hand the shard
// over, and no acknowledged write may be lost.
func TestStepAsideWhenTheElectionIsGivenUp(t *testing.T) {
	ctx := t.Context()
	c, cc, w := underWrites(t)
	nodes := c.Nodes()
	p0, r0, voters := nodes[0], nodes[3], nodes[1:3]
	signal := func(sig syscall.Signal) {
		for _, n := range voters {
			if err := syscall.Kill(n.Pid(), sig); err != nil {
				t.Error(err)
			}
		}
	}
	before := w.Stats()
	signal(syscall.SIGSTOP)
	t.Cleanup(func() { signal(syscall.SIGCONT) })
	// Thawed after 3.5 s: past the first attempt (half the 5 s wait),
	// well within cluster-node-timeout (5 s), so nobody is flagged failing.
	thaw := time.AfterFunc(3500*time.Millisecond, func() { signal(syscall.SIGCONT) })
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	res := stepaside.Run(ctx, stepaside.Options{Addr: p0.Addr, Password: "pw", Wait: 5 * time.Second, Log: log})
	if thaw.Stop() {
		signal(syscall.SIGCONT)
	}
	if !res.HandedOver || res.To != r0.Addr || res.Attempts < 2 || res.Method != failover.PausedTakeover {
		t.Fatalf("%+v, want handed over to %s by a paused takeover after the elected attempt", res, r0.Addr)
	}
	during := w.Stats()
	stopAndRestart(ctx, t, w, p0, r0, during)
	t.Logf("FIGURES step-aside with the election given up: handed over in %s (%d attempts, %s); %d writes failed (outcome unknown) meanwhile, those of the frozen shards too",
		res.Took.Round(time.Millisecond), res.Attempts, res.Method, during.Failed-before.Failed)
	stopAndVerify(ctx, t, w, cc)
}

// underWrites starts a real three-shard cluster (one replica each) and,
// once it has acknowledged 3,000 writes, returns it with a client that
// writes on, waiting for a replica (WAIT 1) and checking each key's
// previous value.
func underWrites(t *testing.T) (*redistest.Cluster, *redis.ClusterClient, *redistest.Writer) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	t.Parallel()
	c := redistest.New(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1, Password: "pw"})
	cc := c.ClusterClient()
	t.Cleanup(func() { cc.Close() })
	w := redistest.StartWriter(t.Context(), cc, redistest.WriterOptions{Keys: 3000, Workers: 4, WaitReplicas: 1, CheckPrevious: true})
	redistest.WaitFor(t, time.Minute, "writes", func() bool { return w.Stats().Acked > 3000 })
	return c, cc, w
}

// stopAndRestart does what the manager does after stepping aside: old's
// redis-server gets the SIGTERM and exits (a replica now: at once), and
// the new primary must serve. Then the Pod comes back (its container
// restarted): a replica of the new primary, which the writer's WAIT needs.
func stopAndRestart(ctx context.Context, t *testing.T, w *redistest.Writer, old, primary *redistest.Node, during redistest.WriterStats) {
	t.Helper()
	if err := syscall.Kill(old.Pid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 15*time.Second, "the old primary's exit", func() bool { return syscall.Kill(old.Pid(), 0) != nil })
	if role(ctx, t, primary.Addr) != "master" {
		t.Errorf("%s is not the shard's primary", primary.Addr)
	}
	if err := old.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 30*time.Second, "writes after the restart", func() bool { return w.Stats().Acked > during.Acked+5000 })
}

// stopAndVerify stops the writer and reads back every key it wrote: no
// acknowledged write may be lost.
func stopAndVerify(ctx context.Context, t *testing.T, w *redistest.Writer, cc *redis.ClusterClient) {
	t.Helper()
	st := w.Stop()
	n, err := w.Verify(ctx, cc)
	if err != nil || st.Lost != 0 {
		t.Errorf("acknowledged writes lost: %d replaced (%v); read back %d keys: %v", st.Lost, st.LostErr, n, err)
	}
}

func role(ctx context.Context, t *testing.T, addr string) string {
	t.Helper()
	c := client(addr)
	defer c.Close()
	v, err := c.Do(ctx, "ROLE").Slice()
	if err != nil || len(v) == 0 {
		t.Fatalf("ROLE of %s: %v", addr, err)
	}
	s, _ := v[0].(string)
	return s
}

// emptySlot is a slot the primary at addr owns with no key in it.
func emptySlot(ctx context.Context, t *testing.T, addr string) int {
	t.Helper()
	c := client(addr)
	defer c.Close()
	text, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	v, err := clusteradmin.ParseClusterNodes(text)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range v.Myself.Slots {
		for s := r.Start; s <= r.End; s++ {
			if n, err := c.ClusterCountKeysInSlot(ctx, s).Result(); err == nil && n == 0 {
				return s
			}
		}
	}
	t.Fatalf("%s has no empty slot", addr)
	return 0
}

func nodeID(ctx context.Context, t *testing.T, c *redistest.Cluster, addr string) string {
	t.Helper()
	id, err := c.NodeID(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func setSlot(ctx context.Context, t *testing.T, addr string, slot int, args ...any) {
	t.Helper()
	c := client(addr)
	defer c.Close()
	if err := c.Do(ctx, append([]any{"CLUSTER", "SETSLOT", slot}, args...)...).Err(); err != nil {
		t.Fatal(err)
	}
}

func set(ctx context.Context, t *testing.T, addr, key, val string) {
	t.Helper()
	c := client(addr)
	defer c.Close()
	if err := c.ConfigSet(ctx, key, val).Err(); err != nil {
		t.Fatal(err)
	}
}

func configGet(ctx context.Context, t *testing.T, addr, key string) string {
	t.Helper()
	c := client(addr)
	defer c.Close()
	v, err := c.ConfigGet(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return v[key]
}

func client(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Password: "pw", Protocol: 2, DisableIdentity: true})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
