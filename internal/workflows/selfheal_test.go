package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/notify"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/redis/slotmigrate/leftopen"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// healWorld is a 2 x 1 cluster as the guardian observes it; lose drops
// ordinal 0 (shard-0's primary) and promotes its replica, ordinal 2.
func healWorld(lose bool) guardian.Observation {
	c := spec.Cluster{Name: "orders", Namespace: "default", Shards: 2, ReplicasPerShard: 1}
	c.Default()
	in := guard.Input{Shards: 2, ReplicasPerShard: 1, Nodes: map[int]guard.Node{}}
	for o, d := range []struct {
		shard int
		role  topology.Role
		zone  string
	}{{0, topology.RolePrimary, "a"}, {1, topology.RolePrimary, "b"}, {0, topology.RoleReplica, "b"}, {1, topology.RoleReplica, "a"}} {
		role := d.role
		if lose && o == 0 {
			continue
		}
		if lose && o == 2 {
			role = topology.RolePrimary
		}
		in.Pods = append(in.Pods, guard.Pod{Ordinal: o, Shard: d.shard, Name: fmt.Sprintf("orders-%d", o), Addr: fmt.Sprintf("10.0.0.%d:6379", o+2),
			NodeReady: true, Zone: d.zone, Role: role, NodeID: fmt.Sprintf("id%d", o), Ready: true})
		n := guard.Node{Reachable: true, NodeID: fmt.Sprintf("id%d", o), Role: role, KnownNodes: 4, LinkUp: role == topology.RoleReplica}
		if role == topology.RolePrimary {
			n.Slots = 8192
		}
		in.Nodes[o] = n
	}
	return guardian.Observation{Spec: &c, Input: in, Volumes: []int{1, 2, 3}, Zones: []string{"a", "b"}}
}

func assess(o guardian.Observation, known map[int]guard.Member) guardian.Observation {
	o.Input.Known = known
	o.Assessment = guard.Assess(o.Input)
	return o
}

func healEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetContextPropagators([]workflow.ContextPropagator{operation.MetaPropagator{}})
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	Register(env, Activities{Kube: &kube.Activities{}, Redis: &redisops.Activities{}, Audit: &auditlog.Activities{},
		State: &clusterstate.Activities{}, Guardian: &guardian.Activities{}, Notify: &notify.Activities{}})
	return env
}

func TestGuardianSeesFailoverAndStartsRecover(t *testing.T) {
	env := healEnv(t)
	healthy := assess(healWorld(false), nil)
	known := healthy.Assessment.Known
	watches := 0
	env.OnActivity(guardianActs.Watch, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guardian.WatchInput) (guardian.WatchResult, error) {
			watches++
			switch watches {
			case 1:
				// The watch cleared a failover hold a terminated move left.
				return guardian.WatchResult{Observation: healthy, Observations: 1, Commands: 8,
					HoldsReleased: []guardian.HoldRelease{{Ordinal: 1, Shard: 0, Role: topology.RoleReplica}}}, nil
			case 2:
				o := assess(healWorld(true), in.Known)
				return guardian.WatchResult{Observation: o, Observations: 3, Commands: 24, Failovers: o.Assessment.Failovers,
					Relabelled: []string{"orders-2"}}, nil
			default:
				return guardian.WatchResult{Observation: guardian.Observation{Gone: true}}, nil
			}
		})
	var recorded []string
	env.OnActivity(auditActs.RecordEvents, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in auditlog.RecordInput) (auditlog.RecordResult, error) {
			m, _ := operation.MetaFromContext(ctx)
			for _, e := range in.Events {
				recorded = append(recorded, e.Type+" by "+m.Actor)
			}
			return auditlog.RecordResult{}, nil
		})
	env.OnActivity(guardianActs.EnsureReadServices, mock.Anything, mock.Anything).Return(nil)
	var started []StartedRecover
	env.OnActivity(guardianActs.StartRecover, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guardian.StartRecoverInput) (guardian.StartRecoverResult, error) {
			started = append(started, StartedRecover{Type: in.Meta.Type, Actor: in.Meta.Actor})
			return guardian.StartRecoverResult{Started: true}, nil
		})
	env.ExecuteWorkflow(Guardian, GuardianInput{Namespace: "default", Cluster: "orders", Known: known})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"FailoverHoldReleased by system:guardian",
		"FailoverObserved by system:guardian", "RoleChanged by system:guardian", "InstanceLost by system:guardian",
		"ClusterDegraded by system:guardian",
	}
	if diff := cmp.Diff(want, recorded); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]StartedRecover{{Type: OpRecover, Actor: audit.SystemActor}}, started); diff != "" {
		t.Errorf("recoveries (-want +got):\n%s", diff)
	}
}

