package redisadmin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/redis/go-redis/v9"
)

// copyAttempts is how often a slot is copied before it is handed to MIGRATE
// because clients kept changing its keys during the copy.
const copyAttempts = 3

// dumpKeys returns DUMP and PEXPIRETIME of every key (nil, -2 for a missing
// key) in one call: a slot of small keys costs the source one command
// instead of two per key.
var dumpKeys = redis.NewScript(`
local r = {}
for i, k in ipairs(KEYS) do
  r[2*i-1] = redis.call('DUMP', k)
  r[2*i] = redis.call('PEXPIRETIME', k)
end
return r`)

// slotCopy is one slot's keys to copy, with their MEMORY USAGE sum.
type slotCopy struct {
	slot  int
	keys  []string
	bytes int64
}

// copySlots opens the wave's slots on the source and returns the slots that
// are open (MIGRATING) there afterwards, for emptyRound to finish.
//
// MIGRATE keeps the source blocked until the target has restored the keys,
// so with one source (a scale-in) every slot is a chain of synchronous
// round trips and no two targets ever restore at once. The copy path breaks
// that chain while keeping the move atomic for clients. Per slot, on its own
// connection to the source:
//
//  1. WATCH the slot's keys, DUMP them and read PEXPIRETIME. The source does
//     not migrate the slot yet, so every client still reads and writes the
//     slot on the source only: nothing can reach the target's copy (a node
//     redirects a slot it only imports to its owner unless ASK sent the
//     client, and only a MIGRATING source sends ASK).
//  2. RESTORE-ASKING ... REPLACE ABSTTL each key on the target: the targets
//     of a wave restore in parallel with each other and with the source.
//  3. MULTI, UNLINK the keys, CLUSTER SETSLOT MIGRATING, EXEC on the source.
//     If a client changed or deleted a watched key meanwhile, EXEC does
//     nothing; the target's copies are still unreachable, are removed, and
//     the slot is copied again (then handed to MIGRATE after copyAttempts).
//     If EXEC runs, the keys leave the source and become reachable on the
//     target (by ASK) in one step, with the values and expiry times they had.
//
// Keys created in the slot during the copy are not watched and stay on the
// source; emptyRound moves them with MIGRATE like any other key of an open
// slot. A slot the source already migrates (an earlier run or another tool
// opened it; clients may have written the target by ASK), a slot with too
// many keys or bytes for one copy, or an empty slot goes through MIGRATE
// only. Keys the target holds of a slot the source does not migrate yet are
// leftovers no client can reach (a copy that was interrupted); they are
// removed first, as setMigrating does for every slot it opens.
func (a *Admin) copySlots(ctx context.Context, src, tgt string, w wave, importing []int, tr *tracker) ([]int, error) {
	lim := a.limits()
	v, err := a.view(ctx, src)
	if err != nil {
		return nil, err
	}
	var legacy, fresh []int
	for _, s := range w.slots {
		switch {
		case !slices.Contains(importing, s) || v.Myself.Migrating[s] != "":
			legacy = append(legacy, s)
		case v.Owner(s) != v.Myself.ID:
			// Given away already: only the closing remains.
		default:
			fresh = append(fresh, s)
		}
	}
	copies, more, err := a.planCopies(ctx, src, tgt, fresh)
	if err != nil {
		return nil, err
	}
	legacy = append(legacy, more...)

	var mu sync.Mutex
	open := []int{}
	next := make(chan slotCopy)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range min(lim.CopiesPerWave, len(copies)) {
		wg.Go(func() {
			for c := range next {
				ok, err := a.copySlot(ctx, src, tgt, w.tgt, c, tr)
				if err != nil {
					cancel(err)
					continue
				}
				mu.Lock()
				if ok {
					open = append(open, c.slot)
				} else {
					legacy = append(legacy, c.slot)
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, c := range copies {
		select {
		case next <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	slices.Sort(legacy)
	more, err = a.setMigrating(ctx, src, tgt, w.tgt, legacy)
	if err != nil {
		return nil, err
	}
	return append(open, more...), nil
}

// planCopies lists the keys of the fresh slots on the source and sizes them;
// slots that fit one copy are returned as copies, the others (empty, too
// many keys or bytes) as legacy. Keys the target holds of them (no client
// can reach those) are removed first.
func (a *Admin) planCopies(ctx context.Context, src, tgt string, fresh []int) (copies []slotCopy, legacy []int, err error) {
	if len(fresh) == 0 {
		return nil, nil, nil
	}
	lim := a.limits()
	cmds, err := a.pipe(ctx, src, func(p redis.Pipeliner) {
		for _, s := range fresh {
			p.ClusterGetKeysInSlot(ctx, s, lim.BatchKeys)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	tcmds, err := a.pipe(ctx, tgt, func(p redis.Pipeliner) {
		for _, s := range fresh {
			p.ClusterCountKeysInSlot(ctx, s)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	var all []string
	keys := make([][]string, len(fresh))
	for i, c := range cmds {
		ks, err := c.(*redis.StringSliceCmd).Result()
		if err != nil {
			return nil, nil, fmt.Errorf("getkeysinslot %d on %s: %w", fresh[i], src, err)
		}
		keys[i] = ks
		all = append(all, ks...)
	}
	var stale []int
	for i, c := range tcmds {
		n, err := c.(*redis.IntCmd).Result()
		if err != nil {
			return nil, nil, fmt.Errorf("countkeysinslot %d on %s: %w", fresh[i], tgt, err)
		}
		if n > 0 {
			stale = append(stale, fresh[i])
		}
	}
	sizes, err := a.memoryUsage(ctx, src, all)
	if err != nil {
		return nil, nil, err
	}
	k := 0
	for i, s := range fresh {
		c := slotCopy{slot: s}
		fits := len(keys[i]) > 0 && len(keys[i]) < lim.BatchKeys
		for _, key := range keys[i] {
			size := sizes[k]
			k++
			if size < 0 {
				continue // deleted meanwhile
			}
			if size > lim.MaxKeyBytes {
				return nil, nil, &KeyTooBigError{Key: key, Slot: s, Bytes: size, Limit: lim.MaxKeyBytes}
			}
			c.keys = append(c.keys, key)
			c.bytes += size
		}
		if c.bytes > lim.BatchBytes || len(c.keys) == 0 {
			fits = false
		}
		if slices.Contains(stale, s) {
			if err := a.dropUnreachable(ctx, tgt, s); err != nil {
				return nil, nil, err
			}
		}
		if fits {
			copies = append(copies, c)
		} else {
			legacy = append(legacy, s)
		}
	}
	return copies, legacy, nil
}

// memoryUsage returns MEMORY USAGE of each key on addr, -1 for a key that is
// gone (deleted, expired, or moved by ASK).
func (a *Admin) memoryUsage(ctx context.Context, addr string, keys []string) ([]int64, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	cmds, err := a.pipe(ctx, addr, func(p redis.Pipeliner) {
		for _, k := range keys {
			p.MemoryUsage(ctx, k)
		}
	})
	if err != nil {
		return nil, err
	}
	sizes := make([]int64, len(keys))
	for i, c := range cmds {
		n, err := c.(*redis.IntCmd).Result()
		switch {
		case err == nil:
			sizes[i] = n
		case errors.Is(err, redis.Nil) || hasMsg(err, "ASK "):
			sizes[i] = -1
		default:
			return nil, fmt.Errorf("memory usage %q on %s: %w", keys[i], addr, err)
		}
	}
	return sizes, nil
}

// dropUnreachable removes the keys the target holds in slot s while the
// source still owns s and does not migrate it: no client can read or write
// them (they are copies an interrupted copy left behind).
func (a *Admin) dropUnreachable(ctx context.Context, tgt string, s int) error {
	var dropped int
	for {
		cmds, err := a.pipe(ctx, tgt, func(p redis.Pipeliner) {
			p.ClusterGetKeysInSlot(ctx, s, a.limits().BatchKeys)
		})
		if err != nil {
			return err
		}
		keys, err := cmds[0].(*redis.StringSliceCmd).Result()
		if err != nil {
			return fmt.Errorf("getkeysinslot %d on %s: %w", s, tgt, err)
		}
		if len(keys) == 0 {
			break
		}
		cmds, err = a.pipe(ctx, tgt, func(p redis.Pipeliner) {
			for _, k := range keys {
				p.Do(ctx, "asking")
				p.Unlink(ctx, k)
			}
		})
		if err != nil {
			return err
		}
		for _, c := range cmds {
			if err := c.Err(); err != nil {
				return fmt.Errorf("remove unreachable copy in slot %d on %s: %w", s, tgt, err)
			}
		}
		dropped += len(keys)
	}
	if dropped > 0 {
		a.log().InfoContext(ctx, "removed keys no client could reach from the target (the source owns the slot and does not migrate it)",
			"slot", s, "target", tgt, "keys", dropped)
	}
	return nil
}

// copySlot copies c to the target and, in one transaction on the source,
// deletes the keys there and opens the slot. It reports false when clients
// changed the slot's keys in every attempt (the slot is then left to
// MIGRATE, with nothing on the target).
func (a *Admin) copySlot(ctx context.Context, src, tgt, tgtID string, c slotCopy, tr *tracker) (bool, error) {
	for attempt := 1; attempt <= copyAttempts; attempt++ {
		var moved int
		err := a.client(src).Watch(ctx, func(tx *redis.Tx) error {
			vals, err := dumpKeys.Run(ctx, tx, c.keys).Slice()
			if err != nil {
				return fmt.Errorf("dump slot %d on %s: %w", c.slot, src, err)
			}
			if len(vals) != 2*len(c.keys) {
				return fmt.Errorf("dump slot %d on %s: %d values for %d keys", c.slot, src, len(vals), len(c.keys))
			}
			type dumped struct {
				key     string
				payload string
				at      int64
			}
			var ds []dumped
			for i, k := range c.keys {
				payload, ok := vals[2*i].(string)
				at, _ := vals[2*i+1].(int64)
				if !ok || at == -2 {
					continue // deleted: WATCH tells whether before or after
				}
				ds = append(ds, dumped{key: k, payload: payload, at: max(at, 0)})
			}
			rcmds, err := a.pipe(ctx, tgt, func(p redis.Pipeliner) {
				// RESTORE-ASKING (what MIGRATE sends) is RESTORE served in
				// a slot the node imports: one command per key, no ASKING.
				for _, d := range ds {
					if d.at > 0 {
						p.Do(ctx, "restore-asking", d.key, d.at, d.payload, "replace", "absttl")
					} else {
						p.Do(ctx, "restore-asking", d.key, 0, d.payload, "replace")
					}
				}
			})
			if err != nil {
				return err
			}
			for i, rc := range rcmds {
				if err := rc.Err(); err != nil {
					return fmt.Errorf("restore %q (slot %d) on %s: %w", ds[i].key, c.slot, tgt, err)
				}
			}
			if a.beforeCommit != nil {
				a.beforeCommit(c.slot, attempt)
			}
			// SETSLOT first: the ways it could fail (the source no longer
			// owns the slot, the target is unknown) make the transaction's
			// keys or node check fail too, but should it fail alone, the
			// deleted keys are put back on the source (a key a client
			// created there meanwhile wins) before anything else happens.
			tcmds, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
				p.Do(ctx, "cluster", "setslot", c.slot, "migrating", tgtID)
				p.Unlink(ctx, c.keys...)
				return nil
			})
			if err != nil && len(tcmds) == 2 && tcmds[0].Err() != nil && tcmds[1].Err() == nil {
				serr := tcmds[0].Err()
				_, perr := a.pipe(ctx, src, func(p redis.Pipeliner) {
					for _, d := range ds {
						if d.at > 0 {
							p.Do(ctx, "restore", d.key, d.at, d.payload, "absttl")
						} else {
							p.Do(ctx, "restore", d.key, 0, d.payload)
						}
					}
				})
				return fmt.Errorf("slot %d: setslot migrating on %s failed after the copy; keys put back on the source (%v): %w",
					c.slot, src, perr, serr)
			}
			moved = len(ds)
			return err
		}, c.keys...)
		switch {
		case err == nil:
			tr.moved(int64(moved), c.bytes, 1, 0)
			tr.copied(1, 0)
			tr.emit(false)
			return true, nil
		case errors.Is(err, redis.TxFailedErr):
			a.log().DebugContext(ctx, "keys changed during the copy, copying the slot again", "slot", c.slot, "attempt", attempt)
			tr.copied(0, 1)
			if err := a.dropUnreachable(ctx, tgt, c.slot); err != nil {
				return false, err
			}
		default:
			return false, fmt.Errorf("copy slot %d from %s to %s: %w", c.slot, src, tgt, err)
		}
	}
	return false, nil
}
