package guardian

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/slotmigrate/leftopen"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/topology"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSweepClearsHoldsNoMoveOwns (real redis-servers, 3 shards x 1
// replica): a slot move cut short left shard 0's and shard 1's replicas
// held from failover, shard 1's primary still migrating a slot. The sweep
// clears shard 0's hold on its second look, keeps shard 1's (its open slot
// needs the manager's takeover with MIGRATING), and then the fault it is
// for: shard 0's primary is SIGKILLed and Redis fails it over by itself
// (an election, not a takeover after the manager's grace) while a writer
// that waits for a replica loses no acknowledged write.
func TestSweepClearsHoldsNoMoveOwns(t *testing.T) {
	t.Parallel()
	c, _, pool := startCluster(t)
	ctx := t.Context()
	nodes := c.Nodes()
	slot := fillSlotOn(t, c, nodes[1].Addr)
	if _, _, err := c.OpenHalfMoved(ctx, nodes[1].Addr, nodes[2].Addr, slot, slot); err != nil {
		t.Fatal(err)
	}
	targets := holdTargetsOf(t, c)
	setHold(t, pool, nodes[3].Addr, nodes[4].Addr)
	cc := c.ClusterClient()
	defer cc.Close()
	w := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 2000, Workers: 2, WaitReplicas: 1, CheckPrevious: true})
	defer w.Stop()
	var mem holdMemory
	none := func(context.Context) (string, error) { return "", nil }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if got, _ := sweep(ctx, pool, targets, &mem, none, log); len(got) != 0 {
		t.Fatalf("first look cleared %v, want nothing (a hold is cleared when two looks find it)", got)
	}
	got, n := sweep(ctx, pool, targets, &mem, none, log)
	if want := []HoldRelease{{Ordinal: 3, Shard: 0, Role: topology.RoleReplica}}; len(got) != 1 || got[0] != want[0] {
		t.Fatalf("second look cleared %v, want %v", got, want)
	}
	t.Logf("second look: %d commands, cleared %v", n, got)
	if held(t, pool, nodes[3].Addr) || !held(t, pool, nodes[4].Addr) {
		t.Fatalf("held after the sweep: shard 0's replica %v, shard 1's %v; want only shard 1's (its primary migrates a slot)",
			held(t, pool, nodes[3].Addr), held(t, pool, nodes[4].Addr))
	}
	redistest.WaitFor(t, time.Minute, "writes", func() bool { return w.Stats().Acked > 2000 })
	nodes[0].Kill()
	killed := time.Now()
	redistest.WaitFor(t, time.Minute, "shard 0's replica promoted", func() bool {
		v, err := c.Admin.ViewOnce(ctx, nodes[3].Addr)
		return err == nil && v.Myself.IsPrimary()
	})
	t.Logf("shard 0's replica promoted %s after its primary's SIGKILL", time.Since(killed).Round(100*time.Millisecond))
	if p := nodes[3].Promotion(); p != "election" {
		t.Errorf("shard 0's replica promoted by %q, want Redis' own election", p)
	}
	// The old primary comes back as the new one's replica: the writer's
	// WAIT has a replica again.
	if err := nodes[0].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	acked := w.Stats().Acked
	redistest.WaitFor(t, time.Minute, "writes again", func() bool { return w.Stats().Acked > acked+500 })
	w.Stop()
	if st := w.Stats(); st.Lost > 0 {
		t.Errorf("%d of %d acknowledged writes lost: %v", st.Lost, st.Acked, st.LostErr)
	}
	if k, err := w.Verify(ctx, cc); err != nil {
		t.Errorf("verify %d keys: %v", k, err)
	}
	t.Logf("writer: %d writes acknowledged, %d lost", w.Stats().Acked, w.Stats().Lost)
}