// TestGuardianStartsRecoverForSlotsLeftOpen: a watch that found slots
// left open on a healthy cluster with no operation running has a recover
// started, whose reason names them.
func TestGuardianStartsRecoverForSlotsLeftOpen(t *testing.T) {
	env := healEnv(t)
	healthy := assess(healWorld(false), nil)
	open := []leftopen.Slot{{Slot: 42, Ordinal: 0, Shard: 0, Migrating: true, Peer: "id1"}, {Slot: 42, Ordinal: 1, Shard: 1, Peer: "id0"}}
	watchesOf(env, func(guardian.WatchInput) guardian.WatchResult {
		return guardian.WatchResult{Observation: healthy, Observations: 1, OpenSlots: open}
	}, func(guardian.WatchInput) guardian.WatchResult {
		return guardian.WatchResult{Observation: guardian.Observation{Gone: true}}
	})
	env.OnActivity(auditActs.RecordEvents, mock.Anything, mock.Anything).Return(auditlog.RecordResult{}, nil)
	env.OnActivity(guardianActs.EnsureReadServices, mock.Anything, mock.Anything).Return(nil)
	var reasons []string
	env.OnActivity(guardianActs.StartRecover, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guardian.StartRecoverInput) (guardian.StartRecoverResult, error) {
			reasons = append(reasons, in.Meta.Reason)
			return guardian.StartRecoverResult{Started: true}, nil
		})
	env.ExecuteWorkflow(Guardian, GuardianInput{Namespace: "default", Cluster: "orders", Known: healthy.Assessment.Known})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := []string{"a slot move cut short left slots open: slot 42 migrating on shard-0 (ordinal 0) to node id1; " +
		"slot 42 importing on shard-1 (ordinal 1) from node id0"}
	if diff := cmp.Diff(want, reasons); diff != "" {
		t.Errorf("recover reasons (-want +got):\n%s", diff)
	}
}

// TestRecoverClosesSlotsLeftOpen: a recover on a cluster where nothing is
// lost closes the slots left open and records which way.
func TestRecoverClosesSlotsLeftOpen(t *testing.T) {
	env := healEnv(t)
	var calls []string
	onObserveAndRecord(env, &calls, func() guardian.Observation { return healWorld(false) })
	onCloseOpenSlots(env, &calls, &redisops.CloseOpenSlotsResult{Forward: topology.Ranges{{Start: 42, End: 42}}})
	res := runRecover(t, env, "op-2", nil, nil)
	want := []string{"record OperationRequested", "record OperationStarted", "observe", "close open slots, replaced map[]",
		"record OpenSlotsClosed", `{"operation_id":"op-2","cluster":"default/orders","forward":"42"}`, "record OperationCompleted"}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if res.Outcome != OutcomeSucceeded || res.Message != "closed slots left open (forward: 42; rolled back: none)" {
		t.Errorf("outcome %s: %s", res.Outcome, res.Message)
	}
}

// runRecover runs a recover the guardian started (operation op) with the
// memory known and the losses lost, and returns its result.
func runRecover(t *testing.T, env *testsuite.TestWorkflowEnvironment, op string, known map[int]guard.Member, lost []guard.Lost) Result {
	t.Helper()
	m := Meta{OperationID: op, Type: OpRecover, Namespace: "default", Cluster: "orders", Actor: audit.SystemActor}
	env.ExecuteWorkflow(Recover, RecoverInput{Meta: m, Known: known, Lost: lost})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

// onObserveAndRecord mocks a recover's observations (world, assessed with
// the memory it passes) and its audit records, each logged to calls (an
// OpenSlotsClosed event with its payload).
func onObserveAndRecord(env *testsuite.TestWorkflowEnvironment, calls *[]string, world func() guardian.Observation) {
	env.OnActivity(guardianActs.ObserveGuard, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guardian.ObserveInput) (guardian.Observation, error) {
			*calls = append(*calls, "observe")
			return assess(world(), in.Known), nil
		})
	env.OnActivity(auditActs.RecordEvents, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in auditlog.RecordInput) (auditlog.RecordResult, error) {
			for _, e := range in.Events {
				*calls = append(*calls, "record "+e.Type)
				if e.Type == audit.TypeOpenSlotsClosed {
					*calls = append(*calls, string(e.Payload))
				}
			}
			return auditlog.RecordResult{}, nil
		})
}

// onCloseOpenSlots mocks CloseOpenSlots: it logs the call to calls and
// closes what res says (nil: nothing was open).
func onCloseOpenSlots(env *testsuite.TestWorkflowEnvironment, calls *[]string, res *redisops.CloseOpenSlotsResult) {
	env.OnActivity(redisActs.CloseOpenSlots, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.CloseOpenSlotsInput) (redisops.CloseOpenSlotsResult, error) {
			*calls = append(*calls, fmt.Sprintf("close open slots, replaced %v", in.Replaced))
			if res == nil {
				return redisops.CloseOpenSlotsResult{}, nil
			}
			return *res, nil
		})
}

type StartedRecover struct {
	Type  operation.Type
	Actor string
}

