package slotmigrate_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/slotmigrate"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/topology"
)

// tagFor returns a hash tag whose keys hash to slot.
func tagFor(t *testing.T, ctx context.Context, c *redis.Client, slot int) string {
	t.Helper()
	for base := 0; base < 1_000_000; base += 4000 {
		cmds := make([]*redis.IntCmd, 0, 4000)
		_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := base; i < base+4000; i++ {
				cmds = append(cmds, p.ClusterKeySlot(ctx, fmt.Sprintf("t%d", i)))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, cmd := range cmds {
			if int(cmd.Val()) == slot {
				return fmt.Sprintf("{t%d}", base+i)
			}
		}
	}
	t.Fatalf("no tag for slot %d", slot)
	return ""
}

// primaries returns the primaries' addresses and IDs in slot order.
func primaries(t *testing.T, c *redistest.Cluster) (addrs, ids []string, slots []topology.Ranges) {
	t.Helper()
	v, err := c.View(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	l := v.Layout()
	for _, s := range []int{0, 8000, 16383} {
		id := l.Owner(s)
		addrs = append(addrs, v.Nodes[id].Addr)
		ids = append(ids, id)
		slots = append(slots, l[id])
	}
	return addrs, ids, slots
}

func TestCloseSlotsLeftOpenByRedisCLI(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3})
	cc := c.ClusterClient()
	defer cc.Close()
	addrs, ids, slots := primaries(t, c)
	src, tgt := addrs[0], addrs[1]
	s1, s2 := slots[0][0].Start, slots[0][0].Start+1 // the first slots redis-cli moves
	tag := tagFor(t, ctx, c.Pool.Client(src), s1)
	const n = 30000
	var keys []string
	for i := range n {
		keys = append(keys, fmt.Sprintf("%sk%d", tag, i))
	}
	for i := 0; i < n; i += 1000 {
		if _, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys[i:min(i+1000, n)] {
				p.Set(ctx, k, "v:"+k, 0)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// A writer whose keys all live in the slot being resharded.
	w := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 500, Workers: 2, Prefix: tag + "w:"})
	defer w.Stop()

	cli := exec.CommandContext(ctx, "redis-cli", "--cluster", "reshard", src, "--cluster-from", ids[0],
		"--cluster-to", ids[1], "--cluster-slots", "2", "--cluster-yes")
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := c.Pool.Client(tgt).ClusterCountKeysInSlot(ctx, s1).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-cli moved no key")
		}
		time.Sleep(time.Millisecond)
	}
	_ = cli.Process.Kill()
	_ = cli.Wait()
	moved, _ := c.Pool.Client(tgt).ClusterCountKeysInSlot(ctx, s1).Result()
	if moved >= n {
		t.Fatalf("redis-cli finished slot %d before it was killed", s1)
	}
	t.Logf("redis-cli killed after moving %d of %d keys of slot %d", moved, n, s1)
	if open := openSlots(t, c); open != 2 {
		t.Fatalf("want slot %d open on both sides, %d open states", s1, open)
	}
	// A second slot opened the way redis-cli starts (IMPORTING, then
	// MIGRATING) but with no key moved yet: it must go back to its owner.
	if err := c.Pool.Client(tgt).Do(ctx, "cluster", "setslot", s2, "importing", ids[0]).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Pool.Client(src).Do(ctx, "cluster", "setslot", s2, "migrating", ids[1]).Err(); err != nil {
		t.Fatal(err)
	}

	res, err := slotmigrate.New(c.Admin).CloseOpenSlots(ctx, slotmigrate.CloseOpenSlotsInput{Seeds: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(res.Forward, res.RolledBack), fmt.Sprint(topology.Ranges{{Start: s1, End: s1}}, topology.Ranges{{Start: s2, End: s2}}); got != want {
		t.Errorf("forward, rolled back = %s, want %s", got, want)
	}
	checkAll(t, ctx, c, w)
	w.Stop()
	if _, err := w.Verify(ctx, cc); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	t.Logf("writer: %d acked, %d failed (last error %v)", st.Acked, st.Failed, st.LastErr)
	for i := 0; i < n; i += 1000 {
		cmds := make([]*redis.StringCmd, 0, 1000)
		if _, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys[i:min(i+1000, n)] {
				cmds = append(cmds, p.Get(ctx, k))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for j, cmd := range cmds {
			if v, err := cmd.Result(); err != nil || v != "v:"+keys[i+j] {
				t.Fatalf("%s = %q, %v", keys[i+j], v, err)
			}
		}
	}
	if got, _ := c.Pool.Client(tgt).ClusterCountKeysInSlot(ctx, s1).Result(); got < n {
		t.Errorf("slot %d on target holds %d keys, want at least %d", s1, got, n)
	}
	v, _ := c.View(ctx)
	if v.Owner(s2) != ids[0] {
		t.Errorf("slot %d owned by %s, want its first owner %s", s2, v.Owner(s2), ids[0])
	}
}

func TestBigAndBusyKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3, Limits: clusteradmin.Limits{BatchBytes: 1 << 20}})
	cc := c.ClusterClient()
	defer cc.Close()
	addrs, ids, slots := primaries(t, c)
	src, tgt := addrs[0], addrs[1]
	srcC, tgtC := c.Pool.Client(src), c.Pool.Client(tgt)
	move := func(a *clusteradmin.Admin, s int) (slotmigrate.MigrateResult, error) {
		return slotmigrate.New(a).MigrateSlots(ctx, slotmigrate.MigrateInput{
			Moves: []topology.Move{{From: ids[0], To: ids[1], Range: topology.SlotRange{Start: s, End: s}}},
			Seeds: c.Addrs(),
		})
	}
	big := strings.Repeat("b", 6<<20)

	t.Run("big key goes in its own batch", func(t *testing.T) {
		s := slots[0][0].Start + 10
		tag := tagFor(t, ctx, srcC, s)
		if err := cc.Set(ctx, tag+"big", big, 0).Err(); err != nil {
			t.Fatal(err)
		}
		for i := range 200 {
			if err := cc.Set(ctx, fmt.Sprintf("%ssmall%d", tag, i), strings.Repeat("s", 10<<10), 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		res, err := move(c.Admin, s)
		if err != nil {
			t.Fatal(err)
		}
		p := res.Progress
		t.Logf("progress: %+v", p)
		if p.BigKeyBatches != 1 || p.Batches < 3 || p.KeysMoved != 201 {
			t.Errorf("want the big key alone and the 2 MB of small keys split in >= 2 batches of <= 1 MiB, got %+v", p)
		}
		if got, err := cc.StrLen(ctx, tag+"big").Result(); err != nil || got != int64(len(big)) {
			t.Errorf("big key after migration: len %d, %v", got, err)
		}
	})

	t.Run("key over the limit stops with a typed error", func(t *testing.T) {
		s := slots[0][0].Start + 20
		tag := tagFor(t, ctx, srcC, s)
		if err := cc.Set(ctx, tag+"huge", big, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := cc.Set(ctx, tag+"small", "x", 0).Err(); err != nil {
			t.Fatal(err)
		}
		strict := clusteradmin.New(c.Pool, nil, clusteradmin.Limits{MaxKeyBytes: 4 << 20})
		_, err := move(strict, s)
		var tooBig *clusteradmin.KeyTooBigError
		if !errors.As(err, &tooBig) || tooBig.Key != tag+"huge" || tooBig.Slot != s {
			t.Fatalf("want KeyTooBigError naming %shuge in slot %d, got %v", tag, s, err)
		}
		if typ, retry := clusteradmin.Classify(err); typ != clusteradmin.TypeKeyTooBig || retry {
			t.Errorf("Classify = %s, %v", typ, retry)
		}
		// Nothing moved: closing the slot gives it back to its owner.
		res, err := slotmigrate.New(c.Admin).CloseOpenSlots(ctx, slotmigrate.CloseOpenSlotsInput{Seeds: c.Addrs()})
		if err != nil {
			t.Fatal(err)
		}
		if !res.RolledBack.Contains(s) {
			t.Errorf("slot %d not rolled back: %+v", s, res)
		}
		if got, _ := cc.StrLen(ctx, tag+"huge").Result(); got != int64(len(big)) {
			t.Errorf("huge key lost: len %d", got)
		}
	})

	// plant puts a copy of key on the target in a slot that migrates
	// already (as a leftover of an earlier owner would be found by a
	// resumed migration).
	plant := func(t *testing.T, s int, key, val string) {
		t.Helper()
		if err := tgtC.Do(ctx, "cluster", "setslot", s, "importing", ids[0]).Err(); err != nil {
			t.Fatal(err)
		}
		if err := srcC.Do(ctx, "cluster", "setslot", s, "migrating", ids[1]).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := tgtC.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Do(ctx, "asking")
			p.Set(ctx, key, val, 0)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("busy keys are compared", func(t *testing.T) {
		s := slots[0][0].Start + 30
		tag := tagFor(t, ctx, srcC, s)
		for k, v := range map[string]string{"live": "source", "same": "equal", "only": "source"} {
			if err := cc.Set(ctx, tag+k, v, 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		plant(t, s, tag+"live", "stale")
		plant(t, s, tag+"same", "equal")
		res, err := move(c.Admin, s)
		if err != nil {
			t.Fatal(err)
		}
		if res.Progress.BusyKeysEqual != 1 || res.Progress.BusyKeysReplaced != 1 {
			t.Errorf("busy keys: %+v", res.Progress)
		}
		for k, want := range map[string]string{"live": "source", "same": "equal", "only": "source"} {
			if got, err := cc.Get(ctx, tag+k).Result(); err != nil || got != want {
				t.Errorf("%s%s = %q, %v; want %q", tag, k, got, err, want)
			}
		}
	})

	t.Run("busy key policy fail", func(t *testing.T) {
		s := slots[0][0].Start + 40
		tag := tagFor(t, ctx, srcC, s)
		if err := cc.Set(ctx, tag+"live", "source", 0).Err(); err != nil {
			t.Fatal(err)
		}
		plant(t, s, tag+"live", "stale")
		strict := clusteradmin.New(c.Pool, nil, clusteradmin.Limits{BusyKey: clusteradmin.BusyKeyFail})
		_, err := move(strict, s)
		var busy *clusteradmin.BusyKeyConflictError
		if !errors.As(err, &busy) || busy.Key != tag+"live" {
			t.Fatalf("want BusyKeyConflictError, got %v", err)
		}
		if got, _ := srcC.Get(ctx, tag+"live").Result(); got != "source" {
			t.Errorf("source copy = %q", got)
		}
		// The default policy finishes the job.
		if _, err := move(c.Admin, s); err != nil {
			t.Fatal(err)
		}
		if got, _ := cc.Get(ctx, tag+"live").Result(); got != "source" {
			t.Errorf("after migration = %q", got)
		}
	})
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCloseSlotLeftOpenTowardsALostTarget: a move cut short left a slot
// open with half its keys moved, and then its target was SIGKILLed; Redis
// promoted the target's replica, which holds the moved keys but was never
// IMPORTING. With the lost node mapped to its successor (Replaced, as
// recover does from the guardian's memory) the slot is finished towards
// the successor: every key of it is there, and no slot is open.
func TestCloseSlotLeftOpenTowardsALostTarget(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1})
	cc := c.ClusterClient()
	defer cc.Close()
	addrs, ids, slots := primaries(t, c)
	src, tgt := addrs[0], addrs[1]
	slot := slots[0][0].Start + 7
	tag := tagFor(t, ctx, c.Pool.Client(src), slot)
	const n = 40
	for i := range n {
		if err := cc.Set(ctx, fmt.Sprintf("%sk%d", tag, i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, moved, err := c.OpenHalfMoved(ctx, src, tgt, slot, slot); err != nil || moved == 0 {
		t.Fatalf("open slot %d half moved: %d keys, %v", slot, moved, err)
	}
	var target, successor *redistest.Node
	for _, nd := range c.Nodes() {
		v, err := c.Admin.View(ctx, nd.Addr)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case nd.Addr == tgt:
			target = nd
		case v.Myself.PrimaryID == ids[1]:
			successor = nd
		}
	}
	// The moved keys reach the replica before the kill (as they do when
	// a move's waves wait for a replica).
	if got, err := c.Pool.Client(tgt).Do(ctx, "wait", 1, 5000).Int(); err != nil || got != 1 {
		t.Fatalf("WAIT 1 on the target: %d, %v", got, err)
	}
	target.Kill()
	redistest.WaitFor(t, time.Minute, "the target's replica promoted", func() bool {
		v, err := c.Admin.View(ctx, successor.Addr)
		return err == nil && v.Myself.IsPrimary() && v.Myself.Slots.Count() > 0
	})
	succID, err := c.NodeID(ctx, successor.Addr)
	if err != nil {
		t.Fatal(err)
	}
	res, err := slotmigrate.New(c.Admin).CloseOpenSlots(ctx, slotmigrate.CloseOpenSlotsInput{
		Seeds: []string{src, successor.Addr}, Replaced: map[string]string{ids[1]: succID}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Forward.Contains(slot) {
		t.Fatalf("closed %+v, want slot %d finished forward", res, slot)
	}
	v, err := c.Admin.View(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if owner := v.Layout().Owner(slot); owner != succID {
		t.Errorf("slot %d is owned by %s, want the target's successor %s", slot, owner, succID)
	}
	if open := redistest.OpenSlot(ctx, cc); open != "" {
		t.Errorf("a slot is still open: %s", open)
	}
	for i := range n {
		if got, err := cc.Get(ctx, fmt.Sprintf("%sk%d", tag, i)).Int(); err != nil || got != i {
			t.Errorf("key %d of slot %d: %d, %v", i, slot, got, err)
		}
	}
}

// A primary that owns no slot and holds old keys of another primary's slot
// (a former primary that came back with its data) is set importing that
// slot by Redis when it loads them. That is no move: the slot stays with
// its owner and the owner's values, and the import is closed.
func TestAnImportRedisSetAtLoadIsNoMove(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, cc, slot, keys := withStaleImporter(t)
	_, ids, _ := primaries(t, c)

	res, err := slotmigrate.New(c.Admin).CloseOpenSlots(ctx, slotmigrate.CloseOpenSlotsInput{Seeds: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Forward) != 0 || !res.RolledBack.Contains(slot) {
		t.Fatalf("closed %+v, want slot %d rolled back and nothing forward", res, slot)
	}
	checkClosed(t, c, cc, slot, ids[0], keys)
}

// The same slot also half moved to another primary (a move cut short): the
// move is finished towards its real target, and the stale node's import is
// closed too.
func TestAnImportAtLoadBesideARealMove(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, cc, slot, keys := withStaleImporter(t)
	addrs, ids, _ := primaries(t, c)
	if _, moved, err := c.OpenHalfMoved(ctx, addrs[0], addrs[1], slot, slot); err != nil || moved == 0 {
		t.Fatalf("open slot %d half moved: %d keys, %v", slot, moved, err)
	}
	res, err := slotmigrate.New(c.Admin).CloseOpenSlots(ctx, slotmigrate.CloseOpenSlotsInput{Seeds: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Forward.Contains(slot) {
		t.Fatalf("closed %+v, want slot %d finished forward", res, slot)
	}
	checkClosed(t, c, cc, slot, ids[1], keys)
}

// withStaleImporter starts 3 primaries (AOF) with keys of one slot of the
// first, valued "new", and a fourth primary owning no slot that holds old
// copies of them ("old") and was restarted, so that Redis set the slot
// importing from its owner at load. It returns the slot and its keys.
func withStaleImporter(t *testing.T) (*redistest.Cluster, *redis.ClusterClient, int, []string) {
	t.Helper()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3, Config: []string{"--appendonly", "yes", "--appendfsync", "always"}})
	cc := c.ClusterClient()
	t.Cleanup(func() { cc.Close() })
	addrs, ids, slots := primaries(t, c)
	slot := slots[0][0].Start + 5
	tag := tagFor(t, ctx, c.Pool.Client(addrs[0]), slot)
	var keys []string
	for i := range 20 {
		keys = append(keys, fmt.Sprintf("%sk%d", tag, i))
		if err := cc.Set(ctx, keys[i], "new", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	stale, err := c.AddPrimary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Old copies (written the only way Redis lets a node hold keys of a
	// slot it does not own).
	conn := c.Pool.Client(stale.Addr).Conn()
	defer conn.Close()
	if err := conn.Do(ctx, "cluster", "setslot", slot, "importing", ids[0]).Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Do(ctx, "asking")
			p.Set(ctx, k, "old", 0)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Do(ctx, "cluster", "setslot", slot, "stable").Err(); err != nil {
		t.Fatal(err)
	}
	if err := stale.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := c.Admin.View(ctx, stale.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if from := v.Myself.Importing[slot]; from != ids[0] {
		t.Fatalf("after the restart the node imports slot %d from %q, want Redis' load-time import from its owner %s (open: %v)",
			slot, from, ids[0], v.Myself.Importing)
	}
	return c, cc, slot, keys
}

// checkClosed: owner owns slot, nothing is open anywhere, every key reads
// the value "new".
func checkClosed(t *testing.T, c *redistest.Cluster, cc *redis.ClusterClient, slot int, owner string, keys []string) {
	t.Helper()
	ctx := t.Context()
	v, err := c.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Layout().Owner(slot); got != owner {
		t.Errorf("slot %d is owned by %s, want %s", slot, got, owner)
	}
	if open := openSlots(t, c); open != 0 {
		t.Errorf("%d slots still open", open)
	}
	for _, k := range keys {
		if got, err := cc.Get(ctx, k).Result(); err != nil || got != "new" {
			t.Errorf("%s = %q, %v (want the value clients wrote last)", k, got, err)
		}
	}
}

// A primary owning no slot that stopped before the cluster flagged it (a
// primary that stepped aside as its Pod was deleted and exited before every
// node heard it had become a replica; here a fresh, slotless primary
// killed) is looked at once: CloseOpenSlots answers before Redis flags the
// node failed (cluster-node-timeout 5 s). Before, View retried its address
// for RetryFor and a recover's first step waited 25 s (delete-primary,
// 2026-12-07).
func TestCloseOpenSlotsPassesOverAStoppedSlotlessPrimary(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3})
	extra, err := c.AddPrimary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	addrs, _, _ := primaries(t, c)
	redistest.WaitFor(t, 30*time.Second, "every node to know the new primary", func() bool {
		for _, a := range addrs {
			v, err := c.Admin.View(ctx, a)
			if err != nil {
				return false
			}
			if _, ok := v.Nodes[v.Myself.ID]; !ok || len(v.Nodes) < 4 {
				return false
			}
		}
		return true
	})
	extra.Kill()
	redistest.WaitFor(t, 10*time.Second, "the seed's link to the killed primary down", func() bool {
		v, err := c.Admin.View(ctx, addrs[0])
		if err != nil {
			return false
		}
		for _, n := range v.Nodes {
			if n.Addr == extra.Addr {
				return !n.Connected && !n.Has("fail")
			}
		}
		return false
	})
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second) // well before the fail flag and RetryFor
	defer cancel()
	if _, err := slotmigrate.New(c.Admin).CloseOpenSlots(cctx, slotmigrate.CloseOpenSlotsInput{Seeds: addrs}); err != nil {
		t.Fatalf("CloseOpenSlots with a stopped slotless primary in the view: %v", err)
	}
}
