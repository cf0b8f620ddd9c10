package slotmigrate_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/slotmigrate"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/topology"
)

// testKeys fill the clusters the migration tests move: about 2.4 keys a
// slot, so nine slots in ten hold keys to move (what the count is for; more
// keys only make the fill and the moves take longer).
const testKeys = 40_000

// freeMemory reports the free memory of each primary (maxmemory, or the
// machine's memory, minus used_memory) for the drain plan.
func freeMemory(t *testing.T, ctx context.Context, c *redistest.Cluster, view clusteradmin.ClusterView) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for id, n := range view.Nodes {
		if !n.IsPrimary() {
			continue
		}
		text, err := c.Pool.Client(n.Addr).Info(ctx, "memory").Result()
		if err != nil {
			t.Fatal(err)
		}
		v := map[string]int64{}
		for _, line := range strings.Split(text, "\n") {
			if k, val, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
				v[k], _ = strconv.ParseInt(val, 10, 64)
			}
		}
		limit := v["maxmemory"]
		if limit == 0 {
			limit = v["total_system_memory"]
		}
		out[id] = limit - v["used_memory"]
	}
	return out
}

// scaleOut is a 3x1 cluster filled with testKeys keys under a writer's
// load, a fourth primary (n4, id4) with no slot yet, with a replica (r4)
// when asked, and the plan that gives it its share.
type scaleOut struct {
	c      *redistest.Cluster
	cc     *redis.ClusterClient
	w      *redistest.Writer
	n4, r4 *redistest.Node
	id4    string
	plan   topology.Plan
}

// newScaleOut starts a scaleOut; the client and the writer stop when the
// test ends.
func newScaleOut(t *testing.T, wo redistest.WriterOptions) scaleOut {
	return newScaleOutWith(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1}, wo, false)
}

// newScaleOutWith is newScaleOut on a cluster started with opts, the new
// primary with a replica when replica is set (planned only once every node
// sees it as one).
func newScaleOutWith(t *testing.T, opts redistest.Options, wo redistest.WriterOptions, replica bool) scaleOut {
	ctx := t.Context()
	c := redistest.New(t, opts)
	cc := c.ClusterClient()
	t.Cleanup(func() { cc.Close() })
	if err := redistest.Fill(ctx, cc, "k:", testKeys, 32, 8); err != nil {
		t.Fatal(err)
	}
	w := redistest.StartWriter(ctx, cc, wo)
	t.Cleanup(func() { w.Stop() })
	so := scaleOut{c: c, cc: cc, w: w}
	var err error
	if so.n4, err = c.AddPrimary(ctx); err != nil {
		t.Fatal(err)
	}
	if so.id4, err = c.NodeID(ctx, so.n4.Addr); err != nil {
		t.Fatal(err)
	}
	if replica {
		if so.r4, err = c.AddReplica(ctx, so.id4); err != nil {
			t.Fatal(err)
		}
	}
	view, err := c.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if so.plan, err = topology.Rebalance(view.Layout(), map[string]float64{so.id4: 1}); err != nil {
		t.Fatal(err)
	}
	return so
}

func TestScaleOutAndInUnderWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	// Scale out 3 -> 4.
	so := newScaleOut(t, redistest.WriterOptions{Keys: 20000, Workers: 4})
	c, cc, w, id4, plan := so.c, so.cc, so.w, so.id4, so.plan
	start := time.Now()
	res, err := slotmigrate.New(c.Admin).MigrateSlots(ctx, slotmigrate.MigrateInput{Moves: plan.Moves, Seeds: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scale-out: %d slots, %d keys in %s (%.0f keys/s, %d batches)", res.Progress.SlotsDone, res.Progress.KeysMoved,
		time.Since(start).Round(time.Millisecond), res.Progress.KeysPerSecond, res.Progress.Batches)
	if res.Progress.SlotsDone != plan.Slots() {
		t.Errorf("slots done %d, planned %d", res.Progress.SlotsDone, plan.Slots())
	}
	checkAll(t, ctx, c, w)
	// Running the same moves again observes that everything is done.
	again, err := slotmigrate.New(c.Admin).MigrateSlots(ctx, slotmigrate.MigrateInput{Moves: plan.Moves, Seeds: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	if again.Progress.SlotsDone != plan.Slots() || again.Progress.KeysMoved != 0 || again.Progress.Batches != 0 {
		t.Errorf("second run of the same moves: %+v", again.Progress)
	}

	// Scale in 4 -> 3: drain the new primary again.
	view, err := c.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	drain, err := topology.Drain(view.Layout(), []string{id4}, freeMemory(t, ctx, c, view))
	if err != nil {
		t.Fatal(err)
	}
	res, err = slotmigrate.New(c.Admin).MigrateSlots(ctx, slotmigrate.MigrateInput{Moves: drain.Moves, Seeds: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scale-in: %d slots, %d keys (%.0f keys/s)", res.Progress.SlotsDone, res.Progress.KeysMoved, res.Progress.KeysPerSecond)
	checkAll(t, ctx, c, w)
	view, err = c.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := view.Layout().Validate(id4); err != nil {
		t.Errorf("after drain: %v", err)
	}
	st := w.Stop()
	if st.Acked == 0 {
		t.Fatalf("writer acknowledged nothing (last error %v)", st.LastErr)
	}
	if n, err := w.Verify(ctx, cc); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("writer: %d acked, %d failed, %d keys verified", st.Acked, st.Failed, n)
	}
	// Every original key is still there.
	total := int64(0)
	for _, a := range c.Addrs() {
		n, err := c.Pool.Client(a).DBSize(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := c.Pool.Client(a).Do(ctx, "role").Slice(); len(v) > 0 && v[0] == "master" {
			total += n
		}
	}
	if want := testKeys + writerKeys(t, ctx, cc, w, 20000); total != want {
		t.Errorf("keys in primaries = %d, want %d", total, want)
	}
}

// writerKeys counts the keys of w's key space (of size n) that exist: the
// keys it wrote. A writer slowed down by a busy machine may not have
// reached every key of its space before it was stopped, so the keys in the
// primaries are the fill's plus these (w.Verify checks their values).
func writerKeys(t *testing.T, ctx context.Context, cc *redis.ClusterClient, w *redistest.Writer, n int) int64 {
	t.Helper()
	var total int64
	for start := 0; start < n; start += 1000 {
		cmds := make([]*redis.IntCmd, 0, 1000)
		if _, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < min(start+1000, n); i++ {
				cmds = append(cmds, p.Exists(ctx, w.Key(i)))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, c := range cmds {
			total += c.Val()
		}
	}
	return total
}

// checkAll verifies coverage, no open slot, redis-cli check, and the
// writer's acknowledged writes so far.
func checkAll(t *testing.T, ctx context.Context, c *redistest.Cluster, w *redistest.Writer) {
	t.Helper()
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	cc := c.ClusterClient()
	defer cc.Close()
	if _, err := w.Verify(ctx, cc); err != nil {
		t.Fatal(err)
	}
}
