package workflows

import (
	"context"
	"errors"
	"fmt"
	"maps"
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
	"github.com/dayops/dayops/internal/topology"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
)

// lostWorld is healWorld whose shard 0 (ordinals 0 and 2) lost both
// instances, Pods and redis-servers, their volumes kept (unless change
// says otherwise). An ordinal the recover created is back at a new address
// with its node ID; tookOver: ordinal 2 took over as the shard's primary,
// and a recreated ordinal 0 is a new, empty node.
type lostWorld struct {
	created  map[int]bool
	tookOver bool
	change   func(*guardian.Observation, *lostWorld)
}

func (w *lostWorld) observe() guardian.Observation {
	o := healWorld(false)
	o.Volumes = []int{0, 1, 2, 3}
	o.Input.Pods = slices.DeleteFunc(o.Input.Pods, func(p guard.Pod) bool { return p.Shard == 0 && !w.created[p.Ordinal] })
	for i, p := range o.Input.Pods {
		if p.Shard == 0 {
			o.Input.Pods[i].Addr = fmt.Sprintf("10.0.2.%d:6379", p.Ordinal)
		}
	}
	for _, ord := range []int{0, 2} {
		n, ok := o.Input.Nodes[ord]
		switch {
		case !w.created[ord]:
			delete(o.Input.Nodes, ord)
		case w.tookOver && ord == 2 && ok:
			n.Role, n.Slots, n.LinkUp = topology.RolePrimary, 8192, false
			o.Input.Nodes[ord] = n
		case w.tookOver && ord == 0 && ok:
			n.NodeID, n.Role, n.Slots, n.LinkUp = "new0", topology.RoleReplica, 0, true
			o.Input.Nodes[ord] = n
		}
	}
	if w.change != nil {
		w.change(&o, w)
	}
	return o
}

