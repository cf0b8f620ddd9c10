package slotmigrate_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/slotmigrate"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// TestMigrateTargetKilledAndRestarted: the node a scale-out moves slots
// to is SIGKILLed in the middle of the move and restarted at once on its
// AOF and nodes.conf (a container restart), then fenced for 150 ms with a
// one-time password as dayops' instance manager does; the migration, run
// again as the activity's retry would, must finish with every filled key
// and every acknowledged write in place. The cluster has a password, as
// dayops' clusters do: a connection the fenced node refuses then fails in
// its AUTH (WRONGPASS), which go-redis reports without setting it on the
// pipeline's commands (the case internal/redis/pipe.Failed exists for;
// without a password the commands carry their own NOAUTH).
func TestMigrateTargetKilledAndRestarted(t *testing.T) {
	t.Parallel()
	bothModes(t, killTarget)
}

func killTarget(t *testing.T, mode clusteradmin.CopyMode) {
	ctx := t.Context()
	const password = "cluster-secret"
	// The target has a replica: the writer waits for one.
	so := newScaleOutWith(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1, Password: password,
		Config: []string{"--appendonly", "yes", "--appendfsync", "always"},
		Limits: clusteradmin.Limits{Copy: mode}},
		redistest.WriterOptions{Keys: 5000, Workers: 2, CheckPrevious: true, WaitReplicas: 1}, true)
	c, cc, w, n4, plan := so.c, so.cc, so.w, so.n4, so.plan
	var err error
	killed := make(chan string, 1)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		for wctx.Err() == nil {
			if open := redistest.OpenSlot(wctx, cc); open != "" {
				if err := n4.Restart(ctx); err != nil {
					t.Errorf("restart the target: %v", err)
				}
				// The instance manager's fence: a one-time password for
				// about 100 ms.
				fc := redis.NewClient(&redis.Options{Addr: n4.Addr, Password: password, Protocol: 2})
				_ = fc.ConfigSet(ctx, "requirepass", "fence-once").Err()
				time.Sleep(150 * time.Millisecond)
				_ = fc.Do(ctx, "auth", "fence-once").Err()
				_ = fc.ConfigSet(ctx, "requirepass", password).Err()
				fc.Close()
				killed <- open
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	m := slotmigrate.New(c.Admin)
	var runs int
	for runs = 1; runs <= 5; runs++ {
		_, err = m.MigrateSlots(ctx, slotmigrate.MigrateInput{Moves: plan.Moves, Seeds: c.Addrs()})
		if err == nil {
			break
		}
		t.Logf("run %d: %v", runs, err)
		time.Sleep(time.Second)
	}
	stop()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case open := <-killed:
		t.Logf("target restarted at open slot %s; %d runs", open, runs)
	default:
		t.Fatal("the target was never killed mid-migration")
	}
	w.Stop()
	st := w.Stats()
	if st.Lost > 0 {
		t.Errorf("%d acknowledged writes lost: %v", st.Lost, st.LostErr)
	}
	if _, err := w.Verify(ctx, cc); err != nil {
		t.Errorf("writer: %v", err)
	}
	n, err := redistest.CountFilled(ctx, cc, "k:", testKeys)
	if err != nil {
		t.Fatal(err)
	}
	if n != testKeys {
		t.Errorf("%d of %d filled keys lost", testKeys-n, testKeys)
	}
}

