package slotmigrate

import (
	"context"
	"fmt"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/slotmigrate/atomicproto"
	"github.com/dayops/dayops/internal/topology"
)

// AtomicMigration names a server-side atomic slot migration command.
type AtomicMigration = atomicproto.Kind

const (
	// AtomicNone: only the legacy SETSLOT/MIGRATE path is available.
	AtomicNone = atomicproto.None
	// AtomicRedis is Redis 8.4's CLUSTER MIGRATION IMPORT, run on the target.
	AtomicRedis = atomicproto.Redis
	// AtomicValkey is Valkey 9's CLUSTER MIGRATESLOTS, run on the source.
	AtomicValkey = atomicproto.Valkey
)

// ProbeInput names the node to probe.
type ProbeInput struct {
	Addr string
}

// ProbeResult lists what the node can do.
type ProbeResult struct {
	Atomic AtomicMigration `json:"atomic"`
}

// Probe asks the node whether it knows the atomic slot migration commands
// (COMMAND INFO of the subcommands), never trusting a version string: forks
// and backports make versions lie.
func (a *Migrator) Probe(ctx context.Context, in ProbeInput) (ProbeResult, error) {
	reply, err := a.Client(in.Addr).Do(ctx, "command", "info", "cluster|migration", "cluster|migrateslots").Slice()
	if err != nil {
		return ProbeResult{}, fmt.Errorf("probe %s: %w", in.Addr, err)
	}
	return ProbeResult{Atomic: atomicproto.FromCommandInfo(reply)}, nil
}

func (a *Migrator) commonAtomic(ctx context.Context, m *migration) (AtomicMigration, error) {
	kinds := make([]AtomicMigration, 0, len(m.primaries))
	for _, id := range m.primaries {
		r, err := a.Probe(ctx, ProbeInput{Addr: m.addrs[id]})
		if err != nil {
			return AtomicNone, err
		}
		kinds = append(kinds, r.Atomic)
	}
	return atomicproto.Pick(kinds), nil
}

// runAtomic starts the server-side migrations and polls until the targets
// own every slot. Redis: one CLUSTER MIGRATION IMPORT per target; Valkey:
// one CLUSTER MIGRATESLOTS per source. A start refused because the same
// migration is already running (a resumed activity) is followed by polling.
func (a *Migrator) runAtomic(ctx context.Context, kind AtomicMigration, m *migration, tr *tracker) error {
	byTarget := map[string][]int{}
	bySource := map[string]map[string][]int{}
	for src, waves := range m.bySource {
		for _, w := range waves {
			byTarget[w.tgt] = append(byTarget[w.tgt], w.slots...)
			if bySource[src] == nil {
				bySource[src] = map[string][]int{}
			}
			bySource[src][w.tgt] = append(bySource[src][w.tgt], w.slots...)
		}
	}
	rangeArgs := func(slots []int) []any {
		var out []any
		for _, r := range topology.RangesOf(slots) {
			out = append(out, r.Start, r.End)
		}
		return out
	}
	switch kind {
	case AtomicRedis:
		for tgt, slots := range byTarget {
			args := append([]any{"cluster", "migration", "import"}, rangeArgs(slots)...)
			if err := a.Client(m.addrs[tgt]).Do(ctx, args...).Err(); err != nil && !hasMsg(err, "already") {
				return fmt.Errorf("cluster migration import on %s: %w", m.addrs[tgt], err)
			}
		}
	case AtomicValkey:
		for src, targets := range bySource {
			args := []any{"cluster", "migrateslots"}
			for tgt, slots := range targets {
				args = append(args, "slotsrange")
				args = append(args, rangeArgs(slots)...)
				args = append(args, "node", tgt)
			}
			if err := a.Client(m.addrs[src]).Do(ctx, args...).Err(); err != nil && !hasMsg(err, "already") {
				return fmt.Errorf("cluster migrateslots on %s: %w", m.addrs[src], err)
			}
		}
	default:
		return fmt.Errorf("unknown atomic migration %q", kind)
	}
	return a.Poll(ctx, 0, "wait for atomic slot migration", func(ctx context.Context) (bool, string, error) {
		left := 0
		for tgt, slots := range byTarget {
			v, err := a.View(ctx, m.addrs[tgt])
			if err != nil {
				return false, "", err
			}
			var done []int
			for _, s := range slots {
				if v.Myself.Slots.Contains(s) {
					done = append(done, s)
				} else {
					left++
				}
			}
			tr.Finished(done)
			if failed, err := a.atomicFailed(ctx, kind, m.addrs[tgt]); err != nil || failed != "" {
				if err != nil {
					return false, "", err
				}
				return false, "", &clusteradmin.PlanConflictError{Slot: slots[0], Reason: "atomic migration failed: " + failed}
			}
		}
		return left == 0, fmt.Sprintf("%d slots not moved yet", left), nil
	})
}

// atomicFailed looks for a failed task in the node's migration status.
func (a *Migrator) atomicFailed(ctx context.Context, kind AtomicMigration, addr string) (string, error) {
	args := []any{"cluster", "migration", "status", "all"}
	if kind == AtomicValkey {
		args = []any{"cluster", "getslotmigrations"}
	}
	reply, err := a.Client(addr).Do(ctx, args...).Result()
	if err != nil {
		return "", fmt.Errorf("migration status on %s: %w", addr, err)
	}
	return atomicproto.FailedState(reply), nil
}
