package guardianwf

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/redis/misconf"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows/selfheal"
	"go.temporal.io/sdk/workflow"
)

// A primary that cannot write to its disk (a full volume under its AOF)
// refuses every write to its shard with MISCONF and stays the primary:
// Redis fails nothing over, its Pod stays Ready, and the shard is down for
// writes until the volume has room. The guardian's sweep finds it (two
// sweeps in a row, healthy cluster, no operation; misconf) and the guardian
// starts a switchover to a replica of the shard whose disk takes writes:
// the graceful CLUSTER FAILOVER loses no acknowledged write (replication
// does not go through the disk). The former primary then fails as a replica
// (Redis 7.0 stops a replica that cannot write what it replicates) until
// its volume has room: the shard has lost its redundancy, not its writes.
// Histories before the sweep carry no WritesRefused: nothing of this runs
// on their replay. Runs before changeRefusedAfterStart recorded the event
// before the switchover's start, and again on each start another operation
// refused (an event naming an operation that never ran).

// changeRefusedAfterStart: WritesRefused is recorded once its switchover
// started.
const changeRefusedAfterStart = "guardian-writes-refused-after-start"

// handOverRefused records the first refusal as WritesRefused and starts a
// switchover of its shard to a replica whose disk takes writes; with no
// such replica it records the refusal with action "none". Either way the
// guardian backs off before it acts on the same refusals again.
func (g *guardianRun) handOverRefused(as guard.Assessment, rs []misconf.Refusal) error {
	in := &g.in
	r := rs[0]
	ev := &audit.WritesRefused{Cluster: operation.ClusterKey(in.Namespace, in.Cluster), Shard: r.Shard, Ordinal: r.Ordinal,
		Reason: r.Reason, Action: "none"}
	to, ok := refusalTarget(as, r)
	if !ok {
		in.backOff(refusedKey(rs), workflow.Now(g.ctx))
		return g.recordNow(ev)
	}
	var opID string
	_ = workflow.SideEffect(g.ctx, func(workflow.Context) any { return newOperationID() }).Get(&opID)
	ev.Action, ev.OperationID = "switchover", opID
	if !g.refusedAfterStart {
		if err := g.recordNow(ev); err != nil {
			return err
		}
	}
	m := operation.Meta{OperationID: opID, Type: OpSwitchover, Namespace: in.Namespace, Cluster: in.Cluster,
		Actor: audit.SystemActor, Reason: r.String() + "; handing the shard to a replica whose disk takes writes", RequestedAt: workflow.Now(g.ctx)}
	// The zone rule gives way: a shard that takes no write is worse than a
	// primary sharing a zone.
	sin := selfheal.SwitchoverInput{Meta: m, Shard: r.Shard, To: to, AllowSharedZones: true}
	var res guardian.StartRecoverResult
	ctx := g.opts("start a switchover operation", time.Minute)
	if err := workflow.ExecuteActivity(ctx, guardianActs.StartRecover, guardian.StartRecoverInput{
		Meta: m, Workflow: "Switchover", Input: sin, Summary: "**switchover** started by the guardian: " + m.Reason,
	}).Get(ctx, &res); err != nil {
		return err
	}
	if !res.Started {
		// Another operation holds the cluster: the next sweep tries again,
		// and the audit log names only a switchover that runs.
		workflow.GetLogger(g.ctx).Warn("a primary refuses writes; its switchover waits for the operation that holds the cluster",
			"shard", r.Shard, "ordinal", r.Ordinal, "busy", res.Busy)
		return nil
	}
	in.backOff(refusedKey(rs), workflow.Now(g.ctx))
	if g.refusedAfterStart {
		return g.recordNow(ev)
	}
	return nil
}

// refusalTarget is the replica to promote: -1 (the switchover's plan picks
// the in-sync one) when every replica of the shard took a PING, else the
// lowest that did; false when none did.
func refusalTarget(as guard.Assessment, r misconf.Refusal) (int, bool) {
	if len(r.Replicas) == 0 {
		return 0, false
	}
	replicas := 0
	for _, o := range slices.Sorted(maps.Keys(as.Known)) {
		if m := as.Known[o]; m.Shard == r.Shard && m.Role == topology.RoleReplica {
			replicas++
		}
	}
	if replicas == len(r.Replicas) {
		return -1, true
	}
	return r.Replicas[0], true
}

// refusedKey names the refusals the guardian acted on (its back-off).
func refusedKey(rs []misconf.Refusal) string {
	ords := make([]int, len(rs))
	for i, r := range rs {
		ords[i] = r.Ordinal
	}
	return fmt.Sprintf("writes refused %v", ords)
}

// recordNow records events the way the watch's own are (queued for the
// recorder, or appended at once in runs before it).
func (g *guardianRun) recordNow(events ...audit.Payload) error {
	if g.apart {
		g.queue(events)
		return nil
	}
	return g.record(events...)
}
