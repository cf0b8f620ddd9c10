package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/hooks"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// upWorld is a scripted cluster for the upgrade workflow: shards x (primary +
// one replica), each Pod with the spec hash it runs; recreate and handover
// change it as the real activities would.
type upWorld struct {
	mu     sync.Mutex
	spec   spec.Cluster
	pods   map[int]*upPod
	calls  []string
	badImg string // primaries running this image fail the gate
	// gateFails makes every HealthGate evaluation fail (a problem only the
	// bake's full gate sees).
	gateFails bool
	// gateFailsFrom makes the HealthGate evaluations from this one (1-based)
	// on fail; gates counts them.
	gateFailsFrom, gates int
	// crashImg: Pods recreated with this image crash-loop (WaitInstancesReady
	// fails with the non-retryable PodCrashLoop); waits counts its calls.
	crashImg string
	waits    int
	// slowHandover delays the handover to this ordinal (real time), so that
	// a concurrent shard's steps surely start meanwhile.
	slowHandover int
	// unreachable: this many ClusterHealthGate attempts, from the
	// unreachableFrom-th (1-based), fail as a gate does while the
	// Kubernetes API does not answer (a plain, retryable error).
	unreachable, unreachableFrom, gateAttempts int
}

type upPod struct {
	shard int
	role  topology.Role
	image string
	hash  string
	zone  string
}

func newUpWorld(shards int) *upWorld {
	c := spec.Cluster{Name: "orders", Namespace: "default", Shards: shards, ReplicasPerShard: 1}
	c.Default()
	w := &upWorld{spec: c, pods: map[int]*upPod{}}
	zones := []string{"zone-a", "zone-b", "zone-c"}
	for s := range shards {
		for j, role := range []topology.Role{topology.RolePrimary, topology.RoleReplica} {
			o := 2*s + j
			w.pods[o] = &upPod{shard: s, role: role, image: c.Image, hash: render.SpecHash(c), zone: zones[(s+j)%3]}
		}
	}
	return w
}

// apiDown counts a ClusterHealthGate attempt and tells whether it falls in
// the Kubernetes API's outage (see unreachable).
func (w *upWorld) apiDown() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gateAttempts++
	return w.unreachable > 0 && w.gateAttempts >= w.unreachableFrom && w.gateAttempts < w.unreachableFrom+w.unreachable
}

func (w *upWorld) add(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, s)
}

func (w *upWorld) observe() clusterstate.ObserveResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := planner.State{Spec: w.spec, Slots: map[int]topology.Ranges{}, Zones: []string{"zone-a", "zone-b", "zone-c"},
		NextOrdinal: len(w.pods), Health: planner.Health{ClusterStateOK: true, AllConnected: true}}
	var ks []kube.InstanceStatus
	for _, o := range workflow.DeterministicKeys(w.pods) {
		p := w.pods[o]
		ip := fmt.Sprintf("10.244.0.%d", o+2)
		st.Instances = append(st.Instances, planner.Instance{Instance: topology.Instance{Ordinal: o, Shard: p.shard, Role: p.role,
			Addr: ip + ":6379", Zone: p.zone}, Pod: fmt.Sprintf("orders-%d", o), Ready: true, InSync: p.role == topology.RoleReplica, Image: p.image})
		ks = append(ks, kube.InstanceStatus{Ordinal: o, Shard: p.shard, Pod: fmt.Sprintf("orders-%d", o), PodIP: ip, Zone: p.zone,
			Role: p.role, Ready: true, Image: p.image, SpecHash: p.hash})
	}
	for i, r := range topology.EvenSplit(w.spec.Shards) {
		st.Slots[i] = topology.Ranges{r}
	}
	return clusterstate.ObserveResult{State: st, Kube: ks}
}

func ordinalOf(addr string) int {
	var o int
	fmt.Sscanf(addr, "10.244.0.%d:6379", &o)
	return o - 2
}

