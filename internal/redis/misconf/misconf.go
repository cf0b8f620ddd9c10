// Package misconf finds primaries that refuse writes because they cannot
// write to their disk: a full or failing volume under the AOF (or under the
// RDB snapshots, with stop-writes-on-bgsave-error). Redis keeps such a
// primary in the cluster and answers every write to its slots, and even a
// PING, with "MISCONF ...": the node is up, its Pod Ready (a TCP probe),
// nothing fails over, and the shard takes no write until the disk has room
// again. A Finder looks for them, for a caller (the guardian) that then hands
// the shard to a replica whose disk takes writes (a graceful CLUSTER
// FAILOVER loses no acknowledged write: the replica has every write the
// primary answered, replication does not go through the disk).
package misconf

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
)

// Instance is one instance a look asks.
type Instance struct {
	Addr           string
	Ordinal, Shard int
	Primary        bool
}

// Refusal is a primary that refused writes on two looks in a row: Reason is
// its error ("MISCONF Errors writing to the AOF file: No space left on
// device"), Replicas the ordinals of its shard's replicas that took a PING
// on the same look (their disk is fine), lowest first.
type Refusal struct {
	Ordinal  int    `json:"ordinal"`
	Shard    int    `json:"shard"`
	Reason   string `json:"reason"`
	Replicas []int  `json:"replicas,omitempty"`
}

func (r Refusal) String() string {
	return fmt.Sprintf("shard-%d's primary (ordinal %d) refuses writes: %s", r.Shard, r.Ordinal, r.Reason)
}

// Describe joins refusals for a reason or a log line.
func Describe(rs []Refusal) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, "; ")
}

// Finder is the memory of the looks: the ordinals the last one found
// refusing. A primary is reported when two looks in a row found it so, so
// a moment's error (a disk that recovered) is not.
type Finder struct {
	last map[int]bool
	// fresh: the last look found a primary refusing that the look before
	// did not (reported by the next look if it still refuses).
	fresh bool
}

// askTimeout bounds one instance's answer to a look.
const askTimeout = time.Second

// Look sends a PING to every instance (Redis answers it with MISCONF when
// the node refuses writes for a disk error, a replica included) and returns
// the primaries the last look found refusing too, by shard, with the
// commands it sent. An instance that does not answer reports nothing.
func (f *Finder) Look(ctx context.Context, cl clusteradmin.ClientFactory, in []Instance) ([]Refusal, int) {
	reasons := make([]string, len(in))
	ok := make([]bool, len(in))
	var wg sync.WaitGroup
	for i, x := range in {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, askTimeout)
			defer cancel()
			err := cl.Client(x.Addr).Ping(ctx).Err()
			switch {
			case err == nil:
				ok[i] = true
			case Refuses(err):
				reasons[i] = err.Error()
			}
		})
	}
	wg.Wait()
	now := map[int]bool{}
	fresh := false
	var out []Refusal
	for i, x := range in {
		if reasons[i] == "" || !x.Primary {
			continue
		}
		now[x.Ordinal] = true
		if !f.last[x.Ordinal] {
			fresh = true
			continue
		}
		r := Refusal{Ordinal: x.Ordinal, Shard: x.Shard, Reason: reasons[i]}
		for j, y := range in {
			if ok[j] && !y.Primary && y.Shard == x.Shard {
				r.Replicas = append(r.Replicas, y.Ordinal)
			}
		}
		slices.Sort(r.Replicas)
		out = append(out, r)
	}
	f.last, f.fresh = now, fresh
	slices.SortFunc(out, func(a, b Refusal) int { return a.Shard - b.Shard })
	return out, len(in)
}

// Pending reports whether the last look found a primary refusing writes
// that it did not report yet (the look before did not find it): the caller
// may look again sooner to confirm it.
func (f *Finder) Pending() bool { return f.fresh }

// Refuses reports whether err is Redis refusing a command for a disk error.
func Refuses(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "MISCONF")
}
