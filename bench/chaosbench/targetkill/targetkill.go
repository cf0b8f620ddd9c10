// Package targetkill holds the chaos scenarios that SIGKILL one end of a
// slot move in the middle of it. target-kill: the redis-server a scale-out
// moves slots to. source-kill: the redis-server a scale-in drains (the
// departing shard's primary). Its container restarts it on its AOF (a
// process crash loses nothing written to it), its instance manager fences
// it as a restarted former primary (and has a replica that was connected
// take over, the open slots handed to it, where the AOF may lack the last
// writes), and the migration step resumes or follows the failover. Slot
// moves are where other operators lose keys; the cluster must end whole,
// with no slot left open, no acknowledged write and no key lost.
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

// side is which end of the move a scenario kills, in which operation.
type side struct {
	name, scenario, reason string
	delta                  int // shards added by the operation
	pick                   func(redistest.Migration) string
}

var (
	target = side{name: "target-kill", scenario: "SIGKILL the target primary of a scale-out in the middle of its migration",
		reason: "chaos bench: the target killed mid-migration", delta: 1,
		pick: func(m redistest.Migration) string { return m.ToAddr }}
	source = side{name: "source-kill", scenario: "SIGKILL the source primary of a scale-in in the middle of its migration",
		reason: "chaos bench: the source killed mid-migration", delta: -1,
		pick: func(m redistest.Migration) string { return m.FromAddr }}
)

// Run scales b's cluster out by one shard and SIGKILLs the redis-server of
// the first target it sees a slot open towards (the new shard's primary).
// It fails unless the operation then succeeds and the cluster is whole.
func Run(ctx context.Context, b *chaosbench.Bench) (chaosbench.Figure, error) {
	return run(ctx, b, target)
}

// RunSource scales b's cluster in by one shard and SIGKILLs the
// redis-server of the first source it sees migrating a slot (the departing
// shard's primary), under the same checks.
func RunSource(ctx context.Context, b *chaosbench.Bench) (chaosbench.Figure, error) {
	return run(ctx, b, source)
}

func run(ctx context.Context, b *chaosbench.Bench, sd side) (chaosbench.Figure, error) {
	f := chaosbench.Figure{Scenario: sd.scenario}
	creds, err := b.Credentials(ctx)
	if err != nil {
		return f, err
	}
	var k kill
	so, err := midmove.RunBy(ctx, b, sd.reason, sd.delta, func(ctx context.Context, cc *redis.ClusterClient) {
		k = killEnd(ctx, b, cc, creds.Password, sd)
	})
	if err != nil {
		return f, err
	}
	cc, op, c := so.Client, so.Op, so.Shards
	defer cc.Close()
	switch {
	case k.killed == "":
		return f, fmt.Errorf("%s: scale %s ended %s before a slot was seen open: the fault never happened", sd.name, so.OperationID, op.Progress.Outcome)
	case k.err != nil:
		return f, fmt.Errorf("%s: %s: %w", sd.name, k.killed, k.err)
	}
	whole, werr := b.WaitWhole(ctx, chaosbench.RepairLimit)
	left := redistest.OpenSlot(ctx, cc)
	f.Note = fmt.Sprintf("scale %s to %d shards, %s: %s/%s in %.1fs (%d of %d slots, %d keys moved) %s; %s; whole %.1fs after its end",
		so.OperationID, c+sd.delta, k.killed, op.Status, op.Progress.Outcome, op.ClosedAt.Sub(op.StartedAt).Seconds(),
		op.Progress.SlotsMoved, op.Progress.SlotsTotal, op.Progress.KeysMoved, op.Error, k.held, whole.Sub(op.ClosedAt).Seconds())
	if err := b.End(ctx, so.Span, &f); err != nil {
		return f, err
	}
	b.Log.Info("chaos: scale done", "scenario", sd.name, "note", f.Note)
	switch {
	case op.Progress.Outcome != workflows.OutcomeSucceeded:
		return f, fmt.Errorf("%s: %s", sd.name, f.Note)
	case werr != nil:
		return f, fmt.Errorf("%s: %w (%s)", sd.name, werr, f.Note)
	case left != "":
		return f, fmt.Errorf("%s: slot %s still open (%s)", sd.name, left, f.Note)
	}
	return f, nil
}

// kill is what killEnd did: which redis-server it killed ("slot ->
// target (pids)"), what the node held before and after.
type kill struct {
	killed, held string
	err          error
}

// killEnd SIGKILLs the redis-server of sd's end of the first slot it sees
// open and notes the keys it held just before and once it serves again
// (with password, after its fence).
func killEnd(ctx context.Context, b *chaosbench.Bench, cc *redis.ClusterClient, password string, sd side) kill {
	var k kill
	for ctx.Err() == nil {
		m, _ := redistest.OpenMigration(ctx, cc)
		addr := sd.pick(m)
		if addr == "" {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		host, _, _ := net.SplitHostPort(addr)
		nc := redis.NewClient(&redis.Options{Addr: addr, Password: password, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
		defer nc.Close()
		before, _ := nc.DBSize(ctx).Result()
		pids, err := benchkit.SignalRedis(host, syscall.SIGKILL)
		k.killed, k.err = fmt.Sprintf("slot %d %s -> %s, killed %s (redis-server %v)", m.Slot, m.FromAddr, m.ToAddr, addr, pids), err
		b.Log.Info("chaos: fault", "scenario", sd.name, "killed", k.killed, "err", err)
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if after, err := nc.DBSize(ctx).Result(); err == nil {
				k.held = fmt.Sprintf("it held %d keys just before the kill, %d once it served again", before, after)
				break
			}
		}
		return k
	}
	return k
}
