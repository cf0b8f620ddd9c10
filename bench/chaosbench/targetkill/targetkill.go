// Package targetkill is the target-kill chaos scenario: the redis-server a
// scale-out moves slots to is SIGKILLed in the middle of the move. Its
// container restarts it on its AOF (the keys it had received are there:
// a process crash loses nothing written), its instance manager fences it
// as a restarted former primary, and the migration step, whose target
// refused it meanwhile, resumes. Slot moves are where other operators lose
// keys; the cluster must end whole, with no slot left open, no
// acknowledged write and no key lost.
package targetkill

import (
	"context"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/bench/chaosbench"
	"github.com/dayops/dayops/bench/chaosbench/midmove"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/workflows"
)

// Run scales b's cluster out by one shard and SIGKILLs the redis-server of
// the first target it sees a slot open towards (the new shard's primary).
// It fails unless the operation then succeeds and the cluster is whole.
func Run(ctx context.Context, b *chaosbench.Bench) (chaosbench.Figure, error) {
	f := chaosbench.Figure{Scenario: "SIGKILL the target primary of a scale-out in the middle of its migration"}
	creds, err := b.Credentials(ctx)
	if err != nil {
		return f, err
	}
	var k kill
	so, err := midmove.Run(ctx, b, "chaos bench: the target killed mid-migration", func(ctx context.Context, cc *redis.ClusterClient) {
		k = killTarget(ctx, b, cc, creds.Password)
	})
	if err != nil {
		return f, err
	}
	cc, op, c := so.Client, so.Op, so.Shards
	defer cc.Close()
	switch {
	case k.killed == "":
		return f, fmt.Errorf("target-kill: scale-out %s ended %s before a slot was seen open: the fault never happened", so.OperationID, op.Progress.Outcome)
	case k.err != nil:
		return f, fmt.Errorf("target-kill: %s: %w", k.killed, k.err)
	}
	whole, werr := b.WaitWhole(ctx, chaosbench.RepairLimit)
	left := redistest.OpenSlot(ctx, cc)
	f.Note = fmt.Sprintf("scale-out %s to %d shards, %s: %s/%s in %.1fs (%d of %d slots, %d keys moved) %s; %s; whole %.1fs after its end",
		so.OperationID, c+1, k.killed, op.Status, op.Progress.Outcome, op.ClosedAt.Sub(op.StartedAt).Seconds(),
		op.Progress.SlotsMoved, op.Progress.SlotsTotal, op.Progress.KeysMoved, op.Error, k.held, whole.Sub(op.ClosedAt).Seconds())
	if err := b.End(ctx, so.Span, &f); err != nil {
		return f, err
	}
	b.Log.Info("chaos: scale-out done", "scenario", "target-kill", "note", f.Note)
	switch {
	case op.Progress.Outcome != workflows.OutcomeSucceeded:
		return f, fmt.Errorf("target-kill: %s", f.Note)
	case werr != nil:
		return f, fmt.Errorf("target-kill: %w (%s)", werr, f.Note)
	case left != "":
		return f, fmt.Errorf("target-kill: slot %s still open (%s)", left, f.Note)
	}
	return f, nil
}

// kill is what killTarget did: which redis-server it killed ("slot ->
// target (pids)"), what the target held before and after.
type kill struct {
	killed, held string
	err          error
}

// killTarget SIGKILLs the redis-server of the first target it sees a slot
// open towards and notes the keys it held just before and once it serves
// again (with password, after its fence).
func killTarget(ctx context.Context, b *chaosbench.Bench, cc *redis.ClusterClient, password string) kill {
	var k kill
	for ctx.Err() == nil {
		m, _ := redistest.OpenMigration(ctx, cc)
		slot, target := m.Slot, m.ToAddr
		if target == "" {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		host, _, _ := net.SplitHostPort(target)
		tc := redis.NewClient(&redis.Options{Addr: target, Password: password, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
		defer tc.Close()
		before, _ := tc.DBSize(ctx).Result()
		pids, err := benchkit.SignalRedis(host, syscall.SIGKILL)
		k.killed, k.err = fmt.Sprintf("slot %d -> %s (redis-server %v)", slot, target, pids), err
		b.Log.Info("chaos: fault", "scenario", "target-kill", "killed", k.killed, "err", err)
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if after, err := tc.DBSize(ctx).Result(); err == nil {
				k.held = fmt.Sprintf("the target held %d keys just before the kill, %d once it served again", before, after)
				break
			}
		}
		return k
	}
	return k
}
