package upgrade

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/workflows/flow"

	"github.com/dayops/dayops/internal/activities/clusterstate"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Names of the upgrade's updates and signals (wire constants, defined in
// apiv1: the API and the CLI name them too).
const (
	UpdateApprove = apiv1.UpdateApprove
	UpdateAbort   = apiv1.UpdateAbort
	SignalPause   = apiv1.SignalPause
	SignalResume  = apiv1.SignalResume
)

// Upgrade stages shown in UpgradeProgress.Stage.
const (
	StageCanary           = apiv1.StageCanary
	StageBaking           = apiv1.StageBaking
	StageAwaitingApproval = apiv1.StageAwaitingApproval
	StageRolling          = apiv1.StageRolling
	StageRollingBack      = apiv1.StageRollingBack
	StageFinishing        = apiv1.StageFinishing
	StageDone             = apiv1.StageDone
)

// UpgradeInput starts an upgrade.
type UpgradeInput struct {
	Meta flow.Meta `json:"meta"`
	// Upgrade is the defaulted request.
	Upgrade spec.Upgrade `json:"upgrade"`
	// Hooks run in addition to the cluster spec's (user gates are hooks at
	// point upgrade-gate).
	Hooks []spec.Hook `json:"hooks,omitempty"`
	// Plan and Limits: as in lifecycle.ScaleShardsInput.
	Plan   *planner.Plan   `json:"plan,omitempty"`
	Limits *planner.Limits `json:"limits,omitempty"`
}

// Decision is the input of the approve and abort updates and of the pause
// and resume signals (a wire type, defined in apiv1).
type Decision = apiv1.Decision

// DecisionResult answers an approve or abort update.
type DecisionResult = apiv1.DecisionResult

// UpgradeProgress is the upgrade part of Progress.
type UpgradeProgress = apiv1.UpgradeProgress

// gateOptions: a gate evaluation is one bounded check. Its verdict,
// GateFailed, is final (the upgrade rolls back); any other error means the
// gate could not be evaluated (the Kubernetes API did not answer, the
// worker died) and is retried as long as a quick step's (flow.QuickOptions:
// 20 attempts, about 7.5 minutes), so that a control plane that is away for
// a few minutes (an API server restarting, a managed control plane's
// upgrade) pauses the upgrade instead of rolling back a healthy one. It was
// 5 attempts, 10 s at most, before: 15 s of an API server's absence during
// a gate rolled the upgrade back (TestUpgradeRidesOutAnUnreachableGate, and
// the kube-api-down scenario of tests/e2e TestSelfHealing).
var gateOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 15 * time.Minute,
	HeartbeatTimeout:    flow.HeartbeatTimeout,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 20,
		NonRetryableErrorTypes: []string{redisops.ErrTypeGateFailed},
	},
}

// handoverProbeOptions: the probe of a new primary right after its
// handover talks to Redis only, and a new primary that does not answer
// should hand back within seconds, so its errors get gateOptions' old,
// short budget (5 attempts, 10 s at most).
var handoverProbeOptions = func() workflow.ActivityOptions {
	o, rp := gateOptions, *gateOptions.RetryPolicy
	rp.MaximumInterval, rp.MaximumAttempts = 10*time.Second, 5
	o.RetryPolicy = &rp
	return o
}()

// instanceWaitOptions: a recreated instance that does not come back in sync
// within the timeout fails the step (and the upgrade rolls back).
var instanceWaitOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 15 * time.Minute,
	HeartbeatTimeout:    flow.HeartbeatTimeout,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second, MaximumAttempts: 3,
	},
}

// probeOptions: reading a run_id of a node about to be replaced may fail
// (the node may be down already); that is not worth long retries.
var probeOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Second,
	RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3},
}

// stopError ends the forward pass of an upgrade: the gate failed or someone
// aborted. The upgrade then rolls back.
type stopError struct {
	abort  bool
	reason string
}

func (e *stopError) Error() string { return e.reason }

