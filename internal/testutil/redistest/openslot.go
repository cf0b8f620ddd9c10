package redistest

import (
	"context"
	"fmt"
	"net"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
)

// FillSlot writes n keys "{<prefix><i>}:<k>" (each key its own value)
// through cc into one slot that owner, a primary, owns, and returns the
// slot and the keys.
func FillSlot(ctx context.Context, cc *redis.ClusterClient, owner *redis.Client, prefix string, n int) (int, []string, error) {
	text, err := owner.ClusterNodes(ctx).Result()
	if err != nil {
		return 0, nil, err
	}
	v, err := clusteradmin.ParseClusterNodes(text)
	if err != nil {
		return 0, nil, err
	}
	if v.Myself.Slots.Count() == 0 {
		return 0, nil, fmt.Errorf("%s owns no slot", owner.Options().Addr)
	}
	for i := 0; ; i++ {
		tag := fmt.Sprintf("{%s%d}", prefix, i)
		s, err := owner.ClusterKeySlot(ctx, tag).Result()
		if err != nil {
			return 0, nil, err
		}
		if !v.Myself.Slots.Contains(int(s)) {
			continue
		}
		keys := make([]string, n)
		for k := range keys {
			keys[k] = fmt.Sprintf("%s:%d", tag, k)
			if err := cc.Set(ctx, keys[k], keys[k], 0).Err(); err != nil {
				return 0, nil, err
			}
		}
		return int(s), keys, nil
	}
}

// OpenWith opens slot from the primary src (node ID srcID) towards the
// primary dst (dstID, at dstAddr), IMPORTING on dst first as a move does,
// then MIGRATING on src, and moves keys to dst with MIGRATE (password ""
// for none): what a slot move cut short leaves.
func OpenWith(ctx context.Context, src, dst *redis.Client, srcID, dstID, dstAddr, password string, slot int, keys []string) error {
	host, port, err := net.SplitHostPort(dstAddr)
	if err != nil {
		return err
	}
	if err := dst.Do(ctx, "cluster", "setslot", slot, "importing", srcID).Err(); err != nil {
		return fmt.Errorf("setslot %d importing: %w", slot, err)
	}
	if err := src.Do(ctx, "cluster", "setslot", slot, "migrating", dstID).Err(); err != nil {
		return fmt.Errorf("setslot %d migrating: %w", slot, err)
	}
	args := []any{"migrate", host, port, "", 0, 5000}
	if password != "" {
		args = append(args, "auth", password)
	}
	args = append(args, "keys")
	for _, k := range keys {
		args = append(args, k)
	}
	if err := src.Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("migrate %d keys of slot %d: %w", len(keys), slot, err)
	}
	return nil
}
