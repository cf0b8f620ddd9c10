package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/spec"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
)

// shardLostWorld is healWorld with both instances of shard 0 (ordinals 0
// and 2) gone, Pods and redis-servers, their volumes kept; back brings
// them back at new addresses with their node IDs (their volumes' nodes.conf).
func shardLostWorld(back bool) guardian.Observation {
	o := healWorld(false)
	o.Volumes = []int{0, 1, 2, 3}
	if back {
		for i := range o.Input.Pods {
			o.Input.Pods[i].Addr = fmt.Sprintf("10.0.2.%d:6379", o.Input.Pods[i].Ordinal)
		}
		return o
	}
	o.Input.Pods = slices.DeleteFunc(o.Input.Pods, func(p guard.Pod) bool { return p.Shard == 0 })
	delete(o.Input.Nodes, 0)
	delete(o.Input.Nodes, 2)
	return o
}

// TestRecoverRestartsAShardLostWhole: a shard that lost both instances at
// once comes back on its volumes, both at once (no promotion can come),
// before anything else; each instance is met with the cluster, the replica
// is in sync, and both are recorded as recovered on their own volumes.
// Without the former primary's volume, or without persistence, the data is
// gone: the recover fails at once, naming why, and creates nothing.
func TestRecoverRestartsAShardLostWhole(t *testing.T) {
	known := assess(healWorld(false), nil).Assessment.Known
	lost := assess(shardLostWorld(false), known).Assessment.Lost
	if len(lost) != 2 {
		t.Fatalf("the world lost %v, want ordinals 0 and 2", lost)
	}
	calls, res, err := recoverShardLost(t, known, func(o *guardian.Observation) {})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"record OperationRequested", "record OperationStarted", "observe",
		// The input listed no loss (a recover started by hand): both are
		// recorded lost first.
		"record InstanceLost", "record InstanceLost",
		"create [0 2] (primary, replica)", "wait ready [0 2]", "observe",
		"meet 4", "record InstanceRecovered own volume", "meet 4", "attach 10.0.2.2:6379 -> 10.0.2.0:6379", "record InstanceRecovered own volume",
		"observe", "close open slots, replaced map[]", "observe", "record OperationCompleted"}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if res.Outcome != OutcomeSucceeded || res.Message != "recovered 2 instance(s), 0 switchover(s) for the zone rule" {
		t.Errorf("outcome %s: %s", res.Outcome, res.Message)
	}
	// The Pods still shut down (a graceful deletion) when the recover
	// starts: it waits for them to go rather than kill them mid-shutdown.
	looks := 0
	calls, _, err = recoverShardLost(t, known, func(o *guardian.Observation) {
		if looks++; looks > 2 || len(o.Input.Pods) == 4 {
			return
		}
		for _, ord := range []int{0, 2} {
			o.Input.Pods = append(o.Input.Pods, guard.Pod{Ordinal: ord, Shard: 0, Name: fmt.Sprintf("orders-%d", ord),
				Node: "n", NodeReady: true, Deleting: true})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want = append([]string{"record OperationRequested", "record OperationStarted", "observe",
		"record InstanceLost", "record InstanceLost", "observe", "observe"}, want[5:]...)
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("steps with the Pods shutting down (-want +got):\n%s", diff)
	}
	for name, change := range map[string]func(*guardian.Observation){
		"its primary's data is gone (no volume, or it came back empty)": func(o *guardian.Observation) { o.Volumes = []int{1, 2, 3} },
		"its data was in memory only (persistence none)":                func(o *guardian.Observation) { o.Spec.Persistence.Mode = spec.PersistenceNone },
	} {
		t.Run(name, func(t *testing.T) {
			calls, _, err := recoverShardLost(t, known, change)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != ErrTypeNoPrimary {
				t.Fatalf("error %v, want %s", err, ErrTypeNoPrimary)
			}
			if want := "shard-0 lost every instance and " + name + ": its data must be restored from a backup"; app.Message() != want {
				t.Errorf("message %q, want %q", app.Message(), want)
			}
			if slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "create") }) {
				t.Errorf("created instances: %v", calls)
			}
		})
	}
}

// recoverShardLost runs a recover of shardLostWorld with change applied to
// every observation, and returns the steps it took, its result and its
// error.
func recoverShardLost(t *testing.T, known map[int]guard.Member, change func(*guardian.Observation)) ([]string, Result, error) {
	env := healEnv(t)
	back := false
	var calls []string
	env.OnActivity(guardianActs.ObserveGuard, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guardian.ObserveInput) (guardian.Observation, error) {
			calls = append(calls, "observe")
			o := shardLostWorld(back)
			change(&o)
			return assess(o, in.Known), nil
		})
	env.OnActivity(auditActs.RecordEvents, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in auditlog.RecordInput) (auditlog.RecordResult, error) {
			for _, e := range in.Events {
				c := "record " + e.Type
				if e.Type == audit.TypeInstanceRecovered {
					if strings.Contains(string(e.Payload), `"new_volume":false`) {
						c += " own volume"
					}
				}
				calls = append(calls, c)
			}
			return auditlog.RecordResult{}, nil
		})
	onCloseOpenSlots(env, &calls, nil)
	env.OnActivity(guardianActs.ForceDeletePods, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guardian.ForceDeleteInput) error {
			calls = append(calls, fmt.Sprintf("force-delete %v", in.Pods))
			return nil
		})
	env.OnActivity(kubeActs.EnsureInstances, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in kube.EnsureInstancesInput) (kube.EnsureInstancesResult, error) {
			var ords []int
			var roles []string
			for _, i := range in.Instances {
				ords, roles = append(ords, i.Ordinal), append(roles, string(i.Role))
			}
			calls = append(calls, fmt.Sprintf("create %v (%s)", ords, strings.Join(roles, ", ")))
			return kube.EnsureInstancesResult{}, nil
		})
	env.OnActivity(kubeActs.WaitInstancesReady, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in kube.WaitReadyInput) (kube.WaitReadyResult, error) {
			calls = append(calls, fmt.Sprintf("wait ready %v", in.Ordinals))
			back = true
			var res kube.WaitReadyResult
			for _, o := range in.Ordinals {
				res.Instances = append(res.Instances, kube.InstanceStatus{Ordinal: o, Shard: 0, PodIP: fmt.Sprintf("10.0.2.%d", o), Ready: true})
			}
			return res, nil
		})
	env.OnActivity(redisActs.Meet, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.MeetInput) (redisops.MeetResult, error) {
			calls = append(calls, fmt.Sprintf("meet %d", len(in.Addrs)))
			return redisops.MeetResult{}, nil
		})
	env.OnActivity(redisActs.AttachReplicas, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.AttachReplicasInput) (redisops.AttachReplicasResult, error) {
			calls = append(calls, fmt.Sprintf("attach %s -> %s", in.Pairs[0].Replica, in.Pairs[0].Primary))
			return redisops.AttachReplicasResult{}, nil
		})
	m := Meta{OperationID: "op-3", Type: OpRecover, Namespace: "default", Cluster: "orders", Actor: audit.SystemActor}
	env.ExecuteWorkflow(Recover, RecoverInput{Meta: m, Known: known})
	var res Result
	if err := env.GetWorkflowError(); err != nil {
		return calls, res, err
	}
	return calls, res, env.GetWorkflowResult(&res)
}