func upgradeEnv(t *testing.T, w *upWorld) *testsuite.TestWorkflowEnvironment {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetContextPropagators([]workflow.ContextPropagator{operation.MetaPropagator{}})
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute})
	Register(env, Activities{Kube: &kube.Activities{}, Redis: &redisops.Activities{}, Hooks: &hooks.Activities{}, Audit: &auditlog.Activities{}, State: &clusterstate.Activities{}})
	env.OnActivity(stateActs.ObserveCluster, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in clusterstate.ObserveInput) (clusterstate.ObserveResult, error) {
			w.add(fmt.Sprintf("observe shards=%v", in.Shards))
			return w.observe(), nil
		})
	env.OnActivity(kubeActs.CheckInstancesSteady, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in kube.SteadyInput) (kube.SteadyResult, error) {
			w.add(fmt.Sprintf("steady baseline=%v", in.Baseline != nil))
			return kube.SteadyResult{Pods: map[string]kube.PodRun{"orders-0": {UID: "u0"}, "orders-1": {UID: "u1", Restarts: 2}}}, nil
		})
	env.OnActivity(kubeActs.BeginUpgrade, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in kube.BeginUpgradeInput) error {
			w.add("begin " + in.Target.Image)
			return nil
		})
	env.OnActivity(kubeActs.FinishUpgrade, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in kube.FinishUpgradeInput) error {
			w.add(fmt.Sprintf("finish %s rolledBack=%v", in.Spec.Image, in.RolledBack))
			return nil
		})
	env.OnActivity(redisActs.NodeRunInfo, mock.Anything, mock.Anything).Return(redisops.RunInfo{RunID: "old"}, nil)
	env.OnActivity(kubeActs.RecreateInstance, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in kube.RecreateInput) (kube.RecreateResult, error) {
			w.mu.Lock()
			p := w.pods[in.Instance.Ordinal]
			p.image, p.hash = in.Spec.Image, render.SpecHash(in.Spec)
			w.mu.Unlock()
			w.add(fmt.Sprintf("recreate %d %s %s", in.Instance.Ordinal, p.role, in.Spec.Image))
			return kube.RecreateResult{Recreated: true}, nil
		})
	env.OnActivity(kubeActs.WaitInstancesReady, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in kube.WaitReadyInput) (kube.WaitReadyResult, error) {
			var out kube.WaitReadyResult
			w.mu.Lock()
			defer w.mu.Unlock()
			w.waits++
			for _, o := range in.Ordinals {
				if p := w.pods[o]; p != nil && w.crashImg != "" && p.image == w.crashImg {
					w.calls = append(w.calls, fmt.Sprintf("pod %d crash-loops", o))
					return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
						"pod orders-%d container redis: CrashLoopBackOff after 2 restart(s); last termination: exit code 1, Error", o), kube.ErrTypeCrashLoop, nil)
				}
				out.Instances = append(out.Instances, kube.InstanceStatus{Ordinal: o, PodIP: fmt.Sprintf("10.244.0.%d", o+2), Ready: true})
			}
			return out, nil
		})
	env.OnActivity(redisActs.WaitInstanceUpgraded, mock.Anything, mock.Anything).Return(redisops.RunInfo{RunID: "new", Version: "7.0.15"}, nil)
	env.OnActivity(redisActs.Handover, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.HandoverInput) (redisops.HandoverResult, error) {
			to := ordinalOf(in.ReplicaAddr)
			if w.slowHandover > 0 && to == w.slowHandover {
				time.Sleep(300 * time.Millisecond)
			}
			w.mu.Lock()
			for _, p := range w.pods {
				if p.shard == w.pods[to].shard {
					p.role = topology.RoleReplica
				}
			}
			w.pods[to].role = topology.RolePrimary
			w.mu.Unlock()
			w.add(fmt.Sprintf("handover to %d", to))
			return redisops.HandoverResult{}, nil
		})
	env.OnActivity(redisActs.ProbePrimary, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in redisops.ProbePrimaryInput) (redisops.ProbeStats, error) {
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.pods[ordinalOf(in.Addr)].image == w.badImg {
				w.calls = append(w.calls, "probe failed")
				return redisops.ProbeStats{}, temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("shard-%d new primary rejects writes", in.Shard), redisops.ErrTypeGateFailed, nil)
			}
			return redisops.ProbeStats{}, nil
		})
	env.OnActivity(redisActs.RedisRoles, mock.Anything, mock.Anything).Return(redisops.RolesResult{}, nil)
	env.OnActivity(kubeActs.SetRoleLabels, mock.Anything, mock.Anything).Return(kube.SetLabelsResult{}, nil)
	gate := func() (redisops.GateReport, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.gates++
		if w.gateFails || (w.gateFailsFrom > 0 && w.gates >= w.gateFailsFrom) {
			w.calls = append(w.calls, "gate failed")
			return redisops.GateReport{}, temporal.NewNonRetryableApplicationError("replica lags", redisops.ErrTypeGateFailed, nil)
		}
		for _, o := range workflow.DeterministicKeys(w.pods) {
			if p := w.pods[o]; p.role == topology.RolePrimary && p.image == w.badImg {
				w.calls = append(w.calls, "gate failed")
				return redisops.GateReport{}, temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("shard-%d primary rejects writes", p.shard), redisops.ErrTypeGateFailed, nil)
			}
		}
		w.calls = append(w.calls, "gate passed")
		return redisops.GateReport{Summary: "passed"}, nil
	}
	// Upgrades started before versionGateActivity (replays only) call
	// HealthGate; new ones the one ClusterHealthGate activity.
	env.OnActivity(redisActs.HealthGate, mock.Anything, mock.Anything).Return(
		func(context.Context, redisops.GateInput) (redisops.GateReport, error) { return gate() })
	env.OnActivity(stateActs.ClusterHealthGate, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in clusterstate.GateInput) (redisops.GateReport, error) {
			w.add("health gate input " + in.Gate.Label + fmt.Sprintf(" addrs=%d restarted=%d", len(in.Gate.Addrs), len(in.Restarted)))
			if w.apiDown() {
				return redisops.GateReport{}, errors.New("list pods of orders: Get \"https://127.0.0.1:6443/api/v1/namespaces/default/pods\": dial tcp 127.0.0.1:6443: connect: connection refused")
			}
			return gate()
		})
	env.OnActivity(auditActs.RecordEvents, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in auditlog.RecordInput) (auditlog.RecordResult, error) {
			m, _ := operation.MetaFromContext(ctx)
			for _, e := range in.Events {
				if e.Type == "StepCompleted" || e.Type == "StepFailed" || e.Type == "OperationFailed" || e.Type == "OperationCancelled" {
					w.add("event by " + m.Actor + " " + e.Type + " " + string(e.Payload))
				}
			}
			return auditlog.RecordResult{}, nil
		})
	return env
}

