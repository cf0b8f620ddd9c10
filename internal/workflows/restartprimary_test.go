package workflows

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
)

// staleWorld is a 3-shard cluster (primaries 0-2, replicas 3-5) whose
// shard-0 primary Pod is gone with its volume left, and whose replica Redis
// does not elect (too old): it stays a replica with its link down. Once
// restarted, ordinal 0 is shard-0's primary again on 10.0.1.0.
func staleWorld(restarted bool) guardian.Observation {
	c := spec.Cluster{Name: "orders", Namespace: "default", Shards: 3, ReplicasPerShard: 1}
	c.Default()
	in := guard.Input{Shards: 3, ReplicasPerShard: 1, Nodes: map[int]guard.Node{}}
	for o := range 6 {
		shard, role, zone := o%3, topology.RolePrimary, []string{"a", "b"}[o%2]
		if o >= 3 {
			role = topology.RoleReplica
		}
		addr, id := fmt.Sprintf("10.0.0.%d:6379", o+2), fmt.Sprintf("id%d", o)
		n := guard.Node{Reachable: true, NodeID: id, Role: role, KnownNodes: 6, LinkUp: role == topology.RoleReplica}
		switch {
		case o == 0 && !restarted:
			continue
		case o == 0:
			addr = "10.0.1.0:6379"
		case o == 3:
			n.LinkUp = restarted
		}
		if role == topology.RolePrimary {
			n.Slots = 5461
		} else {
			n.PrimaryID = fmt.Sprintf("id%d", shard)
		}
		in.Pods = append(in.Pods, guard.Pod{Ordinal: o, Shard: shard, Name: fmt.Sprintf("orders-%d", o), Addr: addr,
			NodeReady: true, Zone: zone, Role: role, NodeID: id, Ready: true})
		in.Nodes[o] = n
	}
	return guardian.Observation{Spec: &c, Input: in, Volumes: []int{0, 1, 2, 3, 4, 5}, Zones: []string{"a", "b"}}
}

// TestRecoverRestartsALostPrimaryNoReplicaReplaced: shard-0's primary Pod
// is gone, its volume is there, and Redis promotes no replica (the one it
// has is too old to elect; a majority is live and its primary has an
// address, so no takeover either). After a while the recover brings the
// primary back on its volume with its node ID and data, records it
// recovered and does not recover it again as a replica; the replica is
// never taken over.
func TestRecoverRestartsALostPrimaryNoReplicaReplaced(t *testing.T) {
	known := assess(staleWorld(true), nil).Assessment.Known
	lost := assess(staleWorld(false), known).Assessment.Lost
	if len(lost) != 1 || lost[0].Ordinal != 0 {
		t.Fatalf("lost %+v, want ordinal 0", lost)
	}
	env := healEnv(t)
	restarted := false
	var calls []string
	onObserveAndRecord(env, &calls, func() guardian.Observation { return staleWorld(restarted) })
	env.OnActivity(redisActs.TakeOverLost, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.TakeOverLostInput) (redisops.HandoverResult, error) {
			calls = append(calls, "take over "+in.ReplicaAddr)
			return redisops.HandoverResult{}, nil
		})
	onRecreateLost(env, &calls, func(int) { restarted = true })
	res := runRecover(t, env, "op-1", known, lost)
	if res.Outcome != OutcomeSucceeded {
		t.Fatalf("outcome %s: %s (calls %q)", res.Outcome, res.Message, calls)
	}
	var acts []string
	for _, c := range calls {
		if c != "observe" && !strings.HasPrefix(c, "record Step") {
			acts = append(acts, c)
		}
	}
	want := []string{"record OperationRequested", "record OperationStarted", "create ordinal 0 shard 0 primary", "meet 6", "meet 6",
		"record InstanceRecovered", "close open slots, replaced map[id0:id0]", "record OperationCompleted"}
	if !slices.Equal(acts, want) {
		t.Errorf("steps %q, want %q", acts, want)
	}
}

