package slotcopy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/pipe"
)

// copyAttempts is how often a slot is copied before it is handed to MIGRATE
// because clients kept changing its keys during the copy.
const copyAttempts = 3

// slotCopy is one slot's keys to copy.
type slotCopy struct {
	slot int
	keys []string
}

// Open copies the slots of one wave from src to tgt (node ID tgtID) where
// it can and returns the slots it opened (MIGRATING on the source, their
// keys on the target) and, sorted, those left to MIGRATE, for the caller
// to open with SETSLOT MIGRATING (after DropBeforeOpen). importing lists
// the slots this run opened on the target (IMPORTING).
//
// A slot the source already migrates (an earlier run or another tool opened
// it; clients may have written the target by ASK), a slot the target did
// not start importing in this run, a slot with too many keys or bytes for
// one copy, or an empty slot is left to MIGRATE. A slot the source gave
// away already is in neither list: only its closing remains.
func (cp *Copier) Open(ctx context.Context, src, tgt, tgtID string, slots, importing []int) (open, legacy []int, err error) {
	lim := cp.Limits.WithDefaults()
	v, err := cp.View(ctx, src)
	if err != nil {
		return nil, nil, err
	}
	var fresh []int
	for _, s := range slots {
		switch {
		case !slices.Contains(importing, s) || v.Myself.Migrating[s] != "":
			legacy = append(legacy, s)
		case v.Owner(s) != v.Myself.ID:
			// Given away already: only the closing remains.
		default:
			fresh = append(fresh, s)
		}
	}
	copies, more, err := cp.planCopies(ctx, src, tgt, fresh)
	if err != nil {
		return nil, nil, err
	}
	legacy = append(legacy, more...)

	var mu sync.Mutex
	var refusals int
	open = []int{}
	err = pipe.Parallel(ctx, lim.CopiesPerWave, copies, func(ctx context.Context, c slotCopy) error {
		out, err := cp.copySlot(ctx, src, tgt, tgtID, c)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if out == copied {
			open = append(open, c.slot)
		} else {
			legacy = append(legacy, c.slot)
		}
		if out == refused {
			refusals++
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if refusals > 0 {
		cp.Logger().WarnContext(ctx, "the source refused the copy path's script (ACL or disabled scripting); those slots move with MIGRATE",
			"source", src, "slots", refusals)
	}
	slices.Sort(legacy)
	return open, legacy, nil
}

// planCopies lists the keys of the fresh slots on the source: slots with
// keys, fewer than clusteradmin.Limits.BatchKeys of them, are returned as copies, the
// others (empty, or too many keys for one copy) as legacy. Keys the target
// holds of them (no client can reach those) are removed first.
func (cp *Copier) planCopies(ctx context.Context, src, tgt string, fresh []int) (copies []slotCopy, legacy []int, err error) {
	if len(fresh) == 0 {
		return nil, nil, nil
	}
	if err := DropBeforeOpen(ctx, cp.Admin, src, tgt, fresh); err != nil {
		return nil, nil, err
	}
	lim := cp.Limits.WithDefaults()
	cmds, err := pipe.Exec(ctx, cp.Client(src), src, func(p redis.Pipeliner) {
		for _, s := range fresh {
			p.ClusterGetKeysInSlot(ctx, s, lim.BatchKeys)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	for i, c := range cmds {
		keys, err := c.(*redis.StringSliceCmd).Result()
		if err != nil {
			return nil, nil, fmt.Errorf("getkeysinslot %d on %s: %w", fresh[i], src, err)
		}
		if len(keys) == 0 || len(keys) >= lim.BatchKeys {
			legacy = append(legacy, fresh[i])
			continue
		}
		copies = append(copies, slotCopy{slot: fresh[i], keys: keys})
	}
	return copies, legacy, nil
}

// DropBeforeOpen removes the target's keys of every slot the source owns
// and does not migrate yet: no client can reach them (the target sends
// clients to the owner; only a MIGRATING source sends them to the target,
// by ASK, for a key it does not have), so they are leftovers (a copy an
// interrupted copy left, a key of an earlier owner), and once the slot
// migrates they would show for any key a client deletes on the source: a
// deleted key would come back. The slot mover calls it before it opens any
// slot.
func DropBeforeOpen(ctx context.Context, a *clusteradmin.Admin, src, tgt string, slots []int) error {
	cmds, err := pipe.Exec(ctx, a.Client(tgt), tgt, func(p redis.Pipeliner) {
		for _, s := range slots {
			p.ClusterCountKeysInSlot(ctx, s)
		}
	})
	if err != nil {
		return err
	}
	var held []int
	for i, c := range cmds {
		n, err := c.(*redis.IntCmd).Result()
		if err != nil {
			return fmt.Errorf("countkeysinslot %d on %s: %w", slots[i], tgt, err)
		}
		if n > 0 {
			held = append(held, slots[i])
		}
	}
	if len(held) == 0 {
		return nil
	}
	v, err := a.View(ctx, src)
	if err != nil {
		return err
	}
	for _, s := range held {
		if v.Myself.Migrating[s] == "" && v.Owner(s) == v.Myself.ID {
			if err := dropUnreachable(ctx, a, tgt, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// dropUnreachable removes the keys the target holds in slot s while the
// source still owns s and does not migrate it: no client can read or write
// them (they are copies an interrupted copy left behind).
func dropUnreachable(ctx context.Context, a *clusteradmin.Admin, tgt string, s int) error {
	var dropped int
	for {
		cmds, err := pipe.Exec(ctx, a.Client(tgt), tgt, func(p redis.Pipeliner) {
			p.ClusterGetKeysInSlot(ctx, s, a.Limits.WithDefaults().BatchKeys)
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
		cmds, err = pipe.Exec(ctx, a.Client(tgt), tgt, func(p redis.Pipeliner) {
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
		a.Logger().InfoContext(ctx, "removed keys no client could reach from the target (the source owns the slot and does not migrate it)",
			"slot", s, "target", tgt, "keys", dropped)
	}
	return nil
}

// copyOutcome is how one slot's copy ended.
type copyOutcome int

const (
	copied    copyOutcome = iota // the keys are on the target, the slot is open
	tooBig                       // more bytes than one copy takes: MIGRATE it
	contended                    // clients changed keys in every attempt: MIGRATE it
	refused                      // the source refused the script (ACL, ...): MIGRATE it
)

// copySlot copies c to the target and, in one transaction on the source,
// deletes the keys there and opens the slot. On one connection of its own
// to the source: WATCH and the dump script in one round trip, the RESTOREs
// on the target in one more, MULTI/SETSLOT/UNLINK/EXEC in a third.
func (cp *Copier) copySlot(ctx context.Context, src, tgt, tgtID string, c slotCopy) (copyOutcome, error) {
	lim := cp.Limits.WithDefaults()
	conn := cp.Client(src).Conn()
	defer conn.Close()
	for attempt := 1; attempt <= copyAttempts; attempt++ {
		// One unit of the latency budget's window per attempt.
		if err := cp.Pace.Acquire(ctx); err != nil {
			return 0, err
		}
		res, err := cp.copyOnce(ctx, conn, src, tgt, tgtID, c, attempt, lim)
		cp.Pace.Release()
		if err != nil {
			_ = conn.Do(ctx, "unwatch").Err()
			return 0, err
		}
		switch res.outcome {
		case copied:
			cp.Copied(res.keys, res.bytes)
			return copied, nil
		case tooBig, refused:
			_ = conn.Do(ctx, "unwatch").Err()
			return res.outcome, nil
		}
		cp.Logger().DebugContext(ctx, "keys changed during the copy, copying the slot again", "slot", c.slot, "attempt", attempt)
		cp.Conflict()
		if err := dropUnreachable(ctx, cp.Admin, tgt, c.slot); err != nil {
			return 0, err
		}
	}
	return contended, nil
}

type copyResult struct {
	outcome     copyOutcome
	keys, bytes int64
}

// dumpSlot sizes every key (MEMORY USAGE) and, if none is over ARGV[1] and
// all together are not over ARGV[2], returns {1, VALUE, PEXPIRETIME, ...}
// (nil and -2 for a key that is gone); otherwise {0, size, ...} (-1 for a
// key that is gone) and reads nothing. VALUE is the value, in an array of
// one ({GET}), of a string key of ARGV[3] (rawMinBytes) or more, and every
// other key's DUMP payload. A big string travels as it is because DUMP
// compresses it with LZF, which for a 10 KB value costs the source's event
// loop about four times the whole GET (redis-benchmark, Redis 7.0.15: DUMP
// 28.7 us for 10 KB of random bytes, 6.5 us without compression) and the
// target a decompression, and both sides a CRC64 over the payload; a small
// one as a payload, because telling it from other types would cost the
// script a TYPE call per key (0.4-0.5 us per 100-byte key replayed, more
// than DUMP costs over GET). The mover then writes a small string whose
// payload holds it as it is or as an integer with SET (stringFromPayload),
// which costs the target half what RESTORE-ASKING does. One call per slot: a slot of small
// keys costs the source one command, not three per key. With ARGV[4]
// (share) above 0 the script does not read a big string of share bytes or
// fewer: it returns its length, in an array of one ({STRLEN}), and the
// caller reads it with the GETRANGE 0 share-1 it sends for every key in
// the same round trip (see KeyMix).
const dumpSlot = `
local max_key, max_total, raw_min, share = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local sizes, total, over = {0}, 0, false
for i, k in ipairs(KEYS) do
  local n = redis.call('MEMORY', 'USAGE', k) or -1
  sizes[i+1] = n
  total = total + math.max(n, 0)
  if n > max_key then over = true end
end
if over or total > max_total then return sizes end
local r = {1}
for i, k in ipairs(KEYS) do
  if sizes[i+1] >= raw_min and redis.call('TYPE', k)['ok'] == 'string' then
    local n = share > 0 and redis.call('STRLEN', k)
    if n and n <= share then r[2*i] = {n} else r[2*i] = {redis.call('GET', k)} end
  else
    r[2*i] = redis.call('DUMP', k)
  end
  r[2*i+1] = redis.call('PEXPIRETIME', k)
end
return r`

// rawMinBytes is the MEMORY USAGE from which a string key is copied by GET
// and SET rather than DUMP and RESTORE (see dumpSlot).
const rawMinBytes = 1024

// copyHold is what a copy reserves of the budget before it knows its size:
// a slot that needs more is sized, then dumped again with what it needs.
const copyHold = 256 << 10

// copyOnce copies slot c from src to tgt once: it dumps the watched keys
// within the budget (sized again when they need more than copyHold),
// restores them on the target, then commits.
func (cp *Copier) copyOnce(ctx context.Context, conn *redis.Conn, src, tgt, tgtID string, c slotCopy, attempt int, lim clusteradmin.Limits) (copyResult, error) {
	hold := int64(copyHold)
	if err := cp.Budget.Acquire(ctx, hold); err != nil {
		return copyResult{}, err
	}
	defer func() { cp.Budget.Release(hold) }()
	split := cp.Mix.split(src)
	vals, ranges, err := cp.dump(ctx, conn, src, c, true, split, lim.MaxKeyBytes, hold)
	if cannotCopy(err) {
		// Scripting (or one of the commands the script calls) is not
		// available to this user or on this server: MIGRATE the slot.
		cp.Logger().DebugContext(ctx, "copy path refused by the source, moving the slot with MIGRATE", "slot", c.slot, "source", src, "err", err)
		return copyResult{outcome: refused}, nil
	}
	if err != nil {
		return copyResult{}, err
	}
	if ok, _ := vals[0].(int64); ok != 1 {
		var total int64
		for i, v := range vals[1:] {
			n, _ := v.(int64)
			if n > lim.MaxKeyBytes {
				return copyResult{}, &clusteradmin.KeyTooBigError{Key: c.keys[i], Slot: c.slot, Bytes: n, Limit: lim.MaxKeyBytes}
			}
			total += max(n, 0)
		}
		if total > lim.BatchBytes {
			cp.Logger().DebugContext(ctx, "slot too big for one copy, moving it with MIGRATE", "slot", c.slot, "bytes", total)
			return copyResult{outcome: tooBig}, nil
		}
		// Reserve what the slot needs (released first: a copy never waits
		// for more while it holds some) and dump again; the keys are still
		// watched.
		cp.Budget.Release(hold)
		hold = min(total+total/8, lim.BatchBytes)
		if err := cp.Budget.Acquire(ctx, hold); err != nil {
			hold = 0
			return copyResult{}, err
		}
		if vals, ranges, err = cp.dump(ctx, conn, src, c, false, split, lim.MaxKeyBytes, hold); err != nil {
			return copyResult{}, err
		}
		if ok, _ := vals[0].(int64); ok != 1 {
			return copyResult{outcome: tooBig}, nil // grew meanwhile
		}
	}
	if len(vals) != 1+2*len(c.keys) {
		return copyResult{}, fmt.Errorf("dump slot %d on %s: %d values for %d keys", c.slot, src, len(vals), len(c.keys))
	}
	for _, r := range ranges {
		if cannotCopy(r.Err()) {
			// GETRANGE is not for this user: read every value in the script.
			cp.Mix.refuse(src)
			break
		}
	}
	ds, bytes, whole := dumpedKeys(c, vals, ranges)
	if !whole {
		// A big string changed between the script and its GETRANGE: the
		// WATCH has fired, so this attempt could not commit anyway.
		if err := conn.Do(ctx, "unwatch").Err(); err != nil {
			return copyResult{}, fmt.Errorf("unwatch slot %d on %s: %w", c.slot, src, err)
		}
		return copyResult{outcome: contended}, nil
	}
	if err := cp.restoreCopies(ctx, tgt, c.slot, ds); err != nil {
		return copyResult{}, err
	}
	if cp.BeforeCommit != nil {
		cp.BeforeCommit(c.slot, attempt)
	}
	res, err := cp.commitCopy(ctx, conn, src, tgtID, c, ds)
	if err != nil || res.outcome != copied {
		return res, err
	}
	cp.Mix.add(src, ds)
	return copyResult{outcome: copied, keys: int64(len(ds)), bytes: bytes}, nil
}

// dumped is one key's value and its absolute expiry (0: none): a string's
// value as it is (raw), any other type's DUMP payload. big: the script
// returned the value itself, a string of rawMinBytes or more (KeyMix
// counts them); a small string's value was read from its payload.
type dumped struct {
	key  string
	data string
	raw  bool
	big  bool
	at   int64
}

// dumpedKeys reads the copy script's reply (after its status, a value and
// a PEXPIRETIME per key), with the GETRANGE replies of a split dump for the
// big strings the script left to them, leaving out the keys gone
// meanwhile, and returns the values' total size. whole is false when a
// GETRANGE did not return the length the script saw (the key changed in
// between).
func dumpedKeys(c slotCopy, vals []any, ranges []*redis.StringCmd) (ds []dumped, bytes int64, whole bool) {
	for i, k := range c.keys {
		at, _ := vals[2+2*i].(int64)
		d := dumped{key: k, at: max(at, 0)}
		switch v := vals[1+2*i].(type) {
		case string:
			d.data = v
			if s, ok := stringFromPayload(v); ok {
				d.data, d.raw = s, true
			}
		case []any:
			if len(v) != 1 {
				continue
			}
			switch x := v[0].(type) {
			case string:
				d.data = x
			case int64: // its length: the value is its GETRANGE's
				if i >= len(ranges) || ranges[i].Err() != nil || int64(len(ranges[i].Val())) != x {
					return nil, 0, false
				}
				d.data = ranges[i].Val()
			default:
				continue // gone between TYPE and GET: impossible in a script
			}
			d.raw, d.big = true, true
		default:
			continue // gone: WATCH tells whether before or after
		}
		if at == -2 {
			continue
		}
		ds = append(ds, d)
		bytes += int64(len(d.data))
	}
	return ds, bytes, true
}

// put queues the command that writes d on a node: a string with SET, any
// other type with RESTORE of its payload. importing: the node imports the
// key's slot (ASKING before SET; RESTORE-ASKING, what MIGRATE sends, is
// RESTORE served in an importing slot) and an existing key is replaced;
// otherwise the node owns the slot and an existing key is kept (a client
// created it, and it wins).
func (d dumped) put(ctx context.Context, p redis.Pipeliner, importing bool) {
	if d.raw {
		args := []any{"set", d.key, d.data}
		if d.at > 0 {
			args = append(args, "pxat", d.at)
		}
		if importing {
			p.Do(ctx, "asking")
		} else {
			args = append(args, "nx")
		}
		p.Do(ctx, args...)
		return
	}
	cmd := "restore"
	if importing {
		cmd = "restore-asking"
	}
	args := []any{cmd, d.key, d.at, d.data}
	if importing {
		args = append(args, "replace")
	}
	if d.at > 0 {
		args = append(args, "absttl")
	}
	p.Do(ctx, args...)
}

// restoreCopies writes the copied keys of slot on tgt, which imports it.
func (cp *Copier) restoreCopies(ctx context.Context, tgt string, slot int, ds []dumped) error {
	rcmds, err := pipe.Exec(ctx, cp.Client(tgt), tgt, func(p redis.Pipeliner) {
		for _, d := range ds {
			d.put(ctx, p, true)
		}
	})
	if err != nil {
		return err
	}
	for _, rc := range rcmds {
		if err := rc.Err(); err != nil {
			return fmt.Errorf("restore %s (slot %d) on %s: %w", keyOf(rc), slot, tgt, err)
		}
	}
	return nil
}

// keyOf is the key a SET or RESTORE command of put writes.
func keyOf(c redis.Cmder) string {
	if args := c.Args(); len(args) > 1 {
		return fmt.Sprintf("%q", args[1])
	}
	return c.Name()
}

// commitCopy deletes the copied keys on the source and sets the slot
// migrating to the target, in one transaction on the watched connection:
// contended when a client changed a watched key, copied when committed.
func (cp *Copier) commitCopy(ctx context.Context, conn *redis.Conn, src, tgtID string, c slotCopy, ds []dumped) (copyResult, error) {
	// SETSLOT first: the ways it could fail (the source no longer owns the
	// slot, the target is unknown) make the transaction's keys or node
	// check fail too, but should it fail alone, the deleted keys are put
	// back on the source (a key a client created there meanwhile wins)
	// before anything else happens.
	tcmds, err := conn.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "cluster", "setslot", c.slot, "migrating", tgtID)
		p.Unlink(ctx, c.keys...)
		return nil
	})
	switch {
	case errors.Is(err, redis.TxFailedErr):
		return copyResult{outcome: contended}, nil
	case err != nil && len(tcmds) == 2 && tcmds[0].Err() != nil && tcmds[1].Err() == nil:
		serr := tcmds[0].Err()
		_, perr := pipe.Exec(ctx, cp.Client(src), src, func(p redis.Pipeliner) {
			for _, d := range ds {
				d.put(ctx, p, false)
			}
		})
		return copyResult{}, fmt.Errorf("slot %d: setslot migrating on %s failed after the copy; keys put back on the source (%v): %w",
			c.slot, src, perr, serr)
	case err != nil:
		return copyResult{}, fmt.Errorf("commit the copy of slot %d on %s: %w", c.slot, src, queuedErr(err, tcmds))
	}
	return copyResult{outcome: copied}, nil
}

// queuedErr returns, for a transaction Redis discarded (EXECABORT: nothing
// ran), the error of the first command it refused while queueing, which
// says whether a retry may help: TRYAGAIN or ASK for a slot already
// migrating whose keys are not all there, MOVED or CLUSTERDOWN while the
// node fails over (seen: the copy's commit on a source that a takeover had
// just made primary, with its open slots handed over, failed a scale-in
// for good as RedisPermanent). Any other error is returned as it is.
func queuedErr(err error, cmds []redis.Cmder) error {
	if !strings.HasPrefix(err.Error(), "EXECABORT") {
		return err
	}
	for _, c := range cmds {
		if cerr := c.Err(); cerr != nil && !strings.HasPrefix(cerr.Error(), "EXECABORT") {
			return fmt.Errorf("transaction discarded (EXECABORT), nothing ran: %s refused: %w", c.Name(), cerr)
		}
	}
	return err
}

// cannotCopy reports a refusal of the copy path's commands (ACL, disabled
// or renamed commands) as opposed to a failure worth retrying.
func cannotCopy(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := rerr.Error()
	return strings.HasPrefix(msg, "NOPERM") || strings.HasPrefix(msg, "ERR unknown command") ||
		strings.Contains(msg, "not allowed from script")
}

// dump runs dumpSlot on the copy's connection, after WATCH when watch is set
// (one round trip either way).
//
// With split, each key's GETRANGE 0 share-1 follows the script in the same
// round trip, share being maxTotal's part per key, and the script leaves
// the big strings that fit their share to them (see KeyMix): the bytes
// read stay within maxTotal either way. The GETRANGE replies are returned
// in key order (nil without split); an error among them (a key of another
// type) is the reply of a key the script read itself.
func (cp *Copier) dump(ctx context.Context, conn *redis.Conn, src string, c slotCopy, watch, split bool, maxKey, maxTotal int64) ([]any, []*redis.StringCmd, error) {
	var (
		watchCmd *redis.Cmd
		script   *redis.Cmd
		ranges   []*redis.StringCmd
		share    int64
	)
	if split && len(c.keys) > 0 {
		share = maxTotal / int64(len(c.keys))
	}
	// The replies are checked one by one below, not by Pipelined's error: a
	// GETRANGE of a key that is no string fails, and that is no failure of
	// the dump.
	_, _ = conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		if watch {
			args := make([]any, 0, 1+len(c.keys))
			args = append(args, "watch")
			for _, k := range c.keys {
				args = append(args, k)
			}
			watchCmd = p.Do(ctx, args...)
		}
		// EVAL, not EVALSHA: nothing to load first, and the server caches
		// the compiled script by its digest anyway.
		script = p.Eval(ctx, dumpSlot, c.keys, maxKey, maxTotal, rawMinBytes, share)
		if share > 0 {
			for _, k := range c.keys {
				ranges = append(ranges, p.GetRange(ctx, k, 0, share-1))
			}
		}
		return nil
	})
	if watchCmd != nil && watchCmd.Err() != nil {
		return nil, nil, fmt.Errorf("watch and dump slot %d on %s: %w", c.slot, src, watchCmd.Err())
	}
	vals, err := script.Slice()
	if err != nil {
		return nil, nil, fmt.Errorf("dump slot %d on %s: %w", c.slot, src, err)
	}
	if len(vals) == 0 {
		return nil, nil, fmt.Errorf("dump slot %d on %s: empty reply", c.slot, src)
	}
	return vals, ranges, nil
}