func upgradeInput(u spec.Upgrade) UpgradeInput {
	u.Default()
	return UpgradeInput{Meta: Meta{OperationID: "op-1", Type: operation.Upgrade, Namespace: "default", Cluster: "orders", Actor: "alice"}, Upgrade: u}
}

// runUpgrade runs the Upgrade workflow in env to its result.
func runUpgrade(t *testing.T, env *testsuite.TestWorkflowEnvironment, u spec.Upgrade) Result {
	t.Helper()
	env.ExecuteWorkflow(Upgrade, upgradeInput(u))
	var res Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	return res
}

// checkOps compares the steps the world saw (see ops) with want.
func (w *upWorld) checkOps(t *testing.T, want []string) {
	t.Helper()
	if got := w.ops(); !slices.Equal(got, want) {
		t.Errorf("steps:\n got %q\nwant %q", got, want)
	}
}

func (w *upWorld) ops() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, c := range w.calls {
		if strings.HasPrefix(c, "recreate") || strings.HasPrefix(c, "handover") || strings.HasPrefix(c, "gate") || strings.HasPrefix(c, "finish") {
			out = append(out, c)
		}
	}
	return out
}

func (w *upWorld) has(sub string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.ContainsFunc(w.calls, func(c string) bool { return strings.Contains(c, sub) })
}