// Upgrade changes the image and/or redis.conf of every instance, shard by
// shard: replicas first, one at a time (recreated on their volume, back in
// sync), then a graceful CLUSTER FAILOVER to an upgraded in-sync replica,
// then the old primary. Canary shards go first and bake under the health
// gate; after an approval (update approve, or autoApprove) the rest follow
// in batches. A failing gate, a failing step or an abort (update abort) rolls
// every changed instance back to the previous spec the same way; the
// operation then ends rolled back, with the reason.
func Upgrade(ctx workflow.Context, in UpgradeInput) (flow.Result, error) {
	ctx, r, err := flow.Open(ctx, in.Meta)
	if err != nil {
		return flow.Result{}, err
	}
	u := &upgrader{r: r, in: in, prog: &UpgradeProgress{Stage: StageCanary}, touched: map[int]bool{}}
	r.Progress.Upgrade = u.prog
	if err := u.handlers(ctx); err != nil {
		return flow.Result{}, err
	}
	summary, err := u.run(ctx)
	return u.finish(ctx, err, summary)
}

type upgrader struct {
	r    *flow.Run
	in   UpgradeInput
	prog *UpgradeProgress

	plan planner.Plan
	up   planner.UpgradePlan
	auth redisops.Auth
	// targetHash and previousHash are the Pod spec hashes of the target and
	// the previous spec (from an activity, so replay never recomputes them).
	targetHash, previousHash string
	baseline                 map[string]kube.PodRun
	touched                  map[int]bool

	// g is the approve/abort/pause state; it changes only through fire
	// (upgrade_decisions.go).
	g gate
	// notes wait for the next checkpoint (see note).
	notes   []note
	noteSeq int
	// stop is why the forward pass stopped, if it did.
	stop *stopError
}

func (u *upgrader) stage(ctx workflow.Context, s string) {
	u.prog.Stage = s
	u.r.Phase(ctx, s, "")
}

func (u *upgrader) run(ctx workflow.Context) (string, error) {
	r := u.r
	obs, err := flow.StartPlanning(ctx, r)
	if err != nil {
		return "", err
	}
	var hashes kube.SpecHashesResult
	if err := r.Exec(ctx, flow.QuickOptions, "compute the instance spec hashes of the target and the current spec", flow.KubeActs.SpecHashes,
		kube.SpecHashesInput{Specs: []spec.Cluster{u.in.Upgrade.Apply(obs.State.Spec), obs.State.Spec}}, &hashes); err != nil {
		return "", err
	}
	lim, admittedPlan := flow.Admitted(ctx, r, u.in.Plan, u.in.Limits)
	u.plan, u.up, err = planner.PlanUpgrade(planner.UpgradeRequest{State: obs.State, Upgrade: u.in.Upgrade, Hooks: u.in.Hooks,
		UpToDate: upToDate(obs.Kube, hashes.Hashes[0])}, lim)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError(err.Error(), flow.ErrTypePlanRejected, err)
	}
	if u.plan, err = r.CheckPlan(ctx, "the canary", admittedPlan, u.plan); err != nil {
		return "", err
	}
	u.targetHash, u.previousHash = hashes.Hashes[0], hashes.Hashes[1]
	u.auth = flow.AuthOf(u.up.Previous)
	r.Hooks = append(slices.Clone(u.up.Previous.Hooks), u.in.Hooks...)
	u.prog.ShardsTotal, u.prog.Canary = len(u.up.Shards()), u.up.Canary
	u.prog.Image, u.prog.FromImage = u.up.Target.Image, u.up.Previous.Image
	r.Progress.StepsTotal = r.Progress.StepsDone + 8*u.up.Instances + 6*len(u.up.Shards()) + 10

	var steady kube.SteadyResult
	if err := r.Exec(ctx, flow.QuickOptions, "record the Pods' runs before the upgrade (restart baseline)", flow.KubeActs.CheckInstancesSteady,
		kube.SteadyInput{Namespace: r.Meta.Namespace, Cluster: r.Meta.Cluster, Label: "baseline"}, &steady); err != nil {
		return u.plan.Summary, err
	}
	u.baseline = steady.Pods
	if err := r.Exec(ctx, flow.QuickOptions, "record the target and previous spec on the cluster's ConfigMap", flow.KubeActs.BeginUpgrade,
		kube.BeginUpgradeInput{Target: u.up.Target, Previous: u.up.Previous}, nil); err != nil {
		return u.plan.Summary, err
	}
	err = u.forward(ctx)
	var stop *stopError
	switch {
	case err == nil:
	case errors.As(err, &stop):
		u.stop = stop
	case temporal.IsCanceledError(err) || errors.Is(ctx.Err(), workflow.ErrCanceled):
		return u.plan.Summary, err
	default:
		// A step failed for good (a Pod that does not come back, a handover
		// that does not complete): the changed instances go back too.
		u.stop = &stopError{reason: "a step failed: " + err.Error()}
	}
	if u.stop != nil {
		u.prog.Reason = u.stop.reason
		return u.plan.Summary, u.rollback(ctx)
	}
	if err := u.fire(evFinish, Decision{}); err != nil {
		return u.plan.Summary, err
	}
	u.stage(ctx, StageFinishing)
	if err := r.Exec(ctx, flow.QuickOptions, "record "+u.up.Target.Image+" as the cluster's spec", flow.KubeActs.FinishUpgrade,
		kube.FinishUpgradeInput{Spec: u.up.Target, Previous: &u.up.Previous}, nil); err != nil {
		return u.plan.Summary, err
	}
	u.stage(ctx, StageDone)
	return u.plan.Summary, nil
}

