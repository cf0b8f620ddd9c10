package redisops

import (
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/topology"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// TestActivitiesOnRealRedis drives the wrappers against real redis-server
// processes: observe a healthy cluster, add a primary, drain another onto it
// with MigrateSlots, verify the drained node is empty, and forget it.
func TestActivitiesOnRealRedis(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, env, acts := activitiesOnRealRedis(t)

	addrs := c.Addrs()
	cc := c.ClusterClient()
	defer cc.Close()
	if err := redistest.Fill(ctx, cc, "k:", 5000, 64, 4); err != nil {
		t.Fatal(err)
	}

	obs := observe(t, env, acts, ObserveInput{Addrs: addrs, ScanBigKeysOn: addrs[:1]})
	if !obs.StateOK || !obs.AllConnected || len(obs.OpenSlots) > 0 || len(obs.Problems) > 0 {
		t.Fatalf("healthy cluster observed as %+v", obs)
	}
	if len(obs.InSync) != 2 {
		t.Errorf("in-sync replicas = %v, want 2 (within the default lag)", obs.InSync)
	}
	if obs.Nodes[0].BiggestKeyBytes <= 0 || obs.Nodes[0].ScannedKeys == 0 {
		t.Errorf("big-key scan found nothing: %+v", obs.Nodes[0])
	}
	if obs.Nodes[0].ScanPartial {
		t.Errorf("a scan without a budget stopped early: %+v", obs.Nodes[0])
	}
	// Admission's bounded scan: about the budget (SCAN returns ~COUNT keys
	// per call), and it says it stopped early.
	part := observe(t, env, acts, ObserveInput{Addrs: addrs, ScanBigKeysOn: addrs[:1], ScanKeyBudget: 500})
	if n := part.Nodes[0]; !n.ScanPartial || n.ScannedKeys < 500 || n.ScannedKeys >= obs.Nodes[0].ScannedKeys {
		t.Errorf("budget 500: scanned %d of %d keys, partial %v", n.ScannedKeys, obs.Nodes[0].ScannedKeys, n.ScanPartial)
	}

	// A third node joins; everything of the first primary moves to it.
	n, err := c.StartNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all := append(slices.Clone(addrs), n.Addr)
	var meet MeetResult
	get(t, env, acts.Meet, MeetInput{Addrs: all, RequireStateOK: true}, &meet)
	src, dst := meet.NodeIDs[addrs[0]], meet.NodeIDs[n.Addr]
	view, err := c.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var moves []topology.Move
	for _, r := range view.Nodes[src].Slots {
		moves = append(moves, topology.Move{From: src, To: dst, Range: r})
	}
	var mr MigrateResult
	get(t, env, acts.MigrateSlots, MigrateInput{Moves: moves, Seeds: all}, &mr)
	if mr.Progress.SlotsDone != mr.Progress.SlotsTotal || mr.Progress.KeysMoved == 0 {
		t.Fatalf("migration progress = %+v", mr.Progress)
	}

	if _, err := env.ExecuteActivity(acts.VerifyDrained, VerifyDrainedInput{Addrs: []string{n.Addr}}); err == nil {
		t.Fatal("VerifyDrained must refuse a node that owns slots")
	} else {
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != ErrTypeNotDrained || !app.NonRetryable() || !strings.Contains(err.Error(), "still owns") {
			t.Fatalf("want a Precondition application error, got %v", err)
		}
	}
	if _, err := env.ExecuteActivity(acts.VerifyDrained, VerifyDrainedInput{Addrs: addrs[:1]}); err != nil {
		t.Fatalf("drained primary: %v", err)
	}
	// A listed node that is a replica now (a failover in a departing
	// shard): its primary is what must be drained. The drained primary's
	// replica passes; the other primary's replica is a copy of a shard that
	// stays (it holds that shard's keys) and passes too.
	view, err = c.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range view.Nodes {
		if r.PrimaryID == "" {
			continue
		}
		if _, err := env.ExecuteActivity(acts.VerifyDrained, VerifyDrainedInput{Addrs: []string{r.Addr}}); err != nil {
			t.Errorf("replica %s of %s: %v", r.Addr, view.Nodes[r.PrimaryID].Addr, err)
		}
	}
	if err := c.Check(ctx); err != nil {
		t.Fatalf("cluster check after migration: %v", err)
	}
}

func observe(t *testing.T, env *testsuite.TestActivityEnvironment, acts *Activities, in ObserveInput) ObserveResult {
	t.Helper()
	var out ObserveResult
	get(t, env, acts.ObserveRedis, in, &out)
	return out
}

func get(t *testing.T, env *testsuite.TestActivityEnvironment, fn any, in any, out any) {
	t.Helper()
	v, err := env.ExecuteActivity(fn, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Get(out); err != nil {
		t.Fatal(err)
	}
}

// activitiesOnRealRedis starts 2 primaries with a replica each and an
// activity environment serving the activities on them.
func activitiesOnRealRedis(t *testing.T) (*redistest.Cluster, *testsuite.TestActivityEnvironment, *Activities) {
	t.Helper()
	return activitiesOn(t, redistest.Options{Primaries: 2, ReplicasPerPrimary: 1})
}

// activitiesOn starts a cluster with opts and an activity environment
// serving the activities on it.
func activitiesOn(t *testing.T, opts redistest.Options) (*redistest.Cluster, *testsuite.TestActivityEnvironment, *Activities) {
	t.Helper()
	c := redistest.New(t, opts)
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	conns := &Conns{Log: slog.New(slog.DiscardHandler), Limits: c.Admin.Limits}
	t.Cleanup(func() { conns.Close() })
	acts := New(conns)
	env.RegisterActivity(acts)
	return c, env, acts
}