// TestUpgradeGateIsOneActivity: a gate evaluation is one ClusterHealthGate
// activity whose input holds no address (the activity reads them from
// Kubernetes) and only the baseline's restarted Pods; no gate observes the
// whole cluster (the only whole-cluster observation is the planning one).
func TestUpgradeGateIsOneActivity(t *testing.T) {
	w := newUpWorld(3)
	env := upgradeEnv(t, w)
	env.ExecuteWorkflow(Upgrade, upgradeInput(spec.Upgrade{Image: "redis:7.0-next", AutoApprove: true, Bake: spec.Duration{Duration: time.Minute}}))
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("workflow: completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	count := func(prefix string) int {
		n := 0
		for _, c := range w.calls {
			if strings.HasPrefix(c, prefix) {
				n++
			}
		}
		return n
	}
	if n := count("observe shards=[]"); n != 1 {
		t.Errorf("%d whole-cluster observations, want 1 (planning): %v", n, w.calls)
	}
	if n := count("steady baseline=true"); n != 0 {
		t.Errorf("%d CheckInstancesSteady gate activities, want 0 (inside ClusterHealthGate)", n)
	}
	if n, in := w.gates, count("health gate input "); n == 0 || in != n || count("health gate input canary bake addrs=0 restarted=1") == 0 {
		t.Errorf("%d gates, %d ClusterHealthGate inputs (want each with no address, the one restarted Pod): %v", n, in, w.calls)
	}
}

func TestUpgradeAutoApprove(t *testing.T) {
	w := newUpWorld(3)
	env := upgradeEnv(t, w)
	env.ExecuteWorkflow(Upgrade, upgradeInput(spec.Upgrade{Image: "redis:7.0-next", AutoApprove: true, Bake: spec.Duration{Duration: time.Minute}}))
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("workflow: completed %v, error %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	var res Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeSucceeded || res.Progress.Upgrade.ShardsDone != 3 {
		t.Fatalf("outcome %s, shards done %d: %s", res.Outcome, res.Progress.Upgrade.ShardsDone, res.Message)
	}
	want := []string{
		"recreate 1 replica redis:7.0-next", "handover to 1", "recreate 0 replica redis:7.0-next",
		"gate passed", "gate passed", "gate passed", "gate passed", "gate passed", // bake 1m, every 15s
		"recreate 3 replica redis:7.0-next", "handover to 3", "recreate 2 replica redis:7.0-next", "gate passed",
		"recreate 5 replica redis:7.0-next", "handover to 5", "recreate 4 replica redis:7.0-next", "gate passed",
		"finish redis:7.0-next rolledBack=false",
	}
	w.checkOps(t, want)
	if !w.has("auto-approved") {
		t.Error("the auto-approval is not in the audit log")
	}
}

// TestUpgradeRidesOutAnUnreachableGate: a gate that cannot be evaluated
// (the Kubernetes API refuses connections for 12 attempts, about 3 minutes
// of retries) is not a failed gate: the evaluation waits, passes once the
// API answers, and the upgrade goes on to succeed. With the gate's old
// budget (5 attempts) the third evaluation failed and the upgrade rolled
// back a healthy canary.
func TestUpgradeRidesOutAnUnreachableGate(t *testing.T) {
	w := newUpWorld(3)
	w.unreachable, w.unreachableFrom = 12, 3 // the bake's second evaluation
	env := upgradeEnv(t, w)
	res := runUpgrade(t, env, spec.Upgrade{Image: "redis:7.0-next", AutoApprove: true, Bake: spec.Duration{Duration: time.Minute}})
	if res.Outcome != OutcomeSucceeded || res.Progress.Upgrade.ShardsDone != 3 {
		t.Fatalf("outcome %s, shards done %d: %s", res.Outcome, res.Progress.Upgrade.ShardsDone, res.Message)
	}
	if w.gateAttempts < w.unreachableFrom+w.unreachable {
		t.Fatalf("%d gate attempts: the outage (attempts %d-%d) was not reached", w.gateAttempts, w.unreachableFrom, w.unreachableFrom+w.unreachable-1)
	}
	if w.has("gate failed") || w.has("rolledBack=true") {
		t.Errorf("a gate failed or the upgrade rolled back: %q", w.ops())
	}
}