// TestMigrateFollowsATakeoverOfTheTarget: between two runs of a scale-out's
// migration, the target's replica takes over (as dayops' instance manager
// has it do for a restarted primary whose replica may hold writes its AOF
// lacks); the run again with the plan's node IDs must move the rest of the
// slots to the new primary, with every key and acknowledged write in place.
func TestMigrateFollowsATakeoverOfTheTarget(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	so := newScaleOutWith(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1},
		redistest.WriterOptions{Keys: 5000, Workers: 2, CheckPrevious: true, WaitReplicas: 1}, true)
	c, cc, w, n4, r4, plan := so.c, so.cc, so.w, so.n4, so.r4, so.plan
	m := slotmigrate.New(c.Admin)
	if _, err := m.MigrateSlots(ctx, slotmigrate.MigrateInput{Moves: plan.Moves[:1], Seeds: c.Addrs()}); err != nil {
		t.Fatal(err)
	}
	takeOver(t, c, n4, r4)
	r4id, err := c.NodeID(ctx, r4.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.MigrateSlots(ctx, slotmigrate.MigrateInput{Moves: plan.Moves, Seeds: c.Addrs()}); err != nil {
		t.Fatalf("run after the takeover: %v", err)
	}
	view, err := c.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := plan.Slots()
	var got int
	for s := range 16384 {
		if view.Owner(s) == r4id {
			got++
		}
	}
	if got != want {
		t.Errorf("the new primary %s owns %d slots, want %d", r4.Addr, got, want)
	}
	w.Stop()
	if st := w.Stats(); st.Lost > 0 {
		t.Errorf("%d acknowledged writes lost: %v", st.Lost, st.LostErr)
	}
	if _, err := w.Verify(ctx, cc); err != nil {
		t.Errorf("writer: %v", err)
	}
	if n, err := redistest.CountFilled(ctx, cc, "k:", testKeys); err != nil || n != testKeys {
		t.Errorf("%d of %d filled keys (err %v)", n, testKeys, err)
	}
}

// takeOver waits until replica holds what primary has (link up, offset
// caught up: the instance manager picks only a replica that had synced),
// has it take over (CLUSTER FAILOVER TAKEOVER) and waits until the cluster
// agrees.
func takeOver(t *testing.T, c *redistest.Cluster, primary, replica *redistest.Node) {
	t.Helper()
	if err := doTakeOver(t.Context(), c, primary, replica); err != nil {
		t.Fatal(err)
	}
}

// doTakeOver is takeOver for any goroutine.
func doTakeOver(ctx context.Context, c *redistest.Cluster, primary, replica *redistest.Node) error {
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr, Protocol: 2})
	defer rc.Close()
	pc := redis.NewClient(&redis.Options{Addr: primary.Addr, Protocol: 2})
	defer pc.Close()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		pi, err1 := pc.Info(ctx, "replication").Result()
		ri, err2 := rc.Info(ctx, "replication").Result()
		p, r := clusteradmin.ParseInfo(pi), clusteradmin.ParseInfo(ri)
		if err1 == nil && err2 == nil && r["master_link_status"] == "up" && r["slave_repl_offset"] == p["master_repl_offset"] {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replica %s did not catch up with %s", replica.Addr, primary.Addr)
		}
	}
	if err := rc.Do(ctx, "cluster", "failover", "takeover").Err(); err != nil {
		return err
	}
	// Every node sees the new roles (slot owners may differ: a node
	// importing a slot keeps its old owner).
	id, err := c.NodeID(ctx, replica.Addr)
	if err != nil {
		return err
	}
	// Own connections: the migration's may all be busy (doTakeOver runs in
	// its copy hook too).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		agree := 0
		for _, addr := range c.Addrs() {
			nc := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2})
			text, err := nc.ClusterNodes(ctx).Result()
			nc.Close()
			if err != nil {
				continue
			}
			if v, err := clusteradmin.ParseClusterNodes(text); err == nil && v.Nodes[id].IsPrimary() {
				agree++
			}
		}
		if agree == len(c.Addrs()) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not every node sees %s as a primary", replica.Addr)
		}
	}
}