// TestRecoverWaitsScaleWithNodeTimeout: in a cluster whose
// cluster-node-timeout is long, the recover waits for a live primary long
// enough for Redis to flag the lost one failed and elect its replica: with
// two minutes' timeout and no volume to restart the primary on, it gives up
// after 6m30s, not after 2 minutes (before Redis could even flag it). The
// restart on the primary's volume comes 45 s in whatever the timeout.
func TestRecoverWaitsScaleWithNodeTimeout(t *testing.T) {
	for _, tc := range []struct {
		timeout       string
		volume        bool
		restart, fail time.Duration
		// down is the replica's master_link_down_since_seconds, factor
		// its cluster-replica-validity-factor ("": the default, 10).
		down   int64
		factor string
	}{
		{timeout: "", volume: true, restart: 45 * time.Second},
		{timeout: "120000", volume: true, restart: 45 * time.Second},
		{timeout: "", volume: false, fail: 2 * time.Minute},
		{timeout: "15000", volume: false, fail: 2 * time.Minute},
		{timeout: "120000", volume: false, fail: 390 * time.Second},
		// A replica whose link has been down past Redis' bound (5 s +
		// 10 s + 10 x 5 s, and a margin) is never elected: the primary
		// comes back at once; one within it, or a factor of 0, waits.
		{timeout: "", volume: true, restart: 0, down: 68},
		{timeout: "", volume: true, restart: 45 * time.Second, down: 66},
		{timeout: "", volume: true, restart: 45 * time.Second, down: 600, factor: "0"},
		{timeout: "", volume: true, restart: 45 * time.Second, down: -1},
		{timeout: "15000", volume: true, restart: 45 * time.Second, down: 100},
		{timeout: "15000", volume: true, restart: 0, down: 200},
	} {
		t.Run(fmt.Sprintf("timeout %q volume %v down %d factor %q", tc.timeout, tc.volume, tc.down, tc.factor), func(t *testing.T) {
			world := func(restarted bool) guardian.Observation {
				o := staleWorld(restarted)
				o.Spec.Config = map[string]string{}
				if tc.timeout != "" {
					o.Spec.Config["cluster-node-timeout"] = tc.timeout
				}
				if tc.factor != "" {
					o.Spec.Config["cluster-replica-validity-factor"] = tc.factor
				}
				if n := o.Input.Nodes[3]; !restarted {
					n.LinkDownSeconds = tc.down
					o.Input.Nodes[3] = n
				}
				if !tc.volume {
					o.Spec.Persistence.Mode = spec.PersistenceNone
				}
				return o
			}
			known := assess(world(true), nil).Assessment.Known
			lost := assess(world(false), known).Assessment.Lost
			env := healEnv(t)
			restarted := false
			var calls []string
			var start, restartAt time.Time
			onObserveAndRecord(env, &calls, func() guardian.Observation {
				if start.IsZero() {
					start = env.Now()
				}
				return world(restarted)
			})
			onRecreateLost(env, &calls, func(int) {
				restarted = true
				restartAt = env.Now()
			})
			if !tc.volume {
				env.ExecuteWorkflow(Recover, RecoverInput{Meta: Meta{OperationID: "op-1", Type: OpRecover, Namespace: "default", Cluster: "orders",
					Actor: audit.SystemActor}, Known: known, Lost: lost})
				want := fmt.Sprintf("no live primary after %s", tc.fail)
				if err := env.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("recover ended with %v, want %q (calls %q)", err, want, calls)
				}
				if !restartAt.IsZero() {
					t.Errorf("an instance was created without a volume: %q", calls)
				}
				return
			}
			res := runRecover(t, env, "op-1", known, lost)
			if res.Outcome != OutcomeSucceeded {
				t.Fatalf("outcome %s: %s (calls %q)", res.Outcome, res.Message, calls)
			}
			if at := restartAt.Sub(start); at < tc.restart || at > tc.restart+5*time.Second {
				t.Errorf("the lost primary came back %s into the recover, want %s", at, tc.restart)
			}
		})
	}
}