// forward upgrades the canary, bakes it, waits for approval, then the rest.
func (u *upgrader) forward(ctx workflow.Context) error {
	r := u.r
	u.stage(ctx, StageCanary)
	for _, s := range u.up.Canary {
		if err := u.convergeShard(ctx, s, u.up.Target); err != nil {
			return err
		}
		u.prog.ShardsDone++
	}
	u.stage(ctx, StageBaking)
	bake := u.in.Upgrade.Bake.Duration
	end := workflow.Now(ctx).Add(bake)
	u.prog.BakeEndsAt = end
	// Upgrades started before the bake child existed bake here, as they did
	// (and replay the same commands).
	if workflow.GetVersion(ctx, versionBakeChild, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		if err := u.bakeInline(ctx, end); err != nil {
			return err
		}
	} else if err := u.bake(ctx, end); err != nil {
		return err
	}
	if u.in.Upgrade.AutoApprove {
		if u.fire(evAutoApprove, Decision{Actor: r.Meta.Actor, Reason: "autoApprove"}) == nil {
			u.prog.ApprovedBy = r.Meta.Actor + " (auto)"
			u.note(ctx, "approve", "auto-approved (requested by "+r.Meta.Actor+")", "", false)
		}
	} else if !u.g.approved {
		u.stage(ctx, StageAwaitingApproval)
		r.Phase(ctx, StageAwaitingApproval, "waiting for approval: dayops op approve "+r.Meta.OperationID)
		decided := func() bool { return u.g.approved || u.g.aborting() }
		// Inputs from before the deadline existed carry none: they wait as
		// they did (and replay the same commands).
		if d := u.in.Upgrade.ApprovalTimeout.Duration; d > 0 {
			ok, err := workflow.AwaitWithTimeout(ctx, d, decided)
			if err != nil {
				return err
			}
			if !ok {
				by := Decision{Actor: "dayops", Reason: fmt.Sprintf("no approval within %s", d)}
				if u.fire(evAbort, by) == nil {
					u.prog.AbortedBy = by.Actor
					u.decided(ctx, &by, "abort", "aborted by "+who(by)+": rolling back", "", false)
				}
			}
		} else if err := workflow.Await(ctx, decided); err != nil {
			return err
		}
	}
	if err := u.checkpoint(ctx); err != nil {
		return err
	}
	if err := u.fire(evRoll, Decision{}); err != nil {
		return err
	}
	u.stage(ctx, StageRolling)
	for _, batch := range u.up.Batches {
		if err := u.batch(ctx, batch); err != nil {
			return err
		}
		if err := u.gate(ctx, fmt.Sprintf("after shards %v", batch)); err != nil {
			return err
		}
	}
	return u.flush(ctx)
}

