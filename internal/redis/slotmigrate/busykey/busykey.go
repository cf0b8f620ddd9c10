// Package busykey settles keys that a slot move's MIGRATE found on both its
// source and its target (BUSYKEY): an earlier run copied them and was cut
// off before it deleted the source's copy, or a client wrote the key on the
// source after the copy.
package busykey

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/pipe"
)

// compareAndDelete deletes KEYS[1] only if its DUMP still equals ARGV[1],
// atomically on the source, so a write that lands meanwhile is never lost.
var compareAndDelete = redis.NewScript(`
local d = redis.call('DUMP', KEYS[1])
if d and d == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return -1`)

// Resolve handles keys of slot that MIGRATE from src found on tgt too. Both
// copies are compared (DUMP); an equal source copy is deleted (compare and
// delete, atomically), a different one replaces the target's through
// replace (the source copy is the one clients write while the slot
// migrates) unless the policy is clusteradmin.BusyKeyFail.
func Resolve(ctx context.Context, a *clusteradmin.Admin, src, tgt string, slot int, keys []string,
	replace func(key string) error) (equal, replaced int64, err error) {
	for _, key := range keys {
		sd, err := a.Client(src).Dump(ctx, key).Result()
		if errors.Is(err, redis.Nil) || hasMsg(err, "ASK ") {
			continue // moved already
		}
		if err != nil {
			return equal, replaced, fmt.Errorf("busy key %q: dump on source %s: %w", key, src, err)
		}
		cmds, err := pipe.Exec(ctx, a.Client(tgt), tgt, func(p redis.Pipeliner) {
			p.Do(ctx, "asking")
			p.Dump(ctx, key)
		})
		if err != nil {
			return equal, replaced, err
		}
		td, err := cmds[1].(*redis.StringCmd).Result()
		if errors.Is(err, redis.Nil) {
			continue // not the busy one; moved on the next round
		}
		if err != nil {
			return equal, replaced, fmt.Errorf("busy key %q: dump on target %s: %w", key, tgt, err)
		}
		if td == sd {
			if err := compareAndDelete.Run(ctx, a.Client(src), []string{key}, sd).Err(); err != nil {
				return equal, replaced, fmt.Errorf("busy key %q: delete equal source copy on %s: %w", key, src, err)
			}
			equal++
			continue
		}
		if a.Limits.WithDefaults().BusyKey == clusteradmin.BusyKeyFail {
			return equal, replaced, &clusteradmin.BusyKeyConflictError{Key: key, Slot: slot, Source: src, Target: tgt}
		}
		a.Logger().WarnContext(ctx, "key on target differs from the live source copy; replacing the target copy",
			"key", key, "slot", slot, "source", src, "target", tgt)
		if err := replace(key); err != nil {
			return equal, replaced, fmt.Errorf("busy key %q: migrate replace: %w", key, err)
		}
		replaced++
	}
	return equal, replaced, nil
}

func hasMsg(err error, sub string) bool { return err != nil && strings.Contains(err.Error(), sub) }
