// Package temporaldown is the temporal-down chaos scenario: the worker
// loses Temporal (a frontend restarting, a partition between the two) in
// the middle of a scale-out's slot migration. The migration step can then
// neither heartbeat nor report its end: the SDK cancels it once its
// heartbeat fails, Temporal times the attempt out, and a later attempt
// resumes the move once the worker is back. The cluster must end whole,
// with no slot left open, no acknowledged write and no key lost.
package temporaldown

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/bench/chaosbench"
	"github.com/dayops/dayops/bench/chaosbench/midmove"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/workflows"
)

// Outage is how long the worker is cut off from Temporal: several
// heartbeat timeouts (5 s), so that the migration step's attempt is timed
// out for certain while the worker still runs it.
const Outage = 30 * time.Second

// Run scales b's cluster out by one shard and, as soon as a slot is open
// for migration, cuts the worker off from Temporal for outage
// (b.TemporalLink: the proxy between the worker and Temporal's frontend;
// dayops' API keeps its own connection). It fails unless the operation
// then succeeds and the cluster is whole.
func Run(ctx context.Context, b *chaosbench.Bench, outage time.Duration) (chaosbench.Figure, error) {
	f := chaosbench.Figure{Scenario: fmt.Sprintf("worker cut off from Temporal %s in the middle of a scale-out's migration", outage)}
	if b.TemporalLink == nil {
		return f, errors.New("temporal-down: nothing stands between the worker and Temporal (Env.TemporalLink)")
	}
	cut := make(chan string, 1) // the open slot the outage began at
	var outErr error
	var conns int
	so, err := midmove.Run(ctx, b, "chaos bench: Temporal away mid-migration", func(wctx context.Context, cc *redis.ClusterClient) {
		for wctx.Err() == nil {
			if open := redistest.OpenSlot(wctx, cc); open != "" {
				cut <- open
				b.Log.Info("chaos: fault", "scenario", "temporal-down", "open_slot", open, "outage", outage)
				conns, outErr = b.TemporalLink.Outage(ctx, outage)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	if err != nil {
		return f, err
	}
	cc, op := so.Client, so.Op
	defer cc.Close()
	var open string
	select {
	case open = <-cut:
	default:
		return f, fmt.Errorf("temporal-down: scale-out %s ended %s before a slot was seen open: the fault never happened", so.OperationID, op.Progress.Outcome)
	}
	if outErr != nil {
		return f, fmt.Errorf("temporal-down: outage: %w", outErr)
	}
	if op.Progress.Outcome != workflows.OutcomeSucceeded {
		return f, fmt.Errorf("temporal-down: scale-out %s ended %s/%s: %s", so.OperationID, op.Status, op.Progress.Outcome, op.Error)
	}
	if _, err := b.WaitWhole(ctx, chaosbench.RepairLimit); err != nil {
		return f, fmt.Errorf("temporal-down: %w", err)
	}
	if left := redistest.OpenSlot(ctx, cc); left != "" {
		return f, fmt.Errorf("temporal-down: slot %s still open after scale-out %s succeeded", left, so.OperationID)
	}
	f.Note = fmt.Sprintf("scale-out %s to %d shards cut off at open slot %s, %s in %.1fs (%d slots, %d keys moved); %d connections reset",
		so.OperationID, so.Shards+1, open, op.Progress.Outcome, op.ClosedAt.Sub(op.StartedAt).Seconds(), op.Progress.SlotsMoved, op.Progress.KeysMoved, conns)
	if err := b.End(ctx, so.Span, &f); err != nil {
		return f, err
	}
	b.Log.Info("chaos: scale-out done", "scenario", "temporal-down", "note", f.Note)
	return f, nil
}