// bakeInline is the bake of upgrades started before the bake child: every
// evaluation in the upgrade's own history.
func (u *upgrader) bakeInline(ctx workflow.Context, end time.Time) error {
	for {
		if err := u.gate(ctx, "canary bake"); err != nil {
			return err
		}
		if err := u.checkpoint(ctx); err != nil {
			return err
		}
		left := end.Sub(workflow.Now(ctx))
		if left <= 0 {
			return nil
		}
		if _, err := workflow.AwaitWithTimeout(ctx, min(left, u.in.Upgrade.Gate.Interval.Duration), func() bool { return u.g.aborting() }); err != nil {
			return err
		}
		if u.g.aborting() {
			return u.checkpoint(ctx)
		}
	}
}

// batch upgrades several shards at once, each one instance at a time.
func (u *upgrader) batch(ctx workflow.Context, shards []int) error {
	if len(shards) == 1 {
		if err := u.convergeShard(ctx, shards[0], u.up.Target); err != nil {
			return err
		}
		u.prog.ShardsDone++
		return nil
	}
	// Each shard runs in a coroutine of its own, which blocks on its own
	// context and counts its steps in the shared progress.
	errs := make([]error, len(shards))
	wg := workflow.NewWaitGroup(ctx)
	for i, s := range shards {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			if errs[i] = u.convergeShard(ctx, s, u.up.Target); errs[i] == nil {
				u.prog.ShardsDone++
			}
		})
	}
	wg.Wait(ctx)
	u.r.Progress.Publish(ctx)
	var stop *stopError
	for _, err := range errs {
		if errors.As(err, &stop) {
			return err
		}
	}
	return errors.Join(errs...)
}

// convergeShard brings one shard to spec target, one step at a time,
// observing the live cluster before every step (roles, zones, sync).
func (u *upgrader) convergeShard(ctx workflow.Context, shard int, target spec.Cluster) error {
	r := u.r
	hash := u.targetHash
	if u.g.rollingBack() {
		hash = u.previousHash
	}
	if !u.g.rollingBack() {
		u.touched[shard] = true
	}
	downtime := slices.Contains(u.up.Downtime, shard)
	for range 32 {
		if err := u.checkpoint(ctx); err != nil {
			return err
		}
		obs, err := observeShard(ctx, r, shard)
		if err != nil {
			return err
		}
		steps, err := planner.ShardSteps(obs.State.ShardInstances(shard), upToDate(obs.Kube, hash), u.up.Placement.RequireDistinctZones, downtime)
		if err != nil {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("shard-%d: %v", shard, err), flow.ErrTypePlanRejected, err)
		}
		if len(steps) == 0 {
			u.prog.Instance = ""
			return nil
		}
		switch st := steps[0]; st.Kind {
		case planner.StepHandover:
			err = u.handover(ctx, obs, shard, st)
		default:
			err = u.recreate(ctx, obs, shard, st, target)
		}
		if err != nil {
			return err
		}
	}
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("shard-%d did not converge after 32 steps", shard), flow.ErrTypePlanRejected, nil)
}

// observeShard observes one shard's instances: a step of convergeShard
// plans from them alone, and an upgrade observes before every step, so an
// observation of the whole cluster made its history grow with the square of
// the shard count (and every handover relabelled every Pod). Open slots are
// not read: no migration runs during an upgrade, and the upgrade's first
// observation and every gate check them. Recorded histories hold whole-
// cluster observations here, from which the same steps follow.
func observeShard(ctx workflow.Context, r *flow.Run, shard int) (clusterstate.ObserveResult, error) {
	return flow.ObserveWith(ctx, r, clusterstate.ObserveInput{Shards: []int{shard}, SkipOpenSlots: true})
}

// observeAddrs observes the cluster for a gate before versionGateActivity,
// which needs only the instances' addresses and shards (the HealthGate
// activity checks Redis, open slots included).
func observeAddrs(ctx workflow.Context, r *flow.Run) (clusterstate.ObserveResult, error) {
	return flow.ObserveWith(ctx, r, clusterstate.ObserveInput{SkipOpenSlots: true})
}

func upToDate(pods []kube.InstanceStatus, hash string) map[int]bool {
	return planner.UpToDate(kube.SpecHashes(pods), hash)
}

