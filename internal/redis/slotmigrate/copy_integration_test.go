package slotmigrate_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/slotmigrate"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/topology"
)

// fillSlot writes n keys {tag}k0..k(n-1) = "v" and {tag}ttl with an expiry
// time; it returns that expiry (PEXPIRETIME).
func fillSlot(t *testing.T, ctx context.Context, cc *redis.ClusterClient, tag string, n int) int64 {
	t.Helper()
	at := time.Now().Add(time.Hour).UnixMilli()
	_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range n {
			p.Set(ctx, fmt.Sprintf("%sk%d", tag, i), "v", 0)
		}
		p.Set(ctx, tag+"ttl", "t", 0)
		p.PExpireAt(ctx, tag+"ttl", time.UnixMilli(at))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// threePrimaries starts a cluster of three primaries and returns it, a
// cluster client, and the primaries in slot order (see primaries).
func threePrimaries(t *testing.T) (*redistest.Cluster, *redis.ClusterClient, []string, []string, []topology.Ranges) {
	t.Helper()
	c := redistest.New(t, redistest.Options{Primaries: 3})
	cc := c.ClusterClient()
	t.Cleanup(func() { _ = cc.Close() })
	addrs, ids, slots := primaries(t, c)
	return c, cc, addrs, ids, slots
}

// wantValue checks one key's value; want "" means the key must not exist.
func wantValue(t *testing.T, ctx context.Context, cc *redis.ClusterClient, key, want string) {
	t.Helper()
	got, err := cc.Get(ctx, key).Result()
	switch {
	case want == "" && errors.Is(err, redis.Nil):
	case want == "":
		t.Errorf("%s = %q (%v), want no key", key, got, err)
	case err != nil || got != want:
		t.Errorf("%s = %q (%v), want %q", key, got, err, want)
	}
}

// The copy path under clients that change keys between the copy and the
// commit: every change survives, a key deleted meanwhile stays deleted (its
// copy on the target never becomes visible), a slot changed in every attempt
// goes through MIGRATE, and expiry times are kept exactly.
func TestCopyConflictsAndExpiry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, cc, addrs, ids, slots := threePrimaries(t)
	first := slots[0][0].Start
	const nslots, nkeys = 8, 50
	tags := make([]string, nslots)
	expiry := make([]int64, nslots)
	for i := range nslots {
		tags[i] = tagFor(t, ctx, c.Pool.Client(addrs[0]), first+i)
		expiry[i] = fillSlot(t, ctx, cc, tags[i], nkeys)
	}
	hot, once := tags[0], tags[1]
	mig := slotmigrate.New(c.Admin)
	mig.BeforeCommit = func(slot, attempt int) {
		var err error
		switch {
		case slot == first && attempt == 1:
			// Deleted and written again on the source: the copy's old value
			// must not come back.
			err = cc.Del(ctx, hot+"k0").Err()
			if err == nil {
				err = cc.Incr(ctx, hot+"k0").Err()
			}
		case slot == first && attempt == 2:
			err = cc.Set(ctx, hot+"k1", "changed", 0).Err()
		case slot == first && attempt == 3:
			err = cc.Del(ctx, hot+"k2").Err()
		case slot == first+1 && attempt == 1:
			err = cc.Del(ctx, once+"k0").Err()
		}
		if err != nil {
			t.Errorf("write during the copy of slot %d: %v", slot, err)
		}
	}
	res, err := mig.MigrateSlots(ctx, slotmigrate.MigrateInput{
		Moves: []topology.Move{{From: ids[0], To: ids[1], Range: topology.SlotRange{Start: first, End: first + nslots - 1}}},
		Seeds: c.Addrs(),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := res.Progress
	t.Logf("progress: %+v", p)
	if p.SlotsCopied != nslots-1 || p.CopyConflicts != 4 {
		t.Errorf("slots copied %d, conflicts %d; want %d and 4 (slot %d left to MIGRATE after 3 conflicts)",
			p.SlotsCopied, p.CopyConflicts, nslots-1, first)
	}
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	wantValue(t, ctx, cc, hot+"k0", "1")
	wantValue(t, ctx, cc, hot+"k1", "changed")
	wantValue(t, ctx, cc, hot+"k2", "")
	wantValue(t, ctx, cc, once+"k0", "")
	for i, tag := range tags {
		for k := range nkeys {
			key := fmt.Sprintf("%sk%d", tag, k)
			if (tag == hot && k < 3) || (tag == once && k == 0) {
				continue
			}
			wantValue(t, ctx, cc, key, "v")
		}
		// The copy keeps the expiry time exactly (RESTORE ... ABSTTL);
		// MIGRATE sends the time left, so the hot slot's may move by the
		// transfer time.
		at, err := cc.PExpireTime(ctx, tag+"ttl").Result()
		drift := at.Milliseconds() - expiry[i]
		if err != nil || (tag != hot && drift != 0) || drift < 0 || drift > 1000 {
			t.Errorf("%sttl expires at %d (%v), want %d", tag, at.Milliseconds(), err, expiry[i])
		}
		n, err := c.Pool.Client(addrs[1]).ClusterCountKeysInSlot(ctx, first+i).Result()
		want := int64(nkeys + 1)
		if tag == hot {
			want = nkeys // k2 deleted
		} else if tag == once {
			want = nkeys
		}
		if err != nil || n != want {
			t.Errorf("slot %d: %d keys on the target (%v), want %d", first+i, n, err, want)
		}
	}
}

// A copy interrupted before its commit leaves copies on the target that no
// client can reach (the source still owns the slot and does not migrate it).
// The next run removes them, by either path, so a key deleted on the source
// since then does not come back and a key changed since then has its new
// value.
func TestCopyRemovesUnreachableLeftovers(t *testing.T) {
	t.Parallel()
	bothModes(t, removesLeftovers)
}

// bothModes runs f as a parallel subtest with each copy mode.
func bothModes(t *testing.T, f func(*testing.T, clusteradmin.CopyMode)) {
	for _, mode := range []clusteradmin.CopyMode{clusteradmin.CopyAlways, clusteradmin.CopyNever} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			f(t, mode)
		})
	}
}

