// Package leftopen finds the slots a slot move left open: MIGRATING on its
// source and IMPORTING on its target, with no move running any more (its
// workflow terminated while its worker was down). Such a slot stays open
// until something closes it: keys moved to the target answer only through
// ASK, and a failover of the target (its replica was never IMPORTING)
// leaves them out of reach until the slot is closed towards it. A Finder
// looks for them, for a caller that knows no operation runs (the
// guardian), which then has them closed (slotmigrate.CloseOpenSlots, in a
// recover operation). OpenIn and NoMove read open states for that close:
// which slots are open, and which imports are no move at all (Redis sets
// one at load time on a node holding old keys of another primary's slot).
package leftopen

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
)

// Primary is one primary a look asks.
type Primary struct {
	Addr           string
	Ordinal, Shard int
}

// Slot is a slot one primary has open: MIGRATING to the node Peer when
// Migrating, else IMPORTING from it.
type Slot struct {
	Slot      int    `json:"slot"`
	Ordinal   int    `json:"ordinal"`
	Shard     int    `json:"shard"`
	Migrating bool   `json:"migrating,omitempty"`
	Peer      string `json:"peer"`
}

func (s Slot) String() string {
	way, dir := "importing", "from"
	if s.Migrating {
		way, dir = "migrating", "to"
	}
	return fmt.Sprintf("slot %d %s on shard-%d (ordinal %d) %s node %.8s", s.Slot, way, s.Shard, s.Ordinal, dir, s.Peer)
}

// Finder is the memory of the looks: the open slots the last one found. A
// slot is reported when two looks in a row found it open the same way, so
// a slot a running move holds open for a moment is not.
type Finder struct {
	last map[Slot]bool
}

// askTimeout bounds one primary's answer to a look.
const askTimeout = time.Second

// Look reads every primary's own CLUSTER NODES (the only view that shows
// its open slots) and returns the open slots the last look found too,
// sorted by slot, with the commands it sent. A primary that does not answer
// reports nothing this time.
func (f *Finder) Look(ctx context.Context, cl clusteradmin.ClientFactory, ps []Primary) ([]Slot, int) {
	found := make([][]Slot, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, askTimeout)
			defer cancel()
			text, err := cl.Client(p.Addr).ClusterNodes(ctx).Result()
			if err != nil {
				return
			}
			v, err := clusteradmin.ParseClusterNodes(text)
			if err != nil {
				return
			}
			for s, peer := range v.Myself.Migrating {
				found[i] = append(found[i], Slot{Slot: s, Ordinal: p.Ordinal, Shard: p.Shard, Migrating: true, Peer: peer})
			}
			for s, peer := range v.Myself.Importing {
				found[i] = append(found[i], Slot{Slot: s, Ordinal: p.Ordinal, Shard: p.Shard, Peer: peer})
			}
		})
	}
	wg.Wait()
	seen := map[Slot]bool{}
	var out []Slot
	for _, fs := range found {
		for _, s := range fs {
			seen[s] = true
			if f.last[s] {
				out = append(out, s)
			}
		}
	}
	f.last = seen
	slices.SortFunc(out, func(x, y Slot) int {
		return cmp.Or(cmp.Compare(x.Slot, y.Slot), cmp.Compare(x.Ordinal, y.Ordinal))
	})
	return out, len(ps)
}

// Slots are the slot numbers of slots, sorted, each once (a slot is open
// on its source and on its target).
func Slots(slots []Slot) []int {
	out := make([]int, 0, len(slots))
	for _, s := range slots {
		out = append(out, s.Slot)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Describe is one line for a log or an operation's reason: the slots and
// where they are open.
func Describe(slots []Slot) string {
	out := make([]string, len(slots))
	for i, s := range slots {
		out[i] = s.String()
	}
	return strings.Join(out, "; ")
}