// recreate replaces one instance's Pod with one running target and waits
// until it is back (a new process, in its role, in sync).
func (u *upgrader) recreate(ctx workflow.Context, obs clusterstate.ObserveResult, shard int, st planner.UpgradeStep, target spec.Cluster) error {
	r := u.r
	pods := flow.StatusByOrdinal(obs.Kube)
	p := pods[st.Ordinal]
	label := fmt.Sprintf("%s (shard-%d %s)", p.Pod, shard, st.Role)
	u.prog.Instance = p.Pod
	var before redisops.RunInfo
	if p.Ready && p.Addr() != "" {
		// Best effort: a node that cannot answer is replaced all the same.
		_ = r.Exec(ctx, probeOptions, "read run_id of "+label, flow.RedisActs.NodeRunInfo,
			redisops.RunInfoInput{Auth: u.auth, Addr: p.Addr(), Label: label}, &before)
	}
	inst := topology.Instance{Ordinal: st.Ordinal, Shard: shard, Role: st.Role, NodeID: p.NodeID}
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("recreate %s with %s", label, target.Image), flow.KubeActs.RecreateInstance,
		kube.RecreateInput{Spec: target, Instance: inst, Placement: render.Placement{RequireDistinctZones: u.up.Placement.RequireDistinctZones}}, nil); err != nil {
		return err
	}
	ready, err := flow.WaitReady(ctx, r, target, []topology.Instance{inst})
	if err != nil {
		return err
	}
	var after redisops.RunInfo
	if err := r.Exec(ctx, instanceWaitOptions, fmt.Sprintf("wait until %s runs a new process and is in sync", label), flow.RedisActs.WaitInstanceUpgraded,
		redisops.WaitUpgradedInput{Auth: u.auth, Addr: ready[st.Ordinal].Addr(), PreviousRunID: before.RunID, Role: st.Role,
			MaxLagBytes: *u.in.Upgrade.Gate.MaxLagBytes, Label: label}, &after); err != nil {
		return err
	}
	return r.Record(ctx, &audit.ImageChanged{Cluster: r.Meta.ClusterKey(), Ordinal: st.Ordinal, Image: target.Image, RedisVersion: after.Version})
}

// handover promotes an upgraded replica with CLUSTER FAILOVER and moves the
// role labels (and so the shard's Service) at once.
func (u *upgrader) handover(ctx workflow.Context, obs clusterstate.ObserveResult, shard int, st planner.UpgradeStep) error {
	r := u.r
	pods := flow.StatusByOrdinal(obs.Kube)
	from, to := pods[st.Ordinal], pods[st.To]
	label := fmt.Sprintf("shard-%d: %s -> %s", shard, from.Pod, to.Pod)
	u.prog.Instance = to.Pod
	if err := r.Exec(ctx, flow.LongOptions, "hand over "+label+" (CLUSTER FAILOVER)", flow.RedisActs.Handover,
		redisops.HandoverInput{Auth: u.auth, ReplicaAddr: to.Addr(), MaxLagBytes: *u.in.Upgrade.Gate.MaxLagBytes, Label: label}, nil); err != nil {
		return err
	}
	if err := flow.LabelRoles(ctx, r, u.up.Previous, u.auth, pods); err != nil {
		return err
	}
	if err := r.Record(ctx,
		&audit.RoleChanged{Cluster: r.Meta.ClusterKey(), Ordinal: st.To, Role: audit.RolePrimary, PreviousRole: audit.RoleReplica},
		&audit.RoleChanged{Cluster: r.Meta.ClusterKey(), Ordinal: st.Ordinal, Role: audit.RoleReplica, PreviousRole: audit.RolePrimary}); err != nil {
		return err
	}
	if u.g.rollingBack() {
		return nil
	}
	// The gate's probe client on the new primary at once: an upgraded
	// primary that refuses writes hands back to the old primary, which
	// still runs the previous spec, within seconds instead of after the bake.
	g := u.in.Upgrade.Gate
	err := r.Exec(ctx, handoverProbeOptions, "probe the new primary of "+label, flow.RedisActs.ProbePrimary,
		redisops.ProbePrimaryInput{Auth: u.auth, Addr: to.Addr(), Shard: shard, Probe: min(g.Probe.Duration, time.Second),
			MaxErrorRate: *g.MaxErrorRate, Label: label}, nil)
	if err == nil || temporal.IsCanceledError(err) || errors.Is(ctx.Err(), workflow.ErrCanceled) {
		return err
	}
	reason := gateReason(err)
	u.prog.GateEvaluations++
	u.prog.Gate = "failed: " + reason
	u.note(ctx, "gate", reason, "after the handover of "+label, true)
	if ferr := u.flush(ctx); ferr != nil {
		return ferr
	}
	return &stopError{reason: "health gate failed (after the handover of " + label + "): " + reason}
}

