package lifecycle

import (
	"testing"

	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/hooks"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/topology"
	"github.com/google/go-cmp/cmp"
)

// TestObservedTarget: the hook target scale-shards and scale-replicas build
// from an observation (before and after adding instances) runs a replica
// hook in its replica, a shard hook in the shard's primary, and a cluster
// hook, or one whose instance is not observed, in no pod.
func TestObservedTarget(t *testing.T) {
	inst := func(ordinal, shard int, role topology.Role) planner.Instance {
		return planner.Instance{Instance: topology.Instance{Ordinal: ordinal, Shard: shard, Role: role}}
	}
	obs := clusterstate.ObserveResult{
		State: planner.State{Instances: []planner.Instance{
			inst(0, 0, topology.RoleReplica), inst(1, 0, topology.RolePrimary), inst(2, 1, topology.RolePrimary),
		}},
		Kube: []kube.InstanceStatus{
			{Ordinal: 0, Shard: 0, Pod: "orders-0", PodIP: "10.0.0.10"},
			{Ordinal: 1, Shard: 0, Pod: "orders-1", PodIP: "10.0.0.11"},
		},
	}
	target := observedTarget(obs)
	tests := map[string]struct {
		run  planner.HookRun
		want hooks.StepContext
	}{
		"replica hook": {
			run:  planner.HookRun{Shard: 0, Ordinal: 0},
			want: hooks.StepContext{Shard: 0, Ordinal: 0, Pod: "orders-0", Address: "10.0.0.10:6379"},
		},
		"shard hook runs in the primary": {
			run:  planner.HookRun{Shard: 0, Ordinal: -1},
			want: hooks.StepContext{Shard: 0, Ordinal: -1, Pod: "orders-1", Address: "10.0.0.11:6379"},
		},
		"primary not observed in Kubernetes": {
			run:  planner.HookRun{Shard: 1, Ordinal: -1},
			want: hooks.StepContext{Shard: 1, Ordinal: -1},
		},
		"shard without a primary": {
			run:  planner.HookRun{Shard: 7, Ordinal: -1},
			want: hooks.StepContext{Shard: 7, Ordinal: -1},
		},
		"cluster hook": {
			run:  planner.HookRun{Shard: -1, Ordinal: -1},
			want: hooks.StepContext{Shard: -1, Ordinal: -1},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, target(tc.run)); diff != "" {
				t.Errorf("step context (-want +got):\n%s", diff)
			}
		})
	}
}