// TestRecoverReplacesALostPrimary: the recover the guardian starts for the
// loss it saw records no second InstanceLost; one whose input did not list
// the loss (it happened while another operation held the cluster, when the
// guardian records none) records it before the repair.
func TestRecoverReplacesALostPrimary(t *testing.T) {
	known := assess(healWorld(false), nil).Assessment.Known
	listed := assess(healWorld(true), known).Assessment.Lost
	if len(listed) != 1 {
		t.Fatalf("the world lost %v, want ordinal 0", listed)
	}
	t.Run("listed", func(t *testing.T) { recoverLostPrimary(t, known, listed, nil) })
	t.Run("unlisted", func(t *testing.T) { recoverLostPrimary(t, known, nil, []string{"record InstanceLost"}) })
}

// TestRecoverLetsAPodShuttingDownGo: the lost primary's Pod is still being
// deleted on its Ready node when the recover looks (a graceful deletion:
// it stepped aside, its redis-server has stopped, the Pod not yet gone).
// The recover lets it go rather than force-delete it mid-shutdown, and
// brings the ordinal back on its own volume, with its node ID: no volume
// dropped, no node forgotten.
func TestRecoverLetsAPodShuttingDownGo(t *testing.T) {
	known := assess(healWorld(false), nil).Assessment.Known
	env := healEnv(t)
	recovered, looks := false, 0
	var calls []string
	onObserveAndRecord(env, &calls, func() guardian.Observation {
		o := healWorld(true)
		o.Volumes = []int{0, 1, 2, 3}
		if looks++; looks <= 2 {
			o.Input.Pods = append(o.Input.Pods, guard.Pod{Ordinal: 0, Shard: 0, Name: "orders-0", Node: "n-a", NodeReady: true, Zone: "a",
				Role: topology.RolePrimary, NodeID: "id0", Deleting: true})
		}
		if recovered {
			o.Input.Pods = append(o.Input.Pods, guard.Pod{Ordinal: 0, Shard: 0, Name: "orders-0", Addr: "10.0.1.0:6379", NodeReady: true, Zone: "a", Role: topology.RoleReplica, Ready: true})
			o.Input.Nodes[0] = guard.Node{Reachable: true, NodeID: "id0", Role: topology.RoleReplica, KnownNodes: 4, LinkUp: true}
		}
		return o
	})
	onRecreateLost(env, &calls, func(int) { recovered = true })
	env.OnActivity(guardianActs.ForceDeletePods, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guardian.ForceDeleteInput) error {
			calls = append(calls, fmt.Sprintf("force-delete %v", in.Pods))
			return nil
		})
	res := runRecover(t, env, "op-1", known, nil)
	want := []string{"record OperationRequested", "record OperationStarted", "observe", "record InstanceLost", "observe",
		"close open slots, replaced map[id0:id2]", "observe",
		// Its Pod shuts down: wait, look again.
		"observe",
		"create ordinal 0 shard 0 replica", "meet 4", "attach 10.0.1.0:6379 -> 10.0.0.4:6379", "record InstanceRecovered", "observe",
		"observe", "record OperationCompleted"}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if res.Outcome != OutcomeSucceeded {
		t.Errorf("outcome %s: %s", res.Outcome, res.Message)
	}
}

// recoverLostPrimary runs a recover of healWorld's lost primary with lost
// as its input's losses; recorded are the events it records before the
// repair.
func recoverLostPrimary(t *testing.T, known map[int]guard.Member, lost []guard.Lost, recorded []string) {
	env := healEnv(t)
	recovered := false
	var calls []string
	onObserveAndRecord(env, &calls, func() guardian.Observation {
		o := healWorld(true)
		if recovered {
			o.Input.Pods = append(o.Input.Pods, guard.Pod{Ordinal: 0, Shard: 0, Name: "orders-0", Addr: "10.0.1.0:6379", NodeReady: true, Zone: "a", Role: topology.RoleReplica, Ready: true})
			o.Input.Nodes[0] = guard.Node{Reachable: true, NodeID: "new0", Role: topology.RoleReplica, KnownNodes: 4, LinkUp: true}
		}
		return o
	})
	onRecreateLost(env, &calls, func(int) { recovered = true })
	res := runRecover(t, env, "op-1", known, lost)
	want := []string{"record OperationRequested", "record OperationStarted", "observe"}
	want = append(want, recorded...)
	want = append(want, "observe",
		// Slots left open are closed before the repair, with the lost
		// primary's ID mapped to its promoted replica's.
		"close open slots, replaced map[id0:id2]", "observe",
		// ordinal 0 lost its volume with its Pod: a new volume and a new
		// node ID, so the dead ID is forgotten on the three live nodes.
		"drop volume 0", "forget [id0] on 3", "create ordinal 0 shard 0 replica",
		"meet 4", "attach 10.0.1.0:6379 -> 10.0.0.4:6379", "record InstanceRecovered", "observe",
		"observe", "record OperationCompleted",
	)
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if res.Outcome != OutcomeSucceeded {
		t.Errorf("outcome %s: %s", res.Outcome, res.Message)
	}
}

