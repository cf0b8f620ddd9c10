package redisops

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/topology"
	"go.temporal.io/sdk/temporal"
)

// TestUpgradeActivitiesOnRealRedis: the gate passes on a healthy cluster; a
// handover swaps roles and is idempotent; a primary that refuses writes (as
// redis:7.0-bad does: maxmemory 1, noeviction) fails the probe after a
// handover and the full gate, naming its shard.
func TestUpgradeActivitiesOnRealRedis(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, env, acts := activitiesOnRealRedis(t)
	addrs := c.Addrs()

	obs := observe(t, env, acts, ObserveInput{Addrs: addrs})
	shards := map[string]int{}
	var primary, replica string
	ids := map[string]string{}
	for _, n := range obs.Nodes {
		ids[n.NodeID] = n.Addr
	}
	for i, n := range obs.Nodes {
		if n.Role == topology.RolePrimary {
			shards[n.Addr] = i
		}
	}
	for _, n := range obs.Nodes {
		if n.Role == topology.RoleReplica {
			shards[n.Addr] = shards[ids[n.PrimaryID]]
			if primary == "" {
				primary, replica = ids[n.PrimaryID], n.Addr
			}
		}
	}
	gate := GateInput{Addrs: addrs, Shards: shards, MaxLagBytes: 1 << 20, MaxErrorRate: 0.01, MaxLatency: time.Second,
		Probe: 300 * time.Millisecond, Settle: 10 * time.Second, Label: "test"}
	var rep GateReport
	get(t, env, acts.HealthGate, gate, &rep)
	if rep.Primaries != 2 || rep.Ops == 0 || rep.Nodes != len(addrs) || !strings.HasPrefix(rep.Summary, "passed") {
		t.Fatalf("healthy gate: %+v", rep)
	}

	var before RunInfo
	get(t, env, acts.NodeRunInfo, RunInfoInput{Addr: replica}, &before)
	if before.RunID == "" || before.Version == "" || before.Role != topology.RoleReplica {
		t.Fatalf("run info %+v", before)
	}
	var ho HandoverResult
	get(t, env, acts.Handover, HandoverInput{ReplicaAddr: replica}, &ho)
	if ho.AlreadyPrimary || ho.NewPrimaryID == "" || ho.OldPrimaryID == "" {
		t.Fatalf("handover %+v", ho)
	}
	get(t, env, acts.Handover, HandoverInput{ReplicaAddr: replica}, &ho)
	if !ho.AlreadyPrimary {
		t.Fatalf("second handover must find it done: %+v", ho)
	}
	// The old primary follows and is in sync (no new process here: no
	// previous run_id to compare).
	var ri RunInfo
	get(t, env, acts.WaitInstanceUpgraded, WaitUpgradedInput{Addr: primary, Role: topology.RoleReplica}, &ri)
	if ri.Role != topology.RoleReplica {
		t.Fatalf("old primary after the handover: %+v", ri)
	}
	var ps ProbeStats
	get(t, env, acts.ProbePrimary, ProbePrimaryInput{Addr: replica, Shard: 7, Probe: 200 * time.Millisecond, MaxErrorRate: 0.01}, &ps)
	if ps.Ops == 0 || ps.Errors != 0 {
		t.Fatalf("probe of a good primary: %+v", ps)
	}

	// The new primary now refuses writes.
	cl := c.Pool.Client(replica)
	if err := cl.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ConfigSet(ctx, "maxmemory", "1").Err(); err != nil {
		t.Fatal(err)
	}
	wantGateFailed := func(err error, sub string) {
		t.Helper()
		var app *temporal.ApplicationError
		if !errors.As(err, &app) || app.Type() != ErrTypeGateFailed || !app.NonRetryable() || !strings.Contains(err.Error(), sub) || !strings.Contains(err.Error(), "OOM") {
			t.Errorf("want a GateFailed error naming %q and OOM, got %v", sub, err)
		}
	}
	_, err := env.ExecuteActivity(acts.ProbePrimary, ProbePrimaryInput{Addr: replica, Shard: 7, Probe: 200 * time.Millisecond, MaxErrorRate: 0.01})
	wantGateFailed(err, "shard-7 new primary "+replica)
	_, err = env.ExecuteActivity(acts.HealthGate, gate)
	wantGateFailed(err, "primary "+replica)
}