func TestUpgradeBadImageRollsBackTheCanaryOnly(t *testing.T) {
	w := newUpWorld(3)
	w.badImg = "redis:7.0-bad"
	env := upgradeEnv(t, w)
	res := runUpgrade(t, env, spec.Upgrade{Image: "redis:7.0-bad", AutoApprove: true})
	if res.Outcome != OutcomeRolledBack || !strings.Contains(res.Message, "shard-0 new primary rejects writes") {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Message)
	}
	// The probe right after the handover catches it: the old primary, not
	// upgraded yet, takes over again at once.
	want := []string{
		"recreate 1 replica redis:7.0-bad", "handover to 1",
		"handover to 0", "recreate 1 replica redis:7.0",
		"finish redis:7.0 rolledBack=true",
	}
	w.checkOps(t, want)
	if !w.has(`"rolled_back":true`) {
		t.Error("no OperationFailed with rolled_back")
	}
}

// TestUpgradeCrashLoopRollsBack: a recreated Pod that crash-loops fails its
// wait once (non-retryable, no retry) and the upgrade rolls that instance
// back at once, before any handover.
func TestUpgradeCrashLoopRollsBack(t *testing.T) {
	w := newUpWorld(2)
	w.crashImg = "redis:7.0-crash"
	env := upgradeEnv(t, w)
	res := runUpgrade(t, env, spec.Upgrade{Image: "redis:7.0-crash", AutoApprove: true})
	if res.Outcome != OutcomeRolledBack || !strings.Contains(res.Message, "CrashLoopBackOff") || !strings.Contains(res.Message, "orders-1") {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Message)
	}
	want := []string{"recreate 1 replica redis:7.0-crash", "recreate 1 replica redis:7.0", "finish redis:7.0 rolledBack=true"}
	w.checkOps(t, want)
	if w.waits != 2 {
		t.Errorf("WaitInstancesReady ran %d times, want 2 (the failing wait is not retried, then the rollback's)", w.waits)
	}
}

func TestUpgradeAbortDuringBake(t *testing.T) {
	w := newUpWorld(2)
	env := upgradeEnv(t, w)
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateAbort, "u1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("abort rejected: %v", err) },
			OnAccept: func() {}, OnComplete: func(any, error) {},
		}, Decision{Actor: "bob", Reason: "latency looks odd"})
	}, 40*time.Second)
	res := runUpgrade(t, env, spec.Upgrade{Image: "redis:7.0-next", Bake: spec.Duration{Duration: 10 * time.Minute}})
	if res.Outcome != OutcomeRolledBack || !strings.Contains(res.Message, "aborted by bob (latency looks odd)") {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Message)
	}
	if res.Progress.Upgrade.AbortedBy != "bob" {
		t.Errorf("aborted by %q", res.Progress.Upgrade.AbortedBy)
	}
	if w.has("recreate 3") || w.has("recreate 2") {
		t.Errorf("shard-1 was touched: %q", w.ops())
	}
	if !w.has("finish redis:7.0 rolledBack=true") || !w.has("OperationCancelled") {
		t.Errorf("no rollback finish or cancel record: %q", w.calls)
	}
}