// onRecreateLost mocks the steps that bring healWorld's lost ordinals back
// as new replicas (recovered once Ready: ordinal o on 10.0.1.o, in shard
// o%2 and zone a or b as before), each logged to calls.
func onRecreateLost(env *testsuite.TestWorkflowEnvironment, callsp *[]string, recovered func(ordinal int)) {
	onCloseOpenSlots(env, callsp, nil)
	env.OnActivity(redisActs.ForgetNodes, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.ForgetInput) error {
			*callsp = append(*callsp, fmt.Sprintf("forget %v on %d", in.NodeIDs, len(in.Addrs)))
			return nil
		})
	env.OnActivity(guardianActs.DropVolume, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guardian.DropVolumeInput) error {
			*callsp = append(*callsp, fmt.Sprintf("drop volume %d", in.Ordinal))
			return nil
		})
	env.OnActivity(kubeActs.EnsureInstances, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in kube.EnsureInstancesInput) (kube.EnsureInstancesResult, error) {
			*callsp = append(*callsp, fmt.Sprintf("create ordinal %d shard %d %s", in.Instances[0].Ordinal, in.Instances[0].Shard, in.Instances[0].Role))
			return kube.EnsureInstancesResult{}, nil
		})
	env.OnActivity(kubeActs.WaitInstancesReady, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in kube.WaitReadyInput) (kube.WaitReadyResult, error) {
			var res kube.WaitReadyResult
			for _, o := range in.Ordinals {
				recovered(o)
				res.Instances = append(res.Instances, kube.InstanceStatus{Ordinal: o, Shard: o % 2, PodIP: fmt.Sprintf("10.0.1.%d", o), Ready: true, Zone: []string{"a", "b"}[o%2]})
			}
			return res, nil
		})
	env.OnActivity(redisActs.Meet, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.MeetInput) (redisops.MeetResult, error) {
			*callsp = append(*callsp, fmt.Sprintf("meet %d", len(in.Addrs)))
			return redisops.MeetResult{}, nil
		})
	env.OnActivity(redisActs.AttachReplicas, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.AttachReplicasInput) (redisops.AttachReplicasResult, error) {
			*callsp = append(*callsp, fmt.Sprintf("attach %s -> %s", in.Pairs[0].Replica, in.Pairs[0].Primary))
			return redisops.AttachReplicasResult{}, nil
		})
}

// TestRecoverTakesOverAnUnaddressedPrimary: shard-0's primary is lost and
// Redis promotes no replica (the cluster names the lost primary without an
// address: another node answered at its IP). After a while the recover
// asks the replica furthest ahead to take over if its own view says so
// (TakeOverLost, OnlyUnelectable), once, and the repair goes on.
func TestRecoverTakesOverAnUnaddressedPrimary(t *testing.T) {
	known := assess(healWorld(false), nil).Assessment.Known
	env := healEnv(t)
	recovered, tookOver := false, false
	var calls []string
	onObserveAndRecord(env, &calls, func() guardian.Observation {
		o := healWorld(true)
		if !tookOver {
			o.Input.Pods[1].Role = topology.RoleReplica // ordinal 2
			o.Input.Nodes[2] = guard.Node{Reachable: true, NodeID: "id2", PrimaryID: "id0", Role: topology.RoleReplica, KnownNodes: 4, Offset: 100}
			n := o.Input.Nodes[1]
			n.Unaddressed = []string{"id0"}
			o.Input.Nodes[1] = n
		}
		if recovered {
			o.Input.Pods = append(o.Input.Pods, guard.Pod{Ordinal: 0, Shard: 0, Name: "orders-0", Addr: "10.0.1.0:6379", NodeReady: true, Zone: "a", Role: topology.RoleReplica, Ready: true})
			o.Input.Nodes[0] = guard.Node{Reachable: true, NodeID: "new0", Role: topology.RoleReplica, KnownNodes: 4, LinkUp: true}
		}
		return o
	})
	env.OnActivity(redisActs.TakeOverLost, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.TakeOverLostInput) (redisops.HandoverResult, error) {
			calls = append(calls, fmt.Sprintf("take over %s only unelectable %v", in.ReplicaAddr, in.OnlyUnelectable))
			tookOver = true
			return redisops.HandoverResult{Attempts: 1}, nil
		})
	onRecreateLost(env, &calls, func(int) { recovered = true })
	res := runRecover(t, env, "op-1", known, assess(healWorld(true), known).Assessment.Lost)
	if res.Outcome != OutcomeSucceeded {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Message)
	}
	var took []string
	for _, c := range calls {
		if strings.HasPrefix(c, "take over") {
			took = append(took, c)
		}
	}
	if want := []string{"take over 10.0.0.4:6379 only unelectable true"}; !slices.Equal(took, want) {
		t.Errorf("takeovers %q, want %q (calls %q)", took, want, calls)
	}
	if !slices.Contains(calls, "create ordinal 0 shard 0 replica") {
		t.Errorf("the lost ordinal was not recreated: %q", calls)
	}
}