// TestSweepHoldsAgainWhenAnOperationStarts: an operation that starts
// between the sweep's look and its clearing may be a move that has just
// held its sources' replicas: the sweep sets the holds it cleared again.
func TestSweepHoldsAgainWhenAnOperationStarts(t *testing.T) {
	t.Parallel()
	c, _, pool := startCluster(t)
	ctx := t.Context()
	nodes := c.Nodes()
	targets := holdTargetsOf(t, c)
	setHold(t, pool, nodes[5].Addr)
	var mem holdMemory
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	asked := 0
	started := func(context.Context) (string, error) { asked++; return "scale-out", nil }
	for range 2 {
		if got, _ := sweep(ctx, pool, targets, &mem, started, log); len(got) != 0 {
			t.Fatalf("cleared %v while an operation started", got)
		}
	}
	if asked != 1 || !held(t, pool, nodes[5].Addr) {
		t.Fatalf("asked for an operation %d times (want 1: after clearing), held after: %v (want true)", asked, held(t, pool, nodes[5].Addr))
	}
}

// TestWatchSweepsOnlyAHealthyCluster (the guardian's sweepHolds, real
// redis-servers): the sweep's targets come from the observation (a replica
// asks its primary's address through its node ID), a look at a cluster
// that is not healthy (an operation runs, or it is degraded) forgets the
// holds found before, so the two looks that clear a hold both see it
// healthy; the cleared hold is counted in dayops_failover_holds_released_total.
// A slot left open (half its keys moved) is reported the same way: on the
// second healthy look in a row, as migrating on its source and importing
// on its target, and counted once in dayops_slots_found_left_open_total.
func TestWatchSweepsOnlyAHealthyCluster(t *testing.T) {
	t.Parallel()
	c, _, _ := startCluster(t)
	ctx := t.Context()
	reg := prometheus.NewRegistry()
	a := &Activities{Passwords: noPassword{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), HoldSweep: time.Nanosecond,
		Metrics: NewMetrics(reg)}
	targets := holdTargetsOf(t, c)
	obs := Observation{Spec: &spec.Cluster{Name: "holds"}, Input: guard.Input{Nodes: map[int]guard.Node{}}}
	byAddr := map[string]string{}
	for _, ht := range targets {
		byAddr[ht.Addr] = ht.NodeID
	}
	for _, ht := range targets {
		obs.Input.Pods = append(obs.Input.Pods, guard.Pod{Ordinal: ht.Ordinal, Shard: ht.Shard, Addr: ht.Addr})
		n := guard.Node{Reachable: true, NodeID: ht.NodeID, Role: ht.Role, KnownNodes: 6}
		if ht.Role == topology.RoleReplica {
			n.PrimaryID = byAddr[ht.PrimaryAddr]
		}
		obs.Input.Nodes[ht.Ordinal] = n
	}
	if diff := cmp.Diff(targets, holdTargets(obs)); diff != "" {
		t.Fatalf("targets from the observation (-want +got):\n%s", diff)
	}
	setHold(t, a.pool(t), c.Nodes()[4].Addr)
	// A slot move cut short from shard 0 to shard 2 (shard 1's primary,
	// whose replica is held, has nothing open).
	slot := fillSlotOn(t, c, c.Nodes()[0].Addr)
	if _, _, err := c.OpenHalfMoved(ctx, c.Nodes()[0].Addr, c.Nodes()[2].Addr, slot, slot); err != nil {
		t.Fatal(err)
	}
	var open []leftopen.Slot
	look := func(state string) []HoldRelease {
		obs.Assessment.State = state
		sw := a.sweepHolds(ctx, "default", "holds", obs)
		open = sw.open
		if len(sw.refused) != 0 {
			t.Errorf("look found primaries refusing writes: %v", sw.refused)
		}
		return sw.released
	}
	for i, state := range []string{guard.StateHealthy, guard.StateBusy, guard.StateHealthy, guard.StateDegraded, guard.StateHealthy} {
		if got := look(state); len(got) != 0 || len(open) != 0 {
			t.Fatalf("look %d (%s) cleared %v, found %v open: want nothing (no two healthy looks in a row)", i+1, state, got, open)
		}
	}
	want := []HoldRelease{{Ordinal: 4, Shard: 1, Role: topology.RoleReplica}}
	if diff := cmp.Diff(want, look(guard.StateHealthy)); diff != "" {
		t.Fatalf("second healthy look in a row (-want +got):\n%s", diff)
	}
	wantOpen := []leftopen.Slot{{Slot: slot, Ordinal: 0, Shard: 0, Migrating: true, Peer: targets[2].NodeID},
		{Slot: slot, Ordinal: 2, Shard: 2, Peer: targets[0].NodeID}}
	if diff := cmp.Diff(wantOpen, open); diff != "" {
		t.Fatalf("slots found open on the second healthy look (-want +got):\n%s", diff)
	}
	if held(t, a.pool(t), c.Nodes()[4].Addr) {
		t.Fatal("still held after the sweep cleared it")
	}
	if got := testutil.ToFloat64(a.Metrics.holds); got != 1 {
		t.Errorf("dayops_failover_holds_released_total = %v, want 1", got)
	}
	if got := testutil.ToFloat64(a.Metrics.open); got != 1 {
		t.Errorf("dayops_slots_found_left_open_total = %v, want 1 (one slot, open on two primaries)", got)
	}
}