// TestMigrateFollowsAFailoverDuringTheRun: the target, or a source, of a
// scale-out fails over to its replica while the migration runs (during a
// copy's commit); the same MigrateSlots call must notice (the node answers
// ROLE as a replica), observe the cluster again, follow the failover and
// finish with every key and acknowledged write. Before, SETSLOT on the
// demoted node failed the migration for good ("Please use SETSLOT only
// with masters", a permanent error), or its redirected RESTOREs were
// retried for two minutes first.
func TestMigrateFollowsAFailoverDuringTheRun(t *testing.T) {
	t.Parallel()
	for _, side := range []string{"target", "source"} {
		t.Run(side, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			so, view := newFailoverScaleOut(t)
			c, plan := so.c, so.plan
			primary, replica := so.n4, so.r4
			if side == "source" {
				nodes := map[string]*redistest.Node{}
				for _, n := range c.Nodes() {
					nodes[n.Addr] = n
				}
				from := plan.Moves[0].From
				primary = nodes[view.Nodes[from].Addr]
				for _, n := range view.Nodes {
					if n.PrimaryID == from {
						replica = nodes[n.Addr]
					}
				}
			}
			m := slotmigrate.New(c.Admin)
			var once sync.Once
			m.BeforeCommit = func(int, int) {
				once.Do(func() {
					if err := doTakeOver(ctx, c, primary, replica); err != nil {
						t.Error(err)
					}
					t.Logf("%s %s failed over to %s during the run", side, primary.Addr, replica.Addr)
				})
			}
			start := time.Now()
			if _, err := m.MigrateSlots(ctx, slotmigrate.MigrateInput{Moves: plan.Moves, Seeds: c.Addrs()}); err != nil {
				t.Fatalf("migration with a failover during it: %v", err)
			}
			t.Logf("migration finished in %s", time.Since(start).Round(time.Millisecond))
			so.checkNothingLost(t)
		})
	}
}

// TestMigrateFollowsAFailoverMidSlot: a slot is open between a planned
// source and target with half its keys moved when one of the two fails
// over to its replica; the migration, run again with the plan's node IDs,
// must continue the slot with the new primary and lose no key: the keys
// already on the target were moved (the source deleted them), so they are
// not leftovers to drop, and the keys on the promoted replica are the
// target's.
//
// Once the target hears that the old source is a replica, it sees the slot
// it imports owned by no one (Redis drops a demoted node's slots and skips
// the new primary's claim of an importing slot) and answers CLUSTERDOWN to
// every key: "source" runs the migration only then (the repair at the
// start), "source, target learns late" at once, holding the first copy's
// commit until the target has dropped the owner (the repair on the wave's
// retry; CI's run of the old code hit this: 124 attempts, all CLUSTERDOWN).
func TestMigrateFollowsAFailoverMidSlot(t *testing.T) {
	t.Parallel()
	for _, side := range []string{"target", "source", "source, target learns late"} {
		t.Run(side, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			so, view := newFailoverScaleOut(t)
			c, plan := so.c, so.plan
			mv := plan.Moves[0]
			src, tgt := view.Nodes[mv.From], view.Nodes[mv.To]
			slot, moved, err := c.OpenHalfMoved(ctx, src.Addr, tgt.Addr, mv.Range.Start, mv.Range.End)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("slot %d open %s -> %s with %d keys moved", slot, src.Addr, tgt.Addr, moved)
			nodes := map[string]*redistest.Node{}
			for _, n := range c.Nodes() {
				nodes[n.Addr] = n
			}
			m := slotmigrate.New(c.Admin)
			if side == "target" {
				takeOver(t, c, so.n4, so.r4)
			} else {
				var replica *redistest.Node
				for _, n := range view.Nodes {
					if n.PrimaryID == mv.From {
						replica = nodes[n.Addr]
					}
				}
				takeOver(t, c, nodes[src.Addr], replica)
				if side == "source" {
					waitDropped(ctx, t, c, tgt.Addr, slot, src.ID)
				} else {
					var once sync.Once
					m.BeforeCommit = func(int, int) {
						once.Do(func() {
							if v, err := c.Admin.View(ctx, tgt.Addr); err == nil && v.Owner(slot) == src.ID {
								t.Logf("the migration started before %s dropped the owner of slot %d: it repairs it mid-move", tgt.Addr, slot)
								waitDropped(ctx, t, c, tgt.Addr, slot, src.ID)
							} else {
								t.Logf("%s had dropped the owner of slot %d before the migration started (the repair at the start ran)", tgt.Addr, slot)
							}
						})
					}
				}
			}
			if _, err := m.MigrateSlots(ctx, slotmigrate.MigrateInput{Moves: plan.Moves, Seeds: c.Addrs()}); err != nil {
				t.Fatalf("run after the failover: %v", err)
			}
			so.checkNothingLost(t)
		})
	}
}

