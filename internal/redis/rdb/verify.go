package rdb

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/dayops/dayops/internal/topology"
	"github.com/redis/go-redis/v9"
)

// CountKeys returns the number of keys in each set of slot ranges, asking
// every primary CLUSTER COUNTKEYSINSLOT for each slot it owns (pipelined).
func CountKeys(ctx context.Context, cc *redis.ClusterClient, node func(addr string) *redis.Client, sets []topology.Ranges) ([]int64, error) {
	perSlot := make([]int64, topology.NumSlots)
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster slots: %w", err)
	}
	covered := 0
	for _, r := range slots {
		if len(r.Nodes) == 0 {
			continue
		}
		p := node(r.Nodes[0].Addr).Pipeline()
		cmds := make([]*redis.IntCmd, 0, r.End-r.Start+1)
		for s := int(r.Start); s <= int(r.End); s++ {
			cmds = append(cmds, p.ClusterCountKeysInSlot(ctx, s))
		}
		if _, err := p.Exec(ctx); err != nil {
			return nil, fmt.Errorf("countkeysinslot on %s: %w", r.Nodes[0].Addr, err)
		}
		for i, cmd := range cmds {
			perSlot[int(r.Start)+i] = cmd.Val()
		}
		covered += int(r.End-r.Start) + 1
	}
	if covered != topology.NumSlots {
		return nil, fmt.Errorf("the cluster serves %d of %d slots", covered, topology.NumSlots)
	}
	out := make([]int64, len(sets))
	for i, rs := range sets {
		for _, s := range rs.Slots() {
			out[i] += perSlot[s]
		}
	}
	return out, nil
}

// CompareResult counts compared and differing keys.
type CompareResult struct {
	Compared  int64    `json:"compared"`
	Different []string `json:"different,omitempty"`
}

// CompareKeys compares keys of a source instance with the cluster: the
// serialized value (DUMP) must be equal and the TTL within slack. With
// sample > 0 it checks that many random keys, otherwise every key.
func CompareKeys(ctx context.Context, src *redis.Client, cc *redis.ClusterClient, sample int, slack time.Duration) (CompareResult, error) {
	var out CompareResult
	check := func(names []string) error {
		for _, name := range names {
			a, err := src.Dump(ctx, name).Result()
			if err == redis.Nil {
				continue
			}
			if err != nil {
				return err
			}
			b, err := cc.Dump(ctx, name).Result()
			if err != nil && err != redis.Nil {
				return err
			}
			ta, _ := src.PTTL(ctx, name).Result()
			tb, _ := cc.PTTL(ctx, name).Result()
			out.Compared++
			if err == redis.Nil || !bytes.Equal(dumpBody(a), dumpBody(b)) || !ttlClose(ta, tb, slack) {
				if len(out.Different) < 20 {
					out.Different = append(out.Different, name)
				}
			}
		}
		return nil
	}
	if sample > 0 {
		var names []string
		for range sample {
			k, err := src.RandomKey(ctx).Result()
			if err == redis.Nil {
				break
			}
			if err != nil {
				return out, err
			}
			names = append(names, k)
		}
		return out, check(names)
	}
	var cursor uint64
	for {
		names, next, err := src.Scan(ctx, cursor, "", 1000).Result()
		if err != nil {
			return out, err
		}
		if err := check(names); err != nil {
			return out, err
		}
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}

// dumpBody is a DUMP payload without its trailer (RDB version and CRC64),
// which is the same for the same value on the same Redis version anyway.
func dumpBody(s string) []byte {
	if len(s) < 10 {
		return []byte(s)
	}
	return []byte(s[:len(s)-10])
}

func ttlClose(a, b, slack time.Duration) bool {
	if a < 0 || b < 0 {
		return a == b || (a < 0) == (b < 0)
	}
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= slack
}