// TestUpgradeApprovalDeadline: nobody approves after the bake; when the
// approval timeout passes, dayops aborts and rolls the canary back, so the
// cluster is not held for ever.
func TestUpgradeApprovalDeadline(t *testing.T) {
	w := newUpWorld(2)
	env := upgradeEnv(t, w)
	res := runUpgrade(t, env, spec.Upgrade{Image: "redis:7.0-next", Bake: spec.Duration{Duration: time.Minute},
		ApprovalTimeout: spec.Duration{Duration: time.Hour}})
	if res.Outcome != OutcomeRolledBack || !strings.Contains(res.Message, "aborted by dayops (no approval within 1h0m0s)") {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Message)
	}
	if res.Progress.Upgrade.AbortedBy != "dayops" {
		t.Errorf("aborted by %q", res.Progress.Upgrade.AbortedBy)
	}
	if w.has("recreate 3") || w.has("recreate 2") {
		t.Errorf("shard-1 was touched: %q", w.ops())
	}
	if !w.has("finish redis:7.0 rolledBack=true") {
		t.Errorf("no rollback finish: %q", w.calls)
	}
}

func TestUpgradeManualApproval(t *testing.T) {
	w := newUpWorld(2)
	env := upgradeEnv(t, w)
	var rejected error
	env.RegisterDelayedCallback(func() {
		// Approving twice: the second is refused by the validator.
		for i, cb := range []*testsuite.TestUpdateCallback{
			{OnReject: func(err error) { t.Errorf("approve rejected: %v", err) }, OnAccept: func() {}, OnComplete: func(any, error) {}},
			{OnReject: func(err error) { rejected = err }, OnAccept: func() {}, OnComplete: func(any, error) {}},
		} {
			env.UpdateWorkflow(UpdateApprove, fmt.Sprintf("a%d", i), cb, Decision{Actor: "carol"})
		}
	}, 30*time.Minute)
	res := runUpgrade(t, env, spec.Upgrade{Image: "redis:7.0-next", Bake: spec.Duration{Duration: time.Minute}})
	if res.Outcome != OutcomeSucceeded || res.Progress.Upgrade.ApprovedBy != "carol" {
		t.Fatalf("outcome %s approved by %q: %s", res.Outcome, res.Progress.Upgrade.ApprovedBy, res.Message)
	}
	if rejected == nil || !strings.Contains(rejected.Error(), "already approved by carol") {
		t.Errorf("second approval: %v", rejected)
	}
	if !w.has(`event by carol StepCompleted {"operation_id":"op-1","cluster":"default/orders","step_id":"upgrade/approve/`) {
		t.Errorf("the approval is not in the audit log with carol as its actor: %q", w.calls)
	}
}

func TestUpgradePauseResume(t *testing.T) {
	w := newUpWorld(2)
	env := upgradeEnv(t, w)
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPause, Decision{Actor: "dave"}) }, 0)
	var during []string
	env.RegisterDelayedCallback(func() {
		during = w.ops()
		env.SignalWorkflow(SignalResume, Decision{Actor: "dave"})
	}, time.Hour)
	res := runUpgrade(t, env, spec.Upgrade{Image: "redis:7.0-next", AutoApprove: true, Bake: spec.Duration{Duration: time.Minute}})
	if res.Outcome != OutcomeSucceeded {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Message)
	}
	if len(during) != 0 {
		t.Errorf("steps ran while paused: %q", during)
	}
	if !w.has("event by dave StepCompleted") || !w.has("paused by dave") || !w.has("resumed by dave") {
		t.Error("pause/resume not in the audit log")
	}
}

func TestUpgradeGateFailureRollsBackTheWholeCanary(t *testing.T) {
	w := newUpWorld(2)
	w.gateFails = true
	env := upgradeEnv(t, w)
	res := runUpgrade(t, env, spec.Upgrade{Image: "redis:7.0-next", AutoApprove: true})
	if res.Outcome != OutcomeRolledBack || !strings.Contains(res.Message, "health gate failed (canary bake): replica lags") {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Message)
	}
	want := []string{
		"recreate 1 replica redis:7.0-next", "handover to 1", "recreate 0 replica redis:7.0-next", "gate failed",
		"recreate 0 replica redis:7.0", "handover to 0", "recreate 1 replica redis:7.0",
		"finish redis:7.0 rolledBack=true",
	}
	w.checkOps(t, want)
}

