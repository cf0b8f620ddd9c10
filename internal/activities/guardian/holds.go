package guardian

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/misconf"
	"github.com/dayops/dayops/internal/redis/slotmigrate/leftopen"
	"github.com/dayops/dayops/internal/redis/slotmigrate/sourceguard"
	"github.com/dayops/dayops/internal/topology"
)

// A legacy slot move holds its sources' replicas from failover
// (cluster-replica-no-failover yes, slotmigrate/sourceguard) and releases
// them when its run ends. A move whose workflow ended without that release
// (terminated while its worker was down) leaves the hold behind: every
// later loss of that shard's primary then waits for the instance manager's
// takeover (instance/holdwatch, 20 s after the fail flag) instead of Redis'
// own failover. The guardian clears such a hold (sweepHolds): the hold is
// no longer any move's once no operation runs, and it protects nothing once
// the instance's primary has no slot migrating (the open slot of a move cut
// short keeps it, for the manager's takeover with MIGRATING).

// DefaultHoldSweep is how often the guardian looks for holds left behind
// (one CONFIG GET per instance): a hold is cleared when two looks in a row
// found it, so 1-2 sweeps after it was left.
const DefaultHoldSweep = 15 * time.Second

// refusalRecheck is how soon the sweep after one that found a primary
// refusing writes comes: a shard that takes no write is an outage, and
// the second look that confirms it need not wait a whole HoldSweep.
const refusalRecheck = 2 * time.Second

// HoldRelease is a failover hold the guardian cleared.
type HoldRelease struct {
	Ordinal int           `json:"ordinal"`
	Shard   int           `json:"shard"`
	Role    topology.Role `json:"role,omitempty"`
}

// holdMemory is what the sweeps of one cluster keep between them: when the
// last one ran, the holds, the open slots and the primaries refusing
// writes it found.
type holdMemory struct {
	at      time.Time
	sweep   sourceguard.Sweep
	open    leftopen.Finder
	refused misconf.Finder
}

// swept is what one sweep found: the holds it cleared, the slots and the
// primaries refusing writes that two sweeps in a row found, the commands.
type swept struct {
	released []HoldRelease
	open     []leftopen.Slot
	refused  []misconf.Refusal
	commands int
}

// holdTarget is one instance the sweep asks: where it is, which node it
// is, and the address of its primary (its own for a primary).
type holdTarget struct {
	Ordinal, Shard int
	Addr, NodeID   string
	Role           topology.Role
	PrimaryAddr    string
}

// sweepHolds clears the failover holds left behind in the cluster of obs
// and finds the slots left open (leftopen: every primary's own view, one
// command each), at most once every HoldSweep, and only while the cluster
// is healthy (no operation runs, every instance answers and every shard
// has its primary). It also asks every instance for a PING, which a node
// that cannot write to its disk answers with MISCONF (misconf). It returns
// what it cleared, the slots two sweeps in a row found open (the workflow
// has a recover close them), the primaries two sweeps in a row found
// refusing writes (the workflow hands their shards to a replica) and the
// Redis commands it sent.
func (a *Activities) sweepHolds(ctx context.Context, namespace, cluster string, obs Observation) swept {
	every := a.HoldSweep
	if every == 0 {
		every = DefaultHoldSweep
	}
	if every < 0 || obs.Spec == nil {
		return swept{}
	}
	key := namespace + "/" + cluster
	a.mu.Lock()
	mem := a.holds[key]
	a.mu.Unlock()
	var out swept
	switch {
	case obs.Assessment.State != guard.StateHealthy:
		// Both looks that clear a hold see a healthy cluster with no
		// operation: one seen while an operation ran may be its own.
		mem = holdMemory{}
	case time.Since(mem.at) >= every, (mem.refused.Pending() || diskError(obs)) && time.Since(mem.at) >= refusalRecheck:
		cl, err := a.clients(ctx, namespace, render.PasswordSecretName(*obs.Spec))
		if err != nil {
			return swept{}
		}
		running := func(ctx context.Context) (string, error) { return a.runningOperation(ctx, namespace, cluster) }
		targets := holdTargets(obs)
		var n, m, k int
		out.released, n = sweep(ctx, cl, targets, &mem, running, a.Log)
		out.open, m = mem.open.Look(ctx, cl, primariesOf(targets))
		out.refused, k = mem.refused.Look(ctx, cl, instancesOf(targets))
		out.commands = n + m + k
		a.Metrics.swept(key, len(out.released), len(leftopen.Slots(out.open)), out.commands)
		if len(out.open) > 0 {
			a.Log.WarnContext(ctx, "slots left open with no operation running", "cluster", key, "open", leftopen.Describe(out.open))
		}
		if len(out.refused) > 0 {
			a.Log.WarnContext(ctx, "primaries refuse writes (their disk)", "cluster", key, "refused", misconf.Describe(out.refused))
		}
		mem.at = time.Now()
	}
	a.mu.Lock()
	if a.holds == nil {
		a.holds = map[string]holdMemory{}
	}
	a.holds[key] = mem
	a.mu.Unlock()
	return out
}

