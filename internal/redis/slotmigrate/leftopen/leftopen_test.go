package leftopen_test

import (
	"testing"

	"github.com/dayops/dayops/internal/redis/slotmigrate"
	"github.com/dayops/dayops/internal/redis/slotmigrate/leftopen"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// TestLookReportsASlotOpenOnTwoLooks (real redis-servers): a slot left
// open with half its keys moved is reported on the second look that finds
// it (MIGRATING on the source, IMPORTING on the target), not on the first;
// once it is closed, no look reports it.
func TestLookReportsASlotOpenOnTwoLooks(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3})
	cc := c.ClusterClient()
	defer cc.Close()
	var ps []leftopen.Primary
	for i, n := range c.Nodes() {
		ps = append(ps, leftopen.Primary{Addr: n.Addr, Ordinal: i, Shard: i})
	}
	var f leftopen.Finder
	if got, n := f.Look(ctx, c.Pool, ps); len(got) != 0 || n != 3 {
		t.Fatalf("look at a whole cluster: %v (%d commands), want nothing (3 commands)", got, n)
	}
	src, dst := c.Nodes()[0].Addr, c.Nodes()[1].Addr
	slot, _, err := redistest.FillSlot(ctx, cc, c.Pool.Client(src), "s", 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.OpenHalfMoved(ctx, src, dst, slot, slot); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Look(ctx, c.Pool, ps); len(got) != 0 {
		t.Fatalf("first look after the slot was opened: %v, want nothing", got)
	}
	got, _ := f.Look(ctx, c.Pool, ps)
	if len(got) != 2 || got[0].Slot != slot || got[1].Slot != slot || !got[0].Migrating || got[0].Ordinal != 0 || got[1].Migrating || got[1].Ordinal != 1 {
		t.Fatalf("second look: %v, want slot %d migrating on ordinal 0 and importing on ordinal 1", got, slot)
	}
	t.Logf("reported: %s", leftopen.Describe(got))
	if _, err := slotmigrate.New(c.Admin).CloseOpenSlots(ctx, slotmigrate.CloseOpenSlotsInput{Seeds: c.Addrs()}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, _ := f.Look(ctx, c.Pool, ps); len(got) != 0 {
			t.Fatalf("look after the slot was closed: %v", got)
		}
	}
}