type noPassword struct{}

func (noPassword) Password(context.Context, string, string) (string, error) { return "", nil }

// pool is the client pool the guardian's observations of the test cluster
// use.
func (a *Activities) pool(t *testing.T) *clusteradmin.ClientPool {
	t.Helper()
	cl, err := a.clients(t.Context(), "default", render.PasswordSecretName(spec.Cluster{Name: "holds"}))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// holdParam is the setting a move holds its sources' replicas with.
const holdParam = "cluster-replica-no-failover"

// holdTargetsOf are the sweep's targets for every node of c, by their
// order in c.Nodes() (the startCluster ordinals).
func holdTargetsOf(t *testing.T, c *redistest.Cluster) []holdTarget {
	t.Helper()
	byID := map[string]string{}
	views := map[string]clusteradmin.ClusterView{}
	for _, n := range c.Nodes() {
		v, err := c.Admin.View(t.Context(), n.Addr)
		if err != nil {
			t.Fatal(err)
		}
		views[n.Addr] = v
		byID[v.Myself.ID] = n.Addr
	}
	var out []holdTarget
	for i, n := range c.Nodes() {
		me := views[n.Addr].Myself
		ht := holdTarget{Ordinal: i, Shard: i % 3, Addr: n.Addr, NodeID: me.ID, Role: topology.RolePrimary, PrimaryAddr: n.Addr}
		if !me.IsPrimary() {
			ht.Role, ht.PrimaryAddr = topology.RoleReplica, byID[me.PrimaryID]
		}
		out = append(out, ht)
	}
	return out
}

// fillSlotOn writes ten keys into one slot the primary at addr owns and
// returns the slot.
func fillSlotOn(t *testing.T, c *redistest.Cluster, addr string) int {
	t.Helper()
	cc := c.ClusterClient()
	defer cc.Close()
	slot, _, err := redistest.FillSlot(t.Context(), cc, c.Pool.Client(addr), "s", 10)
	if err != nil {
		t.Fatal(err)
	}
	return slot
}

func setHold(t *testing.T, pool *clusteradmin.ClientPool, addrs ...string) {
	t.Helper()
	for _, a := range addrs {
		if err := pool.Client(a).ConfigSet(t.Context(), holdParam, "yes").Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func held(t *testing.T, pool *clusteradmin.ClientPool, addr string) bool {
	t.Helper()
	v, err := pool.Client(addr).ConfigGet(t.Context(), holdParam).Result()
	if err != nil {
		t.Fatal(err)
	}
	return v[holdParam] == "yes"
}
