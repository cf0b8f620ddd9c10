package slotmigrate_test

import (
	"context"
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