// TestRecoverRestartsAShardLostWhole: a shard that lost both instances at
// once comes back on its volumes, both at once (no promotion can come),
// before anything else; each instance is met with the cluster, the replica
// is in sync, and both are recorded as recovered on their own volumes.
func TestRecoverRestartsAShardLostWhole(t *testing.T) {
	known := assess(healWorld(false), nil).Assessment.Known
	lost := assess((&lostWorld{}).observe(), known).Assessment.Lost
	if len(lost) != 2 {
		t.Fatalf("the world lost %v, want ordinals 0 and 2", lost)
	}
	calls, res, err := recoverShardLost(t, known, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"record OperationRequested", "record OperationStarted", "observe",
		// The input listed no loss (a recover started by hand): both are
		// recorded lost first.
		"record InstanceLost", "record InstanceLost",
		"create [0 2] (primary, replica)", "wait ready [0 2]", "meet 4 expecting [id0 id2]", "observe",
		"meet 4", "record InstanceRecovered own volume", "meet 4", "attach 10.0.2.2:6379 -> 10.0.2.0:6379", "record InstanceRecovered own volume",
		"observe", "close open slots, replaced map[]", "observe", "record OperationCompleted"}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	recoveredTwo(t, res)
	// The Pods still shut down (a graceful deletion) when the recover
	// starts: it waits for them to go rather than kill them mid-shutdown.
	looks := 0
	calls, _, err = recoverShardLost(t, known, func(o *guardian.Observation, w *lostWorld) {
		if looks++; looks > 2 {
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
}

// TestRecoverWaitsForAShardLosingWhole: both Pods of shard 0 deleted
// together, the primary's stop came first and handed the shard to its
// replica, which then stopped as the shard's primary; when the recover
// looks, the replica's Pod is gone and the former primary's still
// terminating (its redis-server answers, a replica of the gone one). The
// recover takes the shard for lost whole (not for one lost replica to wait
// a promotion for), waits for the terminating Pod, records its loss and
// brings both back on their volumes together.
func TestRecoverWaitsForAShardLosingWhole(t *testing.T) {
	known := assess(healWorld(false), nil).Assessment.Known
	looks := 0
	calls, res, err := recoverShardLost(t, known, func(o *guardian.Observation, w *lostWorld) {
		if w.created[0] {
			// Back on their volumes, with their nodes.conf: ordinal 2
			// the shard's primary, ordinal 0 its replica.
			n0, n2 := o.Input.Nodes[0], o.Input.Nodes[2]
			n0.Role, n0.Slots, n0.PrimaryID, n0.LinkUp = topology.RoleReplica, 0, "id2", true
			n2.Role, n2.Slots, n2.LinkUp = topology.RolePrimary, 8192, false
			o.Input.Nodes[0], o.Input.Nodes[2] = n0, n2
			return
		}
		if looks++; looks > 2 {
			return
		}
		o.Input.Pods = append(o.Input.Pods, guard.Pod{Ordinal: 0, Shard: 0, Name: "orders-0", Addr: "10.0.0.2:6379", Node: "n",
			NodeReady: true, Ready: true, NodeID: "id0", Deleting: true})
		o.Input.Nodes[0] = guard.Node{Reachable: true, NodeID: "id0", PrimaryID: "id2", Role: topology.RoleReplica, KnownNodes: 4}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"record OperationRequested", "record OperationStarted", "observe",
		"record InstanceLost", // ordinal 2, gone
		"observe", "observe",
		"record InstanceLost", // ordinal 0, gone once its Pod terminated
		// Ordinal 2 was the shard's last primary (ordinal 0 followed
		// it): its instance manager decides who serves, no takeover.
		"create [0 2] (replica, primary)", "wait ready [0 2]", "meet 4 expecting [id0 id2]", "observe",
		"meet 4", "attach 10.0.2.0:6379 -> 10.0.2.2:6379", "record InstanceRecovered own volume", "meet 4", "record InstanceRecovered own volume",
		"observe", "close open slots, replaced map[]", "observe", "record OperationCompleted"}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	recoveredTwo(t, res)
}

// TestRecoverTakesOverALostShardFromItsReplica: the former primary's data
// is gone with its volume; the replica's copy is all that is left. It comes
// back on its volume and takes the primary's place (Redis would not promote
// it), then the former primary's ordinal is recovered as a new replica.
func TestRecoverTakesOverALostShardFromItsReplica(t *testing.T) {
	known := assess(healWorld(false), nil).Assessment.Known
	calls, res, err := recoverShardLost(t, known, func(o *guardian.Observation, w *lostWorld) {
		o.Volumes = []int{1, 2, 3}
		if w.created[0] {
			o.Volumes = []int{0, 1, 2, 3}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"record OperationRequested", "record OperationStarted", "observe",
		"record InstanceLost", "record InstanceLost",
		// Ordinal 0 is gone with its data: the Pod says so, for the
		// fence of a former primary (see the next test).
		"create [2] (replica) gone [id0]", "wait ready [2]", "meet 3 expecting [id2]", "observe", "take over on 10.0.2.2:6379", "observe",
		"meet 3", "record InstanceRecovered own volume", "observe",
		// Then ordinal 0, as any lost instance without its volume.
		"observe", "close open slots, replaced map[id0:id2]", "observe",
		"drop volume 0", "forget [id0] on 3", "create [0] (replica)", "wait ready [0]",
		"meet 4", "attach 10.0.2.0:6379 -> 10.0.2.2:6379", "record InstanceRecovered", "observe",
		"observe", "record OperationCompleted"}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	recoveredTwo(t, res)
}

// TestRecoverNamesTheReplicasGoneWithTheirData: the shard's primary handed
// it to its replica as both Pods were deleted, and the former primary's
// volume was deleted too. Ordinal 2, the shard's last primary, comes back
// on its volume as a former primary whose only replica (ordinal 0) is gone
// with its data: its Pod names ordinal 0's node ID, so that its fence
// serves at once instead of waiting --unreachable-timeout (60 s) for a
// replica that will never answer (TestFenceGoneReplica has the fence).
func TestRecoverNamesTheReplicasGoneWithTheirData(t *testing.T) {
	known := assess(healWorld(false), nil).Assessment.Known
	looks := 0
	calls, res, err := recoverShardLost(t, known, func(o *guardian.Observation, w *lostWorld) {
		o.Volumes = []int{1, 2, 3}
		if w.created[0] {
			o.Volumes = []int{0, 1, 2, 3}
		}
		if w.created[2] && !w.created[0] {
			n2 := o.Input.Nodes[2]
			n2.Role, n2.Slots, n2.LinkUp = topology.RolePrimary, 8192, false
			o.Input.Nodes[2] = n2
		}
		// At the recover's first looks ordinal 0's Pod still terminates,
		// a replica of 2 (the handover): 2 is the shard's last primary.
		if looks++; looks <= 2 {
			o.Input.Pods = append(o.Input.Pods, guard.Pod{Ordinal: 0, Shard: 0, Name: "orders-0", Addr: "10.0.0.2:6379", Node: "n",
				NodeReady: true, Ready: true, NodeID: "id0", Deleting: true})
			o.Input.Nodes[0] = guard.Node{Reachable: true, NodeID: "id0", PrimaryID: "id2", Role: topology.RoleReplica, KnownNodes: 4}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(calls, func(c string) bool { return strings.HasPrefix(c, "create [2]") }); i < 0 || calls[i] != "create [2] (primary) gone [id0]" {
		t.Errorf("steps %v: want ordinal 2 created as the shard's primary, naming id0 gone", calls)
	}
	if slices.Contains(calls, "take over on 10.0.2.2:6379") {
		t.Errorf("steps %v: the shard's last primary took over (it serves its own data)", calls)
	}
	recoveredTwo(t, res)
}

// TestRecoverCannotBringBackAShardWithoutData: with no instance's data
// left (no volume, persistence none, or only on a node that is not Ready)
// the recover fails at once, naming why and the way back, and creates
// nothing.
func TestRecoverCannotBringBackAShardWithoutData(t *testing.T) {
	known := assess(healWorld(false), nil).Assessment.Known
	for name, change := range map[string]func(*guardian.Observation, *lostWorld){
		"none of its instances kept its data (no volume, or it came back empty): restore it from a backup": func(o *guardian.Observation, _ *lostWorld) {
			o.Volumes = []int{1, 3}
		},
		"its data was in memory only (persistence none): restore it from a backup": func(o *guardian.Observation, _ *lostWorld) {
			o.Spec.Persistence.Mode = spec.PersistenceNone
		},
		"its data is on nodes that are not Ready (Pods orders-0, orders-2): bring one back, or restore the shard from a backup": func(o *guardian.Observation, _ *lostWorld) {
			for _, ord := range []int{0, 2} {
				o.Input.Pods = append(o.Input.Pods, guard.Pod{Ordinal: ord, Shard: 0, Name: fmt.Sprintf("orders-%d", ord), Node: "dead"})
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			calls, _, err := recoverShardLost(t, known, change)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != ErrTypeNoPrimary {
				t.Fatalf("error %v, want %s (steps %v)", err, ErrTypeNoPrimary, calls)
			}
			if want := "shard-0 lost every instance and " + name; app.Message() != want {
				t.Errorf("message %q, want %q", app.Message(), want)
			}
			if slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "create") || strings.HasPrefix(c, "force") }) {
				t.Errorf("created or deleted instances: %v", calls)
			}
		})
	}
}

// recoveredTwo checks that the recover succeeded with two instances
// recovered and no switchover.
func recoveredTwo(t *testing.T, res Result) {
	t.Helper()
	if res.Outcome != OutcomeSucceeded || res.Message != "recovered 2 instance(s), 0 switchover(s) for the zone rule" {
		t.Errorf("outcome %s: %s", res.Outcome, res.Message)
	}
}

// recoverShardLost runs a recover of a lostWorld with change, and returns
// the steps it took, its result and its error.
func recoverShardLost(t *testing.T, known map[int]guard.Member, change func(*guardian.Observation, *lostWorld)) ([]string, Result, error) {
	env := healEnv(t)
	w := &lostWorld{created: map[int]bool{}, change: change}
	var calls []string
	env.OnActivity(guardianActs.ObserveGuard, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guardian.ObserveInput) (guardian.Observation, error) {
			calls = append(calls, "observe")
			return assess(w.observe(), in.Known), nil
		})
	env.OnActivity(redisActs.TakeOverLost, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.TakeOverLostInput) (redisops.HandoverResult, error) {
			calls = append(calls, "take over on "+in.ReplicaAddr)
			w.tookOver = true
			return redisops.HandoverResult{}, nil
		})
	env.OnActivity(guardianActs.DropVolume, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guardian.DropVolumeInput) error {
			calls = append(calls, fmt.Sprintf("drop volume %d", in.Ordinal))
			return nil
		})
	env.OnActivity(redisActs.ForgetNodes, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.ForgetInput) error {
			calls = append(calls, fmt.Sprintf("forget %v on %d", in.NodeIDs, len(in.Addrs)))
			return nil
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
			c := fmt.Sprintf("create %v (%s)", ords, strings.Join(roles, ", "))
			if len(in.GoneReplicas) > 0 {
				c += fmt.Sprintf(" gone %v", in.GoneReplicas)
			}
			calls = append(calls, c)
			return kube.EnsureInstancesResult{}, nil
		})
	env.OnActivity(kubeActs.WaitInstancesReady, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in kube.WaitReadyInput) (kube.WaitReadyResult, error) {
			calls = append(calls, fmt.Sprintf("wait ready %v", in.Ordinals))
			for _, o := range in.Ordinals {
				w.created[o] = true
			}
			var res kube.WaitReadyResult
			for _, o := range in.Ordinals {
				res.Instances = append(res.Instances, kube.InstanceStatus{Ordinal: o, Shard: 0, PodIP: fmt.Sprintf("10.0.2.%d", o), Ready: true})
			}
			return res, nil
		})
	env.OnActivity(redisActs.Meet, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.MeetInput) (redisops.MeetResult, error) {
			c := fmt.Sprintf("meet %d", len(in.Addrs))
			if len(in.NodeIDs) > 0 {
				c += fmt.Sprintf(" expecting %v", slices.Sorted(maps.Values(in.NodeIDs)))
			}
			calls = append(calls, c)
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