func TestUpgradeConcurrentBatch(t *testing.T) {
	w := newUpWorld(3)
	// Shard-1's handover takes a while: shard-2's first step, started with
	// shard-1's, must not wait for it (under load the test environment could
	// otherwise run shard-1's three steps before shard-2's first one starts).
	w.slowHandover = 3
	env := upgradeEnv(t, w)
	completed := 0
	env.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, err error) {
		// The bake child's activities count in its own progress.
		if err == nil && !strings.Contains(info.WorkflowExecution.ID, "/bake-") {
			completed++
		}
	})
	res := runUpgrade(t, env, spec.Upgrade{Image: "redis:7.0-next", AutoApprove: true, Concurrency: 2,
		Bake: spec.Duration{Duration: time.Second}})
	if res.Outcome != OutcomeSucceeded || res.Progress.Upgrade.ShardsDone != 3 {
		t.Fatalf("outcome %s, shards %d: %s", res.Outcome, res.Progress.Upgrade.ShardsDone, res.Message)
	}
	// One progress for the whole run: the steps of the concurrent shards
	// count in it as they complete.
	if res.Progress.StepsDone != completed {
		t.Errorf("progress counts %d steps done, %d activities completed", res.Progress.StepsDone, completed)
	}
	ops := w.ops()
	// Per shard the order is replica, handover, old primary; shards 1 and 2
	// go together after the canary; one gate after the batch.
	perShard := map[int][]string{}
	for _, op := range ops {
		var o int
		switch {
		case strings.HasPrefix(op, "recreate "):
			fmt.Sscanf(op, "recreate %d", &o)
		case strings.HasPrefix(op, "handover to "):
			fmt.Sscanf(op, "handover to %d", &o)
		default:
			continue
		}
		perShard[o/2] = append(perShard[o/2], op)
	}
	for s := range 3 {
		want := []string{fmt.Sprintf("recreate %d replica redis:7.0-next", 2*s+1), fmt.Sprintf("handover to %d", 2*s+1),
			fmt.Sprintf("recreate %d replica redis:7.0-next", 2*s)}
		if !slices.Equal(perShard[s], want) {
			t.Errorf("shard-%d: %q, want %q", s, perShard[s], want)
		}
	}
	// Shard-2 starts before shard-1 has finished: they run together.
	if slices.Index(ops, "recreate 5 replica redis:7.0-next") > slices.Index(ops, "recreate 2 replica redis:7.0-next") {
		t.Errorf("shards 1 and 2 did not run together: %q", ops)
	}
	if got := ops[len(ops)-2:]; !slices.Equal(got, []string{"gate passed", "finish redis:7.0-next rolledBack=false"}) {
		t.Errorf("ends with %q", got)
	}
}

func TestUpgradeUserGateFails(t *testing.T) {
	w := newUpWorld(2)
	env := upgradeEnv(t, w)
	runs := 0
	env.OnActivity(hookActs.RunHook, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in hooks.RunInput) (hooks.RunResult, error) {
			runs++
			w.add(fmt.Sprintf("hook %s shard %d", in.Hook.Name, in.Context.Shard))
			if runs >= 2 {
				return hooks.RunResult{}, temporal.NewNonRetryableApplicationError("HTTP 503: error budget burnt", "HookFailed", nil)
			}
			return hooks.RunResult{}, nil
		})
	gate := spec.Hook{Name: "slo", Point: spec.UpgradeGate, Scope: spec.ScopeCluster, HTTP: &spec.HTTPHook{URL: "http://127.0.0.1:1/slo"}}
	gate.Default()
	in := upgradeInput(spec.Upgrade{Image: "redis:7.0-next", AutoApprove: true, Bake: spec.Duration{Duration: 30 * time.Second}})
	in.Hooks = []spec.Hook{gate}
	env.ExecuteWorkflow(Upgrade, in)
	var res Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeRolledBack || !strings.Contains(res.Message, "hook slo at upgrade-gate") || !strings.Contains(res.Message, "error budget burnt") {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Message)
	}
	if runs != 2 || w.has("recreate 3") {
		t.Errorf("user gate ran %d times; ops %q", runs, w.ops())
	}
}