// majorityWorld is healWorld with both primaries lost, one of two primaries
// left live being no majority: Redis promotes neither replica. A replica
// taken over (ordinals 2, 3) is its shard's primary; a lost ordinal
// recreated (0, 1) is its replica on a new volume.
func majorityWorld(tookOver, recreated map[int]bool) guardian.Observation {
	o := healWorld(false)
	o.Volumes = []int{2, 3}
	var pods []guard.Pod
	for _, p := range o.Input.Pods {
		n := o.Input.Nodes[p.Ordinal]
		switch {
		case p.Ordinal < 2 && !recreated[p.Ordinal]:
			delete(o.Input.Nodes, p.Ordinal)
			continue
		case p.Ordinal < 2:
			p.Role, p.Addr = topology.RoleReplica, fmt.Sprintf("10.0.1.%d:6379", p.Ordinal)
			n = guard.Node{Reachable: true, NodeID: fmt.Sprintf("new%d", p.Ordinal), PrimaryID: fmt.Sprintf("id%d", p.Ordinal+2),
				Role: topology.RoleReplica, KnownNodes: 4, LinkUp: true}
		case tookOver[p.Ordinal]:
			p.Role, n.Role, n.Slots, n.LinkUp = topology.RolePrimary, topology.RolePrimary, 8192, false
		default:
			n.PrimaryID, n.LinkUp = fmt.Sprintf("id%d", p.Ordinal-2), false
		}
		o.Input.Nodes[p.Ordinal] = n
		pods = append(pods, p)
	}
	o.Input.Pods = pods
	return o
}

// TestRecoverTakesOverEveryShardWithoutAMajority: both primaries of a
// 2-shard cluster are lost at once and Redis promotes neither replica
// (failure reports and votes need a majority of the primaries). After a
// while the recover has every shard without a primary taken over by its
// replica (one takeover alone may not give Redis its majority back), then
// brings both lost ordinals back as replicas.
func TestRecoverTakesOverEveryShardWithoutAMajority(t *testing.T) {
	known := assess(healWorld(false), nil).Assessment.Known
	lost := assess(majorityWorld(nil, nil), known).Assessment.Lost
	if len(lost) != 2 {
		t.Fatalf("lost %+v, want ordinals 0 and 1", lost)
	}
	env := healEnv(t)
	tookOver, recreated := map[int]bool{}, map[int]bool{}
	var calls []string
	onObserveAndRecord(env, &calls, func() guardian.Observation { return majorityWorld(tookOver, recreated) })
	env.OnActivity(redisActs.TakeOverLost, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.TakeOverLostInput) (redisops.HandoverResult, error) {
			calls = append(calls, fmt.Sprintf("take over %s only unelectable %v waiting %s", in.ReplicaAddr, in.OnlyUnelectable, in.WaitUnelectable))
			var o int
			if _, err := fmt.Sscanf(in.ReplicaAddr, "10.0.0.%d:6379", &o); err != nil {
				return redisops.HandoverResult{}, err
			}
			tookOver[o-2] = true
			return redisops.HandoverResult{Attempts: 1, Why: "no-majority"}, nil
		})
	onRecreateLost(env, &calls, func(o int) { recreated[o] = true })
	res := runRecover(t, env, "op-1", known, lost)
	if res.Outcome != OutcomeSucceeded {
		t.Fatalf("outcome %s: %s (calls %q)", res.Outcome, res.Message, calls)
	}
	var took []string
	for _, c := range calls {
		if strings.HasPrefix(c, "take over") {
			took = append(took, c)
		}
	}
	// Each waits up to cluster-node-timeout (5 s) + 5 s for its replica's
	// own view to show the reason.
	if want := []string{"take over 10.0.0.4:6379 only unelectable true waiting 10s", "take over 10.0.0.5:6379 only unelectable true waiting 10s"}; !slices.Equal(took, want) {
		t.Errorf("takeovers %q, want %q (calls %q)", took, want, calls)
	}
	for _, c := range []string{"create ordinal 0 shard 0 replica", "create ordinal 1 shard 1 replica"} {
		if !slices.Contains(calls, c) {
			t.Errorf("no %q: %q", c, calls)
		}
	}
	// Both at once, before the first repair (not shard by shard).
	if slices.Index(calls, took[len(took)-1]) > slices.Index(calls, "create ordinal 0 shard 0 replica") {
		t.Errorf("shard-1 was taken over after shard-0's repair: %q", calls)
	}
}

// strayWorld is healWorld after the failover of shard-0, with ordinal 0
// back with its node ID as a primary that owns no slot (rejoined: as the
// replica of ordinal 2).
func strayWorld(rejoined bool) guardian.Observation {
	o := healWorld(true)
	n := guard.Node{Reachable: true, NodeID: "id0", Role: topology.RolePrimary, KnownNodes: 4}
	if rejoined {
		n = guard.Node{Reachable: true, NodeID: "id0", PrimaryID: "id2", Role: topology.RoleReplica, KnownNodes: 4, LinkUp: true}
	}
	o.Input.Pods = append(o.Input.Pods, guard.Pod{Ordinal: 0, Shard: 0, Name: "orders-0", Addr: "10.0.0.2:6379", NodeReady: true, Zone: "a",
		Role: topology.RolePrimary, NodeID: "id0", Ready: true})
	o.Input.Nodes[0] = n
	o.Volumes = []int{0, 1, 2, 3}
	return o
}