// newFailoverScaleOut is the scale-out the failover tests start from (a
// replica for every primary, a writer that waits for one and checks every
// value it replaces) and the cluster's view before it.
func newFailoverScaleOut(t *testing.T) (scaleOut, clusteradmin.ClusterView) {
	t.Helper()
	so := newScaleOutWith(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1},
		redistest.WriterOptions{Keys: 5000, Workers: 2, CheckPrevious: true, WaitReplicas: 1}, true)
	view, err := so.c.View(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return so, view
}

// checkNothingLost stops the writer and checks that no acknowledged write
// and no filled key was lost and that the cluster is whole.
func (so scaleOut) checkNothingLost(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	so.w.Stop()
	if st := so.w.Stats(); st.Lost > 0 {
		t.Errorf("%d acknowledged writes lost: %v", st.Lost, st.LostErr)
	}
	if _, err := so.w.Verify(ctx, so.cc); err != nil {
		t.Errorf("writer: %v", err)
	}
	if n, err := redistest.CountFilled(ctx, so.cc, "k:", testKeys); err != nil || n != testKeys {
		t.Errorf("%d of %d filled keys (err %v)", n, testKeys, err)
	}
	if err := so.c.Check(ctx); err != nil {
		t.Error(err)
	}
}

// waitDropped waits until the node at addr no longer sees slot owned by
// old: owned by no live primary (cluster_state:fail), or by the one a
// concurrent wave's repair gave it.
func waitDropped(ctx context.Context, t *testing.T, c *redistest.Cluster, addr string, slot int, old string) {
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		v, err := c.Admin.View(ctx, addr)
		if err != nil {
			t.Error(err)
			return
		}
		o, ok := v.Nodes[v.Owner(slot)]
		if !ok || !o.IsPrimary() || o.Has("fail") || o.ID != old {
			t.Logf("%s no longer sees slot %d owned by the old source (owner now %q)", addr, slot, o.Addr)
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s still sees slot %d owned by %s", addr, slot, o.Addr)
			return
		}
	}
}

// TestMigrateTakesOverALostSource: a planned source is SIGKILLed in the
// middle of a wave, once a slot of it has its keys on the target but is
// still open, and never comes back (its Pod gone). Redis must not fail it
// over by itself: its replica, promoted without the source's MIGRATING,
// serves that slot as if no key had moved (a write to a moved key makes a
// second copy, a read finds nothing or an old value). The mover, once the
// cluster agrees the source failed, has the replica furthest ahead take
// over with the slot moves in one transaction (sourceguard.TakeOver) and
// finishes the move from it. A writer on that slot alone (a hash tag),
// waiting for a replica (each shard has two), checks every value it
// replaces: every filled key and every acknowledged write must be there.
func TestMigrateTakesOverALostSource(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	so := newScaleOutWith(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 2},
		redistest.WriterOptions{Keys: 5000, Workers: 2, CheckPrevious: true, WaitReplicas: 1}, true)
	c, plan := so.c, so.plan
	view, err := c.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mv := plan.Moves[0]
	slot := mv.Range.Start
	tc := redis.NewClient(&redis.Options{Addr: view.Nodes[mv.To].Addr, Protocol: 2})
	defer tc.Close()
	tag := tagFor(t, ctx, tc, slot)
	w := redistest.StartWriter(ctx, so.cc, redistest.WriterOptions{Keys: 500, Workers: 2, CheckPrevious: true, WaitReplicas: 1, Prefix: tag})
	defer w.Stop()
	var source *redistest.Node
	for _, n := range c.Nodes() {
		if n.Addr == view.Nodes[mv.From].Addr {
			source = n
		}
	}
	m := slotmigrate.New(c.Admin)
	var once sync.Once
	var killed time.Time
	m.BeforeCommit = func(s, _ int) {
		if s == slot || s < mv.Range.Start || s > mv.Range.End {
			return
		}
		if n, err := tc.ClusterCountKeysInSlot(ctx, slot).Result(); err != nil || n == 0 {
			return // the writer's slot is not on the target yet
		}
		once.Do(func() {
			source.Kill()
			killed = time.Now()
			t.Logf("source %s SIGKILLed with slot %d (the writer's) on the target, still open", source.Addr, slot)
		})
	}
	if _, err := m.MigrateSlots(ctx, slotmigrate.MigrateInput{Moves: plan.Moves, Seeds: c.Addrs()}); err != nil {
		t.Fatalf("migration with its source lost: %v", err)
	}
	if killed.IsZero() {
		t.Fatal("the source was never killed")
	}
	t.Logf("migration finished %s after the kill", time.Since(killed).Round(time.Millisecond))
	w.Stop()
	if st := w.Stats(); st.Lost > 0 || st.Acked == 0 {
		t.Errorf("writer on slot %d: %d acknowledged writes lost of %d (%v)", slot, st.Lost, st.Acked, st.LostErr)
	}
	if _, err := w.Verify(ctx, so.cc); err != nil {
		t.Errorf("writer on slot %d: %v", slot, err)
	}
	// Who promoted the source's replica: the mover's TAKEOVER, never
	// Redis' own election (without Hold, Redis promotes it itself in every
	// run, also in those where the writer happens to lose nothing).
	takeovers := 0
	for _, n := range c.Nodes() {
		switch n.Promotion() {
		case "election":
			t.Errorf("%s was promoted by Redis' own failover election, want the mover's takeover", n.Addr)
		case "takeover":
			takeovers++
		}
	}
	if takeovers != 1 {
		t.Errorf("%d nodes promoted by CLUSTER FAILOVER TAKEOVER, want 1", takeovers)
	}
	for _, n := range c.Nodes() {
		if n == source {
			continue
		}
		nc := redis.NewClient(&redis.Options{Addr: n.Addr, Protocol: 2})
		held, err := nc.ConfigGet(ctx, "cluster-replica-no-failover").Result()
		nc.Close()
		if err != nil || held["cluster-replica-no-failover"] != "no" {
			t.Errorf("cluster-replica-no-failover on %s after the move: %v (err %v), want no", n.Addr, held, err)
		}
	}
	so.checkNothingLost(t)
}