// gate evaluates the health gate once; a failure is a stopError.
func (u *upgrader) gate(ctx workflow.Context, label string) error {
	r := u.r
	if err := u.flush(ctx); err != nil {
		return err
	}
	u.prog.GateEvaluations++
	u.prog.Gate = "evaluating"
	r.Progress.Publish(ctx)
	summary, err := evaluateGate(ctx, r, u.gateCheck(), label)
	if err != nil && (temporal.IsCanceledError(err) || errors.Is(ctx.Err(), workflow.ErrCanceled)) {
		return err
	}
	if err != nil {
		reason := gateReason(err)
		u.prog.Gate = "failed: " + reason
		u.note(ctx, "gate", reason, label, true)
		if ferr := u.flush(ctx); ferr != nil {
			return ferr
		}
		return &stopError{reason: "health gate failed (" + label + "): " + reason}
	}
	u.prog.Gate = summary
	u.note(ctx, "gate", summary, label, false)
	return u.flush(ctx)
}

// gateCheck is what one health gate evaluation needs.
type gateCheck struct {
	Auth     redisops.Auth          `json:"auth"`
	Baseline map[string]kube.PodRun `json:"baseline,omitempty"`
	Gate     spec.Gate              `json:"gate"`
	// HookRuns are the user gates (hook runs at point upgrade-gate).
	HookRuns []planner.HookRun `json:"hookRuns,omitempty"`
}

func (u *upgrader) gateCheck() gateCheck {
	c := gateCheck{Auth: u.auth, Baseline: u.baseline, Gate: u.in.Upgrade.Gate}
	for _, hr := range u.plan.Hooks {
		if hr.Point == spec.UpgradeGate {
			c.HookRuns = append(c.HookRuns, hr)
		}
	}
	return c
}

// versionGateActivity marks upgrades (and bake children) whose gate is one
// activity, ClusterHealthGate, that reads the instances' addresses from
// Kubernetes itself. Before it, a gate was three activities and observed the
// whole cluster (ObserveCluster, one entry per instance) in the history only
// to pass the addresses to HealthGate: O(N) history bytes per gate, O(N²)
// over an upgrade. Recorded histories without the marker replay the three.
const versionGateActivity = "gate-one-activity"

// evaluateGate runs one health gate evaluation: the Pods are steady (no
// restart since the baseline), the cluster state, replication and a probe
// client pass, then the user gates. It returns the gate's summary; any
// error is a failed evaluation (or a cancellation). The upgrade and its
// bake child (bake.go) run the same steps.
func evaluateGate(ctx workflow.Context, r *flow.Run, c gateCheck, label string) (string, error) {
	g := c.Gate
	bounds := redisops.GateInput{Auth: c.Auth, MaxLagBytes: *g.MaxLagBytes, MaxErrorRate: *g.MaxErrorRate,
		MaxLatency: g.MaxLatency.Duration, Probe: g.Probe.Duration, Settle: g.Settle.Duration, Label: label}
	var rep redisops.GateReport
	var err error
	if workflow.GetVersion(ctx, versionGateActivity, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		rep, err = evaluateGateV0(ctx, r, c, bounds)
	} else {
		err = r.Exec(ctx, gateOptions, "health gate ("+label+"): pods steady, cluster state, replication, probe client", flow.StateActs.ClusterHealthGate,
			clusterstate.GateInput{Namespace: r.Meta.Namespace, Cluster: r.Meta.Cluster, Restarted: kube.RestartedOnly(c.Baseline), Gate: bounds}, &rep)
	}
	if err == nil {
		err = r.RunHooks(ctx, spec.UpgradeGate, c.HookRuns, flow.ClusterTarget)
	}
	return rep.Summary, err
}