// TestRecoverRejoinsAStrayPrimary: a former primary back with its node ID
// as a primary that owns no slot is made its shard primary's replica in
// place, its old keys discarded (StepDown): no Pod, volume or node ID is
// touched.
func TestRecoverRejoinsAStrayPrimary(t *testing.T) {
	known := assess(healWorld(false), nil).Assessment.Known
	lost := assess(strayWorld(false), known).Assessment.Lost
	if len(lost) != 1 || !lost[0].Rejoin || lost[0].NodeID != "id0" {
		t.Fatalf("lost %+v, want ordinal 0 to rejoin", lost)
	}
	env := healEnv(t)
	rejoined := false
	var calls []string
	onObserveAndRecord(env, &calls, func() guardian.Observation { return strayWorld(rejoined) })
	onCloseOpenSlots(env, &calls, nil)
	env.OnActivity(redisActs.AttachReplicas, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.AttachReplicasInput) (redisops.AttachReplicasResult, error) {
			calls = append(calls, fmt.Sprintf("attach %s -> %s, step down %v", in.Pairs[0].Replica, in.Pairs[0].Primary, in.StepDown))
			rejoined = true
			return redisops.AttachReplicasResult{Discarded: 7}, nil
		})
	res := runRecover(t, env, "op-1", known, lost)
	want := []string{"record OperationRequested", "record OperationStarted", "observe", "observe",
		// A slot Redis set importing on it at load is no move: the close
		// knows its node ID was replaced by the promoted replica's.
		"close open slots, replaced map[id0:id2]", "observe",
		"attach 10.0.0.2:6379 -> 10.0.0.4:6379, step down true", "record InstanceRecovered", "observe",
		"observe", "record OperationCompleted"}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if res.Outcome != OutcomeSucceeded {
		t.Errorf("outcome %s: %s", res.Outcome, res.Message)
	}
}

// TestGuardianRecordsEachFenceOnce: a fence record seen in two watches (the
// instance still restarted recently) is one Fenced event; a new record of
// the same ordinal is another.
func TestGuardianRecordsEachFenceOnce(t *testing.T) {
	env := healEnv(t)
	healthy := assess(healWorld(false), nil)
	fence := func(id string) []guardian.FenceReport {
		return []guardian.FenceReport{{Ordinal: 0, Shard: 0, ID: id, Action: "takeover", Reason: "replica ahead", Role: "replica",
			ServeAfter: 290 * time.Millisecond, SelfOffset: 0, ReplicaOffset: 1414421}}
	}
	watches := 0
	var seen []map[int]string
	env.OnActivity(guardianActs.Watch, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guardian.WatchInput) (guardian.WatchResult, error) {
			watches++
			seen = append(seen, in.Fences)
			o := healthy
			switch watches {
			case 1, 2:
				o.Fences = fence("f1")
			case 3:
				o.Fences = fence("f2")
			default:
				return guardian.WatchResult{Observation: guardian.Observation{Gone: true}}, nil
			}
			return guardian.WatchResult{Observation: o, Observations: 1}, nil
		})
	var recorded []audit.Fenced
	env.OnActivity(auditActs.RecordEvents, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in auditlog.RecordInput) (auditlog.RecordResult, error) {
			for _, e := range in.Events {
				if e.Type == audit.TypeFenced {
					var f audit.Fenced
					if err := json.Unmarshal(e.Payload, &f); err != nil {
						t.Error(err)
					}
					recorded = append(recorded, f)
				}
			}
			return auditlog.RecordResult{}, nil
		})
	env.OnActivity(guardianActs.EnsureReadServices, mock.Anything, mock.Anything).Return(nil)
	env.ExecuteWorkflow(Guardian, GuardianInput{Namespace: "default", Cluster: "orders", Known: healthy.Assessment.Known})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := []audit.Fenced{
		{Cluster: "default/orders", Ordinal: 0, Reason: "replica ahead", FenceID: "f1", Action: "takeover", Role: "replica", ServeAfterMS: 290, ReplicaOffset: 1414421},
		{Cluster: "default/orders", Ordinal: 0, Reason: "replica ahead", FenceID: "f2", Action: "takeover", Role: "replica", ServeAfterMS: 290, ReplicaOffset: 1414421},
	}
	if diff := cmp.Diff(want, recorded); diff != "" {
		t.Errorf("Fenced events (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]map[int]string{nil, {0: "f1"}, {0: "f1"}, {0: "f2"}}, seen); diff != "" {
		t.Errorf("known fences passed to the watches (-want +got):\n%s", diff)
	}
}

