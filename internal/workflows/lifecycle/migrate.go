package lifecycle

import (
	"fmt"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows/flow"
	"go.temporal.io/sdk/workflow"
)

// MigrateChunkSlots bounds the slots of one move in one migration activity.
// Each activity carries the k-th piece of every move, so sources still run in
// parallel, and the workflow's progress (and the UI) updates between pieces.
const MigrateChunkSlots = 512

// chunkMoves splits moves into rounds: round k holds the k-th piece (at most
// size slots) of every move.
func chunkMoves(moves []planner.ShardMove, size int) [][]planner.ShardMove {
	var rounds [][]planner.ShardMove
	for _, m := range moves {
		k := 0
		for start := m.Range.Start; start <= m.Range.End; start += size {
			end := min(start+size-1, m.Range.End)
			if k == len(rounds) {
				rounds = append(rounds, nil)
			}
			rounds[k] = append(rounds[k], planner.ShardMove{From: m.From, To: m.To, Range: topology.SlotRange{Start: start, End: end}})
			k++
		}
	}
	return rounds
}

func describeMoves(moves []planner.ShardMove) string {
	parts := make([]string, len(moves))
	for i, m := range moves {
		parts[i] = fmt.Sprintf("%s shard-%d->shard-%d", m.Range, m.From, m.To)
	}
	return strings.Join(parts, ", ")
}

// migrate moves slots between shards, round by round, keeping progress and
// recording a SlotsMigrated event per move piece.
func migrate(ctx workflow.Context, r *flow.Run, auth redisops.Auth, moves []planner.ShardMove, primaries map[int]planner.Instance, seeds []string) error {
	total := 0
	for _, m := range moves {
		total += m.Range.Len()
	}
	r.Progress.SlotsTotal = total
	rounds := chunkMoves(moves, MigrateChunkSlots)
	r.Progress.StepsTotal += 2 * len(rounds)
	var elapsed time.Duration
	for _, round := range rounds {
		var tm []topology.Move
		for _, m := range round {
			from, ok1 := primaries[m.From]
			to, ok2 := primaries[m.To]
			if !ok1 || !ok2 || from.NodeID == "" || to.NodeID == "" {
				return fmt.Errorf("migrate %s: shard-%d or shard-%d has no known primary", m.Range, m.From, m.To)
			}
			tm = append(tm, topology.Move{From: from.NodeID, To: to.NodeID, Range: m.Range})
		}
		label := describeMoves(round)
		var res redisops.MigrateResult
		if err := r.Exec(ctx, flow.LongOptions, "migrate slots "+label, flow.RedisActs.MigrateSlots,
			redisops.MigrateInput{Auth: auth, Moves: tm, Seeds: seeds, Label: label}, &res); err != nil {
			return err
		}
		p := res.Progress
		r.Progress.SlotsMoved += p.SlotsTotal
		r.Progress.KeysMoved += p.KeysMoved
		r.Progress.BytesMoved += p.BytesMoved
		elapsed += time.Duration(p.ElapsedMS) * time.Millisecond
		if secs := elapsed.Seconds(); secs > 0 {
			r.Progress.KeysPerSecond = float64(r.Progress.KeysMoved) / secs
			rate := float64(r.Progress.SlotsMoved) / secs
			if rate > 0 {
				r.Progress.ETA = time.Duration(float64(total-r.Progress.SlotsMoved) / rate * float64(time.Second))
			}
		}
		var events []audit.Payload
		for _, m := range round {
			events = append(events, &audit.SlotsMigrated{Cluster: r.Meta.ClusterKey(), FromShard: m.From, ToShard: m.To,
				Slots: []audit.SlotRange{{Start: m.Range.Start, End: m.Range.End}}})
		}
		if err := r.Record(ctx, events...); err != nil {
			return err
		}
	}
	r.Progress.ETA = 0
	r.Progress.Publish(ctx)
	return nil
}