// TestMigrateWaitsForAFencedPrimary: a primary of the cluster refuses the
// cluster's password when a run starts, as one restarting under its
// instance manager's fence does (the source of a scale-in SIGKILLed in
// the middle of the move, in the e2e suite: the retry then failed for
// good, RedisPermanent). The run's error is transient, and a run once the
// fence is lifted moves every slot with every key in place.
func TestMigrateWaitsForAFencedPrimary(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const password = "cluster-secret"
	so := newScaleOutWith(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1, Password: password,
		Config: []string{"--appendonly", "yes", "--appendfsync", "always"}},
		redistest.WriterOptions{Keys: 2000, Workers: 2, CheckPrevious: true}, false)
	c, cc, w, plan := so.c, so.cc, so.w, so.plan
	fenced := c.Nodes()[0]
	if err := fenced.Restart(ctx); err != nil { // the pool's connections go with it
		t.Fatal(err)
	}
	fc := redis.NewClient(&redis.Options{Addr: fenced.Addr, Password: password, Protocol: 2})
	defer fc.Close()
	if err := fc.ConfigSet(ctx, "requirepass", "fence-once").Err(); err != nil {
		t.Fatal(err)
	}
	m := slotmigrate.New(c.Admin)
	_, err := m.MigrateSlots(ctx, slotmigrate.MigrateInput{Moves: plan.Moves, Seeds: c.Addrs()})
	if typ, retry := clusteradmin.Classify(err); err == nil || typ != clusteradmin.TypeTransient || !retry {
		t.Fatalf("run against a fenced primary: %v (%s, retryable %v), want a transient error", err, typ, retry)
	}
	t.Logf("run against a fenced primary: %v", err)
	if err := fc.Do(ctx, "auth", "fence-once").Err(); err != nil {
		t.Fatal(err)
	}
	if err := fc.ConfigSet(ctx, "requirepass", password).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.MigrateSlots(ctx, slotmigrate.MigrateInput{Moves: plan.Moves, Seeds: c.Addrs()}); err != nil {
		t.Fatalf("run after the fence: %v", err)
	}
	w.Stop()
	if st := w.Stats(); st.Lost > 0 {
		t.Errorf("%d acknowledged writes lost: %v", st.Lost, st.LostErr)
	}
	if n, err := redistest.CountFilled(ctx, cc, "k:", testKeys); err != nil || n != testKeys {
		t.Errorf("%d of %d filled keys (%v)", n, testKeys, err)
	}
}