// TestGuardianPrunesFencesOfRemovedInstances: the fence record of an
// instance a scale-in then removed (ordinal 3, shard 1 of 2 -> 1 shard) is
// dropped from the guardian's Fences once its memory forgets the ordinal;
// the record of an instance still there (ordinal 0) stays.
func TestGuardianPrunesFencesOfRemovedInstances(t *testing.T) {
	env := healEnv(t)
	healthy := assess(healWorld(false), nil)
	scaledIn := healWorld(false)
	scaledIn.Spec.Shards, scaledIn.Input.Shards = 1, 1
	scaledIn.Input.Pods = []guard.Pod{scaledIn.Input.Pods[0], scaledIn.Input.Pods[2]}
	delete(scaledIn.Input.Nodes, 1)
	delete(scaledIn.Input.Nodes, 3)
	fences := []guardian.FenceReport{{Ordinal: 0, Shard: 0, ID: "f0"}, {Ordinal: 3, Shard: 1, ID: "f3"}}
	watches := 0
	var seen []map[int]string
	env.OnActivity(guardianActs.Watch, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guardian.WatchInput) (guardian.WatchResult, error) {
			watches++
			seen = append(seen, in.Fences)
			switch watches {
			case 1:
				o := assess(healWorld(false), in.Known)
				o.Fences = fences
				return guardian.WatchResult{Observation: o, Observations: 1}, nil
			case 2, 3:
				return guardian.WatchResult{Observation: assess(scaledIn, in.Known), Observations: 1}, nil
			default:
				return guardian.WatchResult{Observation: guardian.Observation{Gone: true}}, nil
			}
		})
	env.OnActivity(auditActs.RecordEvents, mock.Anything, mock.Anything).Return(auditlog.RecordResult{}, nil)
	env.OnActivity(guardianActs.EnsureReadServices, mock.Anything, mock.Anything).Return(nil)
	env.ExecuteWorkflow(Guardian, GuardianInput{Namespace: "default", Cluster: "orders", Known: healthy.Assessment.Known})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	want := []map[int]string{nil, {0: "f0", 3: "f3"}, {0: "f0"}, {0: "f0"}}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("known fences passed to the watches (-want +got):\n%s", diff)
	}
}

// errAuditDown is what RecordEvents answers while the audit database is
// down (retryable).
var errAuditDown = fmt.Errorf("append FailoverObserved: FATAL: the database system is shutting down (SQLSTATE 57P03)")

// TestGuardianWatchesOnWhileTheAuditWaits: while the audit database refuses
// the guardian's records (a restart, a failover, an outage), the guardian
// watches on: the watch after a failover runs (and would relabel a second
// failover) before the first failover's events are recorded, and once the
// database answers every event is recorded once, in order.
func TestGuardianWatchesOnWhileTheAuditWaits(t *testing.T) {
	env := healEnv(t)
	healthy := assess(healWorld(false), nil)
	watches := watchesOf(env,
		func(guardian.WatchInput) guardian.WatchResult {
			return guardian.WatchResult{Observation: healthy, Observations: 1}
		},
		lostPrimary,
		func(in guardian.WatchInput) guardian.WatchResult {
			o := assess(healWorld(true), in.Known)
			o.Fences = []guardian.FenceReport{{Ordinal: 1, Shard: 1, ID: "f1", Action: "serve", Reason: "restarted"}}
			return guardian.WatchResult{Observation: o, Observations: 1}
		})
	var recorded []string
	attempts, watchesAtFirstRecord := 0, 0
	env.OnActivity(auditActs.RecordEvents, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in auditlog.RecordInput) (auditlog.RecordResult, error) {
			attempts++
			// Down until the guardian has watched to the end, or for 30
			// attempts: a guardian that waited for its records would
			// otherwise never watch again.
			if *watches < 4 && attempts < 30 {
				return auditlog.RecordResult{}, errAuditDown
			}
			if watchesAtFirstRecord == 0 {
				watchesAtFirstRecord = *watches
			}
			for _, e := range in.Events {
				recorded = append(recorded, e.Type)
			}
			return auditlog.RecordResult{}, nil
		})
	env.OnActivity(guardianActs.EnsureReadServices, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(guardianActs.StartRecover, mock.Anything, mock.Anything).Return(guardian.StartRecoverResult{Started: true}, nil)
	env.ExecuteWorkflow(Guardian, GuardianInput{Namespace: "default", Cluster: "orders", Known: healthy.Assessment.Known})
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if watchesAtFirstRecord != 4 {
		t.Errorf("the first record went through after %d watches, want 4: the guardian waited for the audit database", watchesAtFirstRecord)
	}
	want := []string{audit.TypeFailoverObserved, audit.TypeRoleChanged, audit.TypeInstanceLost, audit.TypeClusterDegraded, audit.TypeFenced}
	if diff := cmp.Diff(want, recorded); diff != "" {
		t.Errorf("events recorded (-want +got):\n%s", diff)
	}
}