// diskError says whether a primary's INFO persistence, read by every
// observation, reports a failed disk write: the sweep that tells its refusal
// (MISCONF) comes at once. Not a replica's: it refuses no client write.
func diskError(obs Observation) bool {
	return slices.ContainsFunc(slices.Collect(maps.Values(obs.Input.Nodes)), func(n guard.Node) bool { return n.DiskError && n.Role == topology.RolePrimary })
}

// primariesOf are the primaries among targets.
func primariesOf(targets []holdTarget) []leftopen.Primary {
	var out []leftopen.Primary
	for _, t := range targets {
		if t.Role == topology.RolePrimary {
			out = append(out, leftopen.Primary{Addr: t.Addr, Ordinal: t.Ordinal, Shard: t.Shard})
		}
	}
	return out
}

// instancesOf are targets for a misconf look.
func instancesOf(targets []holdTarget) []misconf.Instance {
	out := make([]misconf.Instance, len(targets))
	for i, t := range targets {
		out[i] = misconf.Instance{Addr: t.Addr, Ordinal: t.Ordinal, Shard: t.Shard, Primary: t.Role == topology.RolePrimary}
	}
	return out
}

// holdTargets are the reachable cluster members of obs with their
// primaries' addresses.
func holdTargets(obs Observation) []holdTarget {
	byID := map[string]string{}
	for _, p := range obs.Input.Pods {
		if n, ok := obs.Input.Nodes[p.Ordinal]; ok && n.Reachable && n.NodeID != "" && p.Addr != "" {
			byID[n.NodeID] = p.Addr
		}
	}
	var out []holdTarget
	for _, p := range obs.Input.Pods {
		n, ok := obs.Input.Nodes[p.Ordinal]
		if !ok || !n.Reachable || n.KnownNodes <= 1 || p.Addr == "" {
			continue
		}
		t := holdTarget{Ordinal: p.Ordinal, Shard: p.Shard, Addr: p.Addr, NodeID: n.NodeID, Role: n.Role, PrimaryAddr: p.Addr}
		if n.Role != topology.RolePrimary {
			t.PrimaryAddr = byID[n.PrimaryID]
		}
		out = append(out, t)
	}
	return out
}

// sweep runs one look of mem's sweep on targets (sourceguard.Sweep) and
// returns what it cleared and the commands it sent.
func sweep(ctx context.Context, cl *clusteradmin.ClientPool, targets []holdTarget, mem *holdMemory, running func(context.Context) (string, error), log *slog.Logger) ([]HoldRelease, int) {
	inst := make([]sourceguard.Instance, len(targets))
	for i, t := range targets {
		inst[i] = sourceguard.Instance{Addr: t.Addr, NodeID: t.NodeID, PrimaryAddr: t.PrimaryAddr}
	}
	cleared, n := mem.sweep.ReleaseStale(ctx, cl, inst, running, log)
	var out []HoldRelease
	for _, i := range cleared {
		t := targets[i]
		out = append(out, HoldRelease{Ordinal: t.Ordinal, Shard: t.Shard, Role: t.Role})
		log.InfoContext(ctx, "cleared a failover hold no move owns: Redis fails the shard over by itself again",
			"instance", t.Ordinal, "shard", t.Shard, "role", t.Role, "addr", t.Addr)
	}
	return out, n
}