// evaluateGateV0 is the Kubernetes and Redis part of a gate before
// versionGateActivity: the steady check, a whole-cluster observation for
// the addresses, then HealthGate.
func evaluateGateV0(ctx workflow.Context, r *flow.Run, c gateCheck, in redisops.GateInput) (redisops.GateReport, error) {
	label := in.Label
	var rep redisops.GateReport
	err := r.Exec(ctx, gateOptions, "health gate ("+label+"): pods steady", flow.KubeActs.CheckInstancesSteady,
		kube.SteadyInput{Namespace: r.Meta.Namespace, Cluster: r.Meta.Cluster, Baseline: c.Baseline, Label: label}, nil)
	if err != nil {
		return rep, err
	}
	obs, err := observeAddrs(ctx, r)
	if err != nil {
		return rep, err
	}
	in.Shards = map[string]int{}
	for _, p := range obs.Kube {
		if p.Addr() != "" {
			in.Addrs = append(in.Addrs, p.Addr())
			in.Shards[p.Addr()] = p.Shard
		}
	}
	err = r.Exec(ctx, gateOptions, "health gate ("+label+"): cluster state, replication, probe client", flow.RedisActs.HealthGate, in, &rep)
	return rep, err
}

// gateReason is the innermost message of a gate failure.
func gateReason(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

// rollback returns every shard the upgrade touched to the previous spec, the
// last one first, then restores the cluster's spec.
func (u *upgrader) rollback(ctx workflow.Context) error {
	r := u.r
	if err := u.fire(evRollBack, Decision{Reason: u.stop.reason}); err != nil {
		return err
	}
	u.prog.RolledBack = true
	u.stage(ctx, StageRollingBack)
	u.note(ctx, "rollback", "rolling back: "+u.stop.reason, "", false)
	var shards []int
	for _, s := range u.up.Shards() {
		if u.touched[s] {
			shards = append(shards, s)
		}
	}
	slices.Reverse(shards)
	for _, s := range shards {
		if err := u.convergeShard(ctx, s, u.up.Previous); err != nil {
			return fmt.Errorf("rollback of shard-%d failed: %w", s, err)
		}
	}
	if err := r.Exec(ctx, flow.QuickOptions, "record "+u.up.Previous.Image+" as the cluster's spec again", flow.KubeActs.FinishUpgrade,
		kube.FinishUpgradeInput{Spec: u.up.Previous, RolledBack: true}, nil); err != nil {
		return err
	}
	return u.flush(ctx)
}

// finish ends the operation: a rollback that completed ends rolled back with
// the reason (an abort as cancelled, a gate failure as failed with
// RolledBack); everything else goes through run.finish.
func (u *upgrader) finish(ctx workflow.Context, err error, summary string) (flow.Result, error) {
	r := u.r
	_ = u.fire(evEnd, Decision{}) // the only end: it cannot be refused
	if err == nil && u.stop != nil {
		msg := "rolled back: " + u.stop.reason
		var ev audit.Payload = &audit.OperationFailed{OperationID: r.Meta.OperationID, Cluster: r.Meta.ClusterKey(), Error: u.stop.reason, RolledBack: true}
		if u.stop.abort {
			ev = &audit.OperationCancelled{OperationID: r.Meta.OperationID, Cluster: r.Meta.ClusterKey(), Reason: u.stop.reason + "; rolled back"}
		}
		recErr := r.Record(ctx, ev)
		u.prog.Stage = StageDone
		r.Progress.End(ctx, flow.OutcomeRolledBack, msg)
		return r.Result(ctx, flow.OutcomeRolledBack, msg), recErr
	}
	if err != nil && u.stop != nil {
		err = fmt.Errorf("%w (rolling back because %s)", err, u.stop.reason)
	}
	if err == nil {
		summary = fmt.Sprintf("%s: %d shards upgraded", strings.TrimSuffix(summary, "."), u.prog.ShardsDone)
	}
	return r.Finish(ctx, err, summary)
}