// TestGuardianHandsPendingEventsOn: events still waiting for the audit
// database when a run continues as new go to the next run, which records
// them with the IDs and the correlation they were given (a record of the
// old run that went through is not written twice).
func TestGuardianHandsPendingEventsOn(t *testing.T) {
	env := healEnv(t)
	healthy := assess(healWorld(false), nil)
	watchesOf(env,
		func(guardian.WatchInput) guardian.WatchResult {
			return guardian.WatchResult{Observation: healthy, Observations: 1}
		},
		lostPrimary)
	env.OnActivity(auditActs.RecordEvents, mock.Anything, mock.Anything).Return(auditlog.RecordResult{}, errAuditDown)
	env.OnActivity(guardianActs.EnsureReadServices, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(guardianActs.StartRecover, mock.Anything, mock.Anything).Return(guardian.StartRecoverResult{Started: true}, nil)
	env.ExecuteWorkflow(Guardian, GuardianInput{Namespace: "default", Cluster: "orders", Known: healthy.Assessment.Known, Iterations: 2})
	next := continuedAs(t, env.GetWorkflowError())
	var ids []string
	for _, p := range next.Pending {
		if p.OperationID == "" {
			t.Errorf("pending events without their run's operation ID: %+v", p)
		}
		for _, e := range p.Events {
			ids = append(ids, p.OperationID+" "+e.Type+" "+e.ID.String())
		}
	}
	if len(ids) != 4 {
		t.Fatalf("pending events handed on: %v, want the failover's 4", ids)
	}

	env = healEnv(t)
	watchesOf(env)
	var got []string
	env.OnActivity(auditActs.RecordEvents, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in auditlog.RecordInput) (auditlog.RecordResult, error) {
			m, _ := operation.MetaFromContext(ctx)
			for _, e := range in.Events {
				got = append(got, m.OperationID+" "+e.Type+" "+e.ID.String())
			}
			return auditlog.RecordResult{}, nil
		})
	env.ExecuteWorkflow(Guardian, next)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ids, got); diff != "" {
		t.Errorf("events recorded by the next run (-handed on +recorded):\n%s", diff)
	}
}

// watchesOf mocks the guardian's watch: the n-th watch answers steps[n-1]
// with its input, every later one that the cluster is gone. It returns the
// count of watches made.
func watchesOf(env *testsuite.TestWorkflowEnvironment, steps ...func(guardian.WatchInput) guardian.WatchResult) *int {
	n := new(int)
	env.OnActivity(guardianActs.Watch, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in guardian.WatchInput) (guardian.WatchResult, error) {
			*n++
			if *n > len(steps) {
				return guardian.WatchResult{Observation: guardian.Observation{Gone: true}}, nil
			}
			return steps[*n-1](in), nil
		})
	return n
}

// lostPrimary is a watch that sees healWorld's primary lost and its replica
// promoted.
func lostPrimary(in guardian.WatchInput) guardian.WatchResult {
	o := assess(healWorld(true), in.Known)
	return guardian.WatchResult{Observation: o, Observations: 1, Failovers: o.Assessment.Failovers}
}

// continuedAs decodes the input of a guardian run's continue-as-new.
func continuedAs(t *testing.T, err error) GuardianInput {
	t.Helper()
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		t.Fatalf("run ended with %v, want continue-as-new", err)
	}
	var in GuardianInput
	if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &in); err != nil {
		t.Fatal(err)
	}
	return in
}

// TestRecoverBringsAReplicaBackFirst: shard-0's replica (ordinal 2) lost
// with its volume kept while its primary (ordinal 0) restarts in its Pod
// and does not answer: its fence waits for the replica. The recover brings
// the replica back on its volume (met with the cluster, InstanceRecovered
// recorded) before it has a primary, and the primary then serves; before,
// the recover waited for the primary first.
func TestRecoverBringsAReplicaBackFirst(t *testing.T) {
	known := assess(healWorld(false), nil).Assessment.Known
	env := healEnv(t)
	back := false
	var calls []string
	world := func() guardian.Observation {
		o := healWorld(false)
		if !back {
			o.Input.Pods = slices.DeleteFunc(o.Input.Pods, func(p guard.Pod) bool { return p.Ordinal == 2 })
			delete(o.Input.Nodes, 2)
			delete(o.Input.Nodes, 0) // restarting, fenced: no answer
		}
		o.Volumes = []int{0, 1, 2, 3}
		return o
	}
	onObserveAndRecord(env, &calls, world)
	onRecreateLost(env, &calls, func(o int) {
		if o == 2 {
			back = true
		}
	})
	res := runRecover(t, env, "op-1", known, assess(world(), known).Assessment.Lost)
	if res.Outcome != OutcomeSucceeded {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Message)
	}
	created := slices.Index(calls, "create ordinal 2 shard 0 replica")
	if created < 0 || !slices.Contains(calls[created:], "record "+audit.TypeInstanceRecovered) || !slices.Contains(calls[created:], "meet 3") {
		t.Errorf("the replica was not brought back first, met and recorded: %q", calls)
	}
	if slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "forget") || strings.HasPrefix(c, "drop") }) {
		t.Errorf("the replica's node ID or volume given up: %q", calls)
	}
}