func removesLeftovers(t *testing.T, mode clusteradmin.CopyMode) {
	ctx := t.Context()
	c, cc, addrs, ids, slots := threePrimaries(t)
	s := slots[0][0].Start
	src, tgt := c.Pool.Client(addrs[0]), c.Pool.Client(addrs[1])
	tag := tagFor(t, ctx, src, s)
	const nkeys = 20
	fillSlot(t, ctx, cc, tag, nkeys)

	// What an interrupted copy leaves: the target imports the slot and holds
	// copies of its keys, the source is untouched.
	if err := tgt.Do(ctx, "cluster", "setslot", s, "importing", ids[0]).Err(); err != nil {
		t.Fatal(err)
	}
	for k := range nkeys {
		key := fmt.Sprintf("%sk%d", tag, k)
		payload, err := src.Dump(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tgt.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.Do(ctx, "asking")
			p.Do(ctx, "restore", key, 0, payload)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Clients go on using the source meanwhile.
	if err := cc.Set(ctx, tag+"k1", "new", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cc.Del(ctx, tag+"k2").Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := tgt.ClusterCountKeysInSlot(ctx, s).Result(); n != nkeys {
		t.Fatalf("target holds %d keys of slot %d, want %d leftovers", n, s, nkeys)
	}

	a := clusteradmin.New(c.Pool, nil, clusteradmin.Limits{Copy: mode})
	res, err := slotmigrate.New(a).MigrateSlots(ctx, slotmigrate.MigrateInput{
		Moves: []topology.Move{{From: ids[0], To: ids[1], Range: topology.SlotRange{Start: s, End: s}}},
		Seeds: c.Addrs(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[clusteradmin.CopyMode]int64{clusteradmin.CopyAlways: 1}[mode]; res.Progress.SlotsCopied != want {
		t.Errorf("slots copied %d, want %d", res.Progress.SlotsCopied, want)
	}
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	wantValue(t, ctx, cc, tag+"k1", "new")
	wantValue(t, ctx, cc, tag+"k2", "")
	for k := 3; k < nkeys; k++ {
		wantValue(t, ctx, cc, fmt.Sprintf("%sk%d", tag, k), "v")
	}
	if n, _ := tgt.ClusterCountKeysInSlot(ctx, s).Result(); n != nkeys {
		t.Errorf("target holds %d keys of slot %d, want %d", n, s, nkeys)
	}
}

// The MIGRATE-only path (CopyNever) still moves slots under writes.
func TestMigrateOnlyUnderWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3, Limits: clusteradmin.Limits{Copy: clusteradmin.CopyNever}})
	cc := c.ClusterClient()
	defer cc.Close()
	if err := redistest.Fill(ctx, cc, "k:", 20000, 32, 8); err != nil {
		t.Fatal(err)
	}
	w := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 2000, Workers: 2})
	defer w.Stop()
	_, ids, slots := primaries(t, c)
	r := slots[0][0]
	res, err := slotmigrate.New(c.Admin).MigrateSlots(ctx, slotmigrate.MigrateInput{
		Moves: []topology.Move{{From: ids[0], To: ids[2], Range: topology.SlotRange{Start: r.Start, End: r.Start + 1499}}},
		Seeds: c.Addrs(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Progress.SlotsCopied != 0 || res.Progress.KeysMoved == 0 {
		t.Errorf("progress %+v: want keys moved by MIGRATE only", res.Progress)
	}
	checkAll(t, ctx, c, w)
	if st := w.Stop(); st.Acked == 0 {
		t.Fatalf("writer acknowledged nothing (last error %v)", st.LastErr)
	}
	if _, err := w.Verify(ctx, cc); err != nil {
		t.Fatal(err)
	}
}

// A source that refuses the copy path's script (here: EVAL taken away by
// ACL) has its slots moved with MIGRATE instead.
func TestCopyRefusedFallsBackToMigrate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, cc, addrs, ids, slots := threePrimaries(t)
	first := slots[0][0].Start
	var tags []string
	for i := range 4 {
		tag := tagFor(t, ctx, c.Pool.Client(addrs[0]), first+i)
		fillSlot(t, ctx, cc, tag, 10)
		tags = append(tags, tag)
	}
	for _, a := range c.Addrs() {
		if err := c.Pool.Client(a).Do(ctx, "acl", "setuser", "default", "-eval").Err(); err != nil {
			t.Fatal(err)
		}
	}
	res, err := slotmigrate.New(c.Admin).MigrateSlots(ctx, slotmigrate.MigrateInput{
		Moves: []topology.Move{{From: ids[0], To: ids[1], Range: topology.SlotRange{Start: first, End: first + 3}}},
		Seeds: c.Addrs(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Progress.SlotsCopied != 0 || res.Progress.KeysMoved != 4*11 {
		t.Errorf("progress %+v: want 44 keys moved by MIGRATE", res.Progress)
	}
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		wantValue(t, ctx, cc, tag+"k9", "v")
	}
}

// Clients INCR and DEL keys of the slots being moved, as hard as they can,
// while both paths move them: every key ends with the value its own
// sequence of acknowledged commands gives (a key deleted is never brought
// back, an increment is never lost or applied to a stale copy).
func TestIncrDelDuringMigration(t *testing.T) {
	t.Parallel()
	bothModes(t, incrDelDuringMigration)
}

func incrDelDuringMigration(t *testing.T, mode clusteradmin.CopyMode) {
	ctx := t.Context()
	c, cc, addrs, ids, slots := threePrimaries(t)
	first := slots[0][0].Start
	const hotSlots, keysPerSlot, workers = 16, 8, 8
	var keys []string
	for i := range hotSlots {
		tag := tagFor(t, ctx, c.Pool.Client(addrs[0]), first+i)
		fillSlot(t, ctx, cc, tag, 40) // cold keys make each copy take a while
		for k := range keysPerSlot {
			keys = append(keys, fmt.Sprintf("%shot%d", tag, k))
		}
	}
	// Each worker owns every workers-th key, so each key's commands are
	// sequential and its final value is known.
	model := make([]int64, len(keys))
	uncertain := make([]bool, len(keys))
	stop := make(chan struct{})
	done := make(chan int64, workers)
	for wk := range workers {
		go func() {
			var ops int64
			defer func() { done <- ops }()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				i := wk + workers*(n%(len(keys)/workers))
				if uncertain[i] {
					continue
				}
				var err error
				if n%5 == 4 {
					err = cc.Del(ctx, keys[i]).Err()
					if err == nil {
						model[i] = 0
					}
				} else {
					var v int64
					v, err = cc.Incr(ctx, keys[i]).Result()
					if err == nil {
						if v != model[i]+1 {
							t.Errorf("INCR %s = %d, want %d", keys[i], v, model[i]+1)
						}
						model[i] = v
					}
				}
				if err != nil {
					uncertain[i] = true // applied or not: unknown
				}
				ops++
			}
		}()
	}
	// Back and forth three times, so that the clients meet many copies.
	a := clusteradmin.New(c.Pool, nil, clusteradmin.Limits{Copy: mode, SlotsPerWave: 4})
	var total slotmigrate.Progress
	var err error
	for r := range 6 {
		from, to := ids[r%2], ids[1-r%2]
		var res slotmigrate.MigrateResult
		res, err = slotmigrate.New(a).MigrateSlots(ctx, slotmigrate.MigrateInput{
			Moves: []topology.Move{{From: from, To: to, Range: topology.SlotRange{Start: first, End: first + 199}}},
			Seeds: c.Addrs(),
		})
		if err != nil {
			break
		}
		total.SlotsCopied += res.Progress.SlotsCopied
		total.CopyConflicts += res.Progress.CopyConflicts
		total.KeysMoved += res.Progress.KeysMoved
	}
	time.Sleep(200 * time.Millisecond) // writes after the moves as well
	close(stop)
	var ops int64
	for range workers {
		ops += <-done
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d client commands during 6 moves; slots copied %d, conflicts %d, keys moved %d",
		mode, ops, total.SlotsCopied, total.CopyConflicts, total.KeysMoved)
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	var skipped int
	for i, k := range keys {
		if uncertain[i] {
			skipped++
			continue
		}
		got, err := cc.Get(ctx, k).Int64()
		if errors.Is(err, redis.Nil) {
			got, err = 0, nil
		}
		if err != nil || got != model[i] {
			t.Errorf("%s = %d (%v), want %d", k, got, err, model[i])
		}
	}
	if skipped > len(keys)/10 {
		t.Errorf("%d of %d keys had a failed command", skipped, len(keys))
	}
}

// The copy path moves a string of 1 KB or more by GET and SET (no DUMP, so
// no LZF on the source and no decompression on the target), a smaller
// string by DUMP and SET of the value its payload holds (unless LZF
// shortened it), and every other key by DUMP and RESTORE: every key arrives
// exactly as it was (its DUMP payload, which holds the type,
// encoding-independent contents, and its expiry time).
func TestCopyKeepsEveryType(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, cc, addrs, ids, slots := threePrimaries(t)
	slot := slots[0][0].Start
	tag := tagFor(t, ctx, c.Pool.Client(addrs[0]), slot)
	at := time.Now().Add(time.Hour).UnixMilli()
	big := make([]byte, 10240)
	for i := range big {
		big[i] = byte(i*7919 + i/13) // bytes LZF cannot shorten much, with zeros and CRLFs among them
	}
	_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, tag+"str", "value", 0)
		p.Set(ctx, tag+"int", "12345", 0)
		p.Set(ctx, tag+"empty", "", 0)
		p.Set(ctx, tag+"neg", "-7", 0)
		p.Set(ctx, tag+"int32", "1234567890", 0)
		p.Set(ctx, tag+"lzf", strings.Repeat("a", 100), 0)
		p.Set(ctx, tag+"big", big, 0)
		p.Set(ctx, tag+"rep", string(make([]byte, 10240)), 0)
		p.Set(ctx, tag+"strttl", "expires", 0)
		p.PExpireAt(ctx, tag+"strttl", time.UnixMilli(at))
		p.Set(ctx, tag+"bigttl", big, 0)
		p.PExpireAt(ctx, tag+"bigttl", time.UnixMilli(at+1))
		p.HSet(ctx, tag+"hash", "a", "1", "b", "2")
		p.RPush(ctx, tag+"list", "x", "y", "z")
		p.SAdd(ctx, tag+"set", "m", "n")
		p.ZAdd(ctx, tag+"zset", redis.Z{Score: 1.5, Member: "p"}, redis.Z{Score: -2, Member: "q"})
		p.XAdd(ctx, &redis.XAddArgs{Stream: tag + "stream", ID: "1-1", Values: []any{"f", "v"}})
		p.PExpireAt(ctx, tag+"hash", time.UnixMilli(at))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := c.Pool.Client(addrs[0]).ClusterGetKeysInSlot(ctx, slot, 100).Result()
	if err != nil || len(keys) != 15 {
		t.Fatalf("keys in slot %d: %v (%v), want 15", slot, keys, err)
	}
	before := dumpKeys(t, ctx, cc, keys)
	tgt := c.Pool.Client(addrs[1])
	if err := tgt.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	res, err := slotmigrate.New(c.Admin).MigrateSlots(ctx, slotmigrate.MigrateInput{
		Moves: []topology.Move{{From: ids[0], To: ids[1], Range: topology.SlotRange{Start: slot, End: slot}}},
		Seeds: c.Addrs(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Progress.SlotsCopied != 1 {
		t.Errorf("progress %+v: want the slot copied, not MIGRATEd", res.Progress)
	}
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := tgt.ClusterCountKeysInSlot(ctx, slot).Result(); err != nil || n != 15 {
		t.Errorf("target holds %d keys of slot %d (%v), want 15", n, slot, err)
	}
	// The three strings of 10 KB and the six small ones stored as they are
	// or as integers by SET; the one LZF shortened and the other types by
	// RESTORE-ASKING.
	wantCalls(t, ctx, tgt, "target", "cmdstat_set:calls=9,", "cmdstat_restore-asking:calls=6,")
	sameKeys(t, before, dumpKeys(t, ctx, cc, keys))
}

// wantCalls checks that a node's INFO commandstats has each of wants (e.g.
// "cmdstat_set:calls=3,").
func wantCalls(t *testing.T, ctx context.Context, c *redis.Client, node string, wants ...string) {
	t.Helper()
	stats, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range wants {
		if !strings.Contains(stats, want) {
			t.Errorf("%s's commandstats lack %q:\n%s", node, want, stats)
		}
	}
}

// sameKeys checks every key's dumpKeys reading after a move against the
// one before.
func sameKeys(t *testing.T, before, after map[string]string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(before)) {
		if before[k] != after[k] {
			t.Errorf("%s: before the move %q, after %q", k, trim(before[k]), trim(after[k]))
		}
	}
}

// dumpKeys returns each key's DUMP payload (a set's sorted members: a
// restored hash table set may list them in another order) and PEXPIRETIME,
// as one string.
func dumpKeys(t *testing.T, ctx context.Context, cc *redis.ClusterClient, keys []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, k := range keys {
		d, err := cc.Dump(ctx, k).Result()
		if typ, _ := cc.Type(ctx, k).Result(); typ == "set" {
			var m []string
			m, err = cc.SMembers(ctx, k).Result()
			slices.Sort(m)
			d = "set " + strings.Join(m, ",")
		}
		if err != nil {
			t.Fatalf("dump %s: %v", k, err)
		}
		e, err := cc.PExpireTime(ctx, k).Result()
		if err != nil {
			t.Fatalf("pexpiretime %s: %v", k, err)
		}
		out[k] = fmt.Sprintf("%d %s", e.Milliseconds(), d)
	}
	return out
}

// trim shortens a value for an error message.
func trim(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// If SETSLOT MIGRATING fails in the copy's commit while its UNLINK runs
// (here: the source forgot the target between the copy and the commit), the
// copied keys are put back on the source, big strings by SET and the others
// by RESTORE, each with its value and expiry time, and the move fails
// naming it.
func TestCopyPutsKeysBackWhenTheCommitFails(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, _, addrs, ids, slots := threePrimaries(t)
	slot := slots[0][0].Start
	src := c.Pool.Client(addrs[0])
	tag := tagFor(t, ctx, src, slot)
	at := time.Now().Add(time.Hour).UnixMilli()
	big := strings.Repeat("0123456789", 1024)
	_, err := src.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, tag+"small", "v", 0)
		p.Set(ctx, tag+"big", big, 0)
		p.PExpireAt(ctx, tag+"big", time.UnixMilli(at))
		p.HSet(ctx, tag+"hash", "f", "v")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mig := slotmigrate.New(c.Admin)
	// Without full coverage required, the source's cluster stays ok with the
	// forgotten target's slots unassigned, so the commit's UNLINK is queued
	// and runs, and only SETSLOT fails.
	if err := src.ConfigSet(ctx, "cluster-require-full-coverage", "no").Err(); err != nil {
		t.Fatal(err)
	}
	mig.BeforeCommit = func(int, int) {
		if err := src.Do(ctx, "cluster", "forget", ids[1]).Err(); err != nil {
			t.Errorf("forget the target: %v", err)
		}
	}
	_, err = mig.MigrateSlots(ctx, slotmigrate.MigrateInput{
		Moves: []topology.Move{{From: ids[0], To: ids[1], Range: topology.SlotRange{Start: slot, End: slot}}},
		Seeds: c.Addrs(),
	})
	if err == nil || !strings.Contains(err.Error(), "keys put back on the source") {
		t.Fatalf("err = %v, want the failed commit with the keys put back", err)
	}
	if got, err := src.Get(ctx, tag+"small").Result(); err != nil || got != "v" {
		t.Errorf("small = %q (%v)", got, err)
	}
	if got, err := src.Get(ctx, tag+"big").Result(); err != nil || got != big {
		t.Errorf("big = %d bytes (%v), want %d", len(got), err, len(big))
	}
	if e, err := src.PExpireTime(ctx, tag+"big").Result(); err != nil || e.Milliseconds() != at {
		t.Errorf("big expires at %v (%v), want %d", e.Milliseconds(), err, at)
	}
	if got, err := src.HGet(ctx, tag+"hash", "f").Result(); err != nil || got != "v" {
		t.Errorf("hash f = %q (%v)", got, err)
	}
}

// Once most keys a migration copied from a source were big strings, the
// copies from it leave the big strings that fit their share of the copy's
// budget to a GETRANGE in the dump's round trip (slotcopy.KeyMix): every
// key still arrives with its value and expiry time, a string over its share
// and every other type still come from the script.
func TestCopySplitsBigStrings(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, cc, addrs, ids, slots := threePrimaries(t)
	first, second := slots[0][0].Start, slots[0][0].Start+1
	src := c.Pool.Client(addrs[0])
	tagA, tagB := tagFor(t, ctx, src, first), tagFor(t, ctx, src, second)
	at := time.Now().Add(time.Hour).UnixMilli()
	big := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7919 + i/13)
		}
		return string(b)
	}
	_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 3 {
			p.Set(ctx, fmt.Sprintf("%sbig%d", tagA, i), big(10240+i), 0)
		}
		p.Set(ctx, tagB+"big", big(10240), 0)
		p.Set(ctx, tagB+"bigttl", big(20000), 0)
		p.PExpireAt(ctx, tagB+"bigttl", time.UnixMilli(at))
		p.Set(ctx, tagB+"huge", big(300<<10), 0) // over its share of the first dump's 256 KB
		p.Set(ctx, tagB+"small", "value", 0)
		p.HSet(ctx, tagB+"hash", "a", "1")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, s := range []int{first, second} {
		k, err := src.ClusterGetKeysInSlot(ctx, s, 100).Result()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k...)
	}
	before := dumpKeys(t, ctx, cc, keys)
	if err := src.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// One copy at a time, so the first slot's copy is committed (and
	// counted) before the second's dump.
	a := clusteradmin.New(c.Pool, nil, clusteradmin.Limits{SlotsPerWave: 1, CopiesPerWave: 1, CopyWavesPerSource: 1, Sources: 1})
	res, err := slotmigrate.New(a).MigrateSlots(ctx, slotmigrate.MigrateInput{
		Moves: []topology.Move{{From: ids[0], To: ids[1], Range: topology.SlotRange{Start: first, End: second}}},
		Seeds: c.Addrs(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Progress.SlotsCopied != 2 {
		t.Errorf("progress %+v: want both slots copied", res.Progress)
	}
	if err := c.Check(ctx); err != nil {
		t.Fatal(err)
	}
	// The second slot was dumped twice (sized over the first dump's 256 KB,
	// then dumped with what it needs), each time with one GETRANGE per key
	// (5); the first slot's dump sent none. The script read the first
	// slot's three strings and the one over its share (300 KB, more than a
	// fifth of what the second dump may hold).
	wantCalls(t, ctx, src, "source", "cmdstat_getrange:calls=10,", "cmdstat_get:calls=4,")
	sameKeys(t, before, dumpKeys(t, ctx, cc, keys))
	if n, err := c.Pool.Client(addrs[1]).ClusterCountKeysInSlot(ctx, second).Result(); err != nil || n != 5 {
		t.Errorf("target holds %d keys of slot %d (%v), want 5", n, second, err)
	}
}

// A split dump under a client that keeps rewriting big strings of the
// slots being copied: a key changed between the script and its GETRANGE,
// or before the commit, is copied again, and every acknowledged write
// survives the move.
func TestCopySplitUnderWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3})
	cc := c.ClusterClient()
	defer cc.Close()
	if err := redistest.Fill(ctx, cc, "big:", 4000, 10240, 8); err != nil {
		t.Fatal(err)
	}
	addrs, ids, slots := primaries(t, c)
	r := slots[0][0]
	// The writer's keys share one slot in the middle of the move, so that
	// slot's copies race the writes; the slots before it teach the move
	// that the source holds big strings.
	src := c.Pool.Client(addrs[0])
	tag := tagFor(t, ctx, src, r.Start+700)
	w := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 100, Workers: 2, ValueSize: 10240, Prefix: tag + "w:"})
	defer w.Stop()
	if err := src.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	res, err := slotmigrate.New(c.Admin).MigrateSlots(ctx, slotmigrate.MigrateInput{
		Moves: []topology.Move{{From: ids[0], To: ids[2], Range: topology.SlotRange{Start: r.Start, End: r.Start + 1499}}},
		Seeds: c.Addrs(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Progress.SlotsCopied == 0 {
		t.Errorf("progress %+v: want slots copied", res.Progress)
	}
	t.Logf("progress %+v", res.Progress)
	if stats, err := src.Info(ctx, "commandstats").Result(); err != nil || !strings.Contains(stats, "cmdstat_getrange:") {
		t.Errorf("the source saw no GETRANGE (%v): the dumps never split", err)
	}
	checkAll(t, ctx, c, w)
	if st := w.Stop(); st.Acked == 0 {
		t.Fatalf("writer acknowledged nothing (last error %v)", st.LastErr)
	}
}
