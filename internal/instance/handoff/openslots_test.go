package handoff_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/instance/handoff"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// TestOpenSlotsOnlyMoves: a node taken over hands the new primary only the
// open slots whose other end still moves them with it. Redis writes
// importing states of its own at load time ("[slot-<-owner]" for keys of a
// slot another node owns; seen for ~1,800 slots on a restarted former
// primary): handing those over made bogus IMPORTING states on the new
// primary and retried each refused SETSLOT for 10 s with the fence up.
// Real redis-servers: X (the node taken over), S (the other end, owner of
// slots 6000-6001), P (the new primary). S migrates slot 6000 to X (a real move); X's other open
// slots (6001 importing from S, 1 migrating to S) have no move behind them.
// S also imports a slot of X's that X does not migrate yet.
func TestOpenSlotsOnlyMoves(t *testing.T) {
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3})
	nodes := c.Nodes()
	ranges, err := c.ClusterClient().ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	var owner string // of slot 6000
	for _, r := range ranges {
		if r.Start <= 6000 && 6001 <= r.End {
			owner = r.Nodes[0].Addr
		}
	}
	i := slices.IndexFunc(nodes, func(n *redistest.Node) bool { return n.Addr == owner })
	if i < 0 {
		t.Fatalf("no node owns slots 6000-6001 (%v)", ranges)
	}
	s := nodes[i]
	rest := slices.Delete(slices.Clone(nodes), i, i+1)
	x, p := rest[0], rest[1]
	id := func(n *redistest.Node) string {
		v, err := c.NodeID(ctx, n.Addr)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	xID, sID, pID := id(x), id(s), id(p)
	client := func(n *redistest.Node) *redis.Client {
		return redis.NewClient(&redis.Options{Addr: n.Addr, Protocol: 2, DisableIdentity: true})
	}
	sc, pc := client(s), client(p)
	defer sc.Close()
	defer pc.Close()
	if err := sc.Do(ctx, "CLUSTER", "SETSLOT", 6000, "MIGRATING", xID).Err(); err != nil {
		t.Fatal(err)
	}
	// S also imports a slot of X's (a mover's wave, opened on the target
	// before X migrates it): not in X's open slots, repointed all the same.
	z := -1
	for _, r := range ranges {
		if r.Nodes[0].Addr == x.Addr {
			z = r.Start
		}
	}
	if err := sc.Do(ctx, "CLUSTER", "SETSLOT", z, "IMPORTING", xID).Err(); err != nil {
		t.Fatal(err)
	}
	open := []handoff.OpenSlot{{Slot: 6001, From: sID}, {Slot: 6000, From: sID}, {Slot: 1, To: sID}}
	began := time.Now()
	handoff.OpenSlots(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), open, xID, pc, pID, []string{xID, sID, pID}, func(nid string) *redis.Client {
		if nid == sID {
			return client(s)
		}
		return nil
	})
	took := time.Since(began)
	got := func(c *redis.Client) []handoff.OpenSlot {
		o, err := handoff.OwnOpenSlots(context.WithoutCancel(ctx), c)
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	if o := got(pc); !slices.Equal(o, []handoff.OpenSlot{{Slot: 6000, From: sID}}) {
		t.Errorf("new primary's open slots %v, want only 6000 importing from S", o)
	}
	want := []handoff.OpenSlot{{Slot: 6000, To: pID}, {Slot: z, From: pID}}
	bySlot := func(a, b handoff.OpenSlot) int { return a.Slot - b.Slot }
	slices.SortFunc(want, bySlot)
	if o := got(sc); !slices.Equal(slices.SortedFunc(slices.Values(o), bySlot), want) {
		t.Errorf("S's open slots %v, want %v: 6000 migrating to the new primary, %d imported from it", o, want, z)
	}
	if owner := slotOwner(ctx, t, sc, z); owner != pID {
		t.Errorf("S takes %s for slot %d's owner, want the new primary %s", owner, z, pID)
	}
	if took > 5*time.Second {
		t.Errorf("the hand-over took %s: refused steps were retried", took)
	}
	t.Logf("hand-over took %s", took.Round(time.Millisecond))
}

// slotOwner is c's view of slot's primary (its node ID).
func slotOwner(ctx context.Context, t *testing.T, c *redis.Client, slot int) string {
	t.Helper()
	ranges, err := c.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ranges {
		if r.Start <= slot && slot <= r.End {
			return r.Nodes[0].ID
		}
	}
	return ""
}
