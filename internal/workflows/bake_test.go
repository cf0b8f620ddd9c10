package workflows

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/workflows/upgrade"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
)

// runsOf counts, per workflow ID, the activities and the distinct runs
// (continue-as-new) that ran them.
type runsOf struct {
	mu         sync.Mutex
	activities map[string]int
	runs       map[string]map[string]bool
}

func watchRuns(env *testsuite.TestWorkflowEnvironment) *runsOf {
	r := &runsOf{activities: map[string]int{}, runs: map[string]map[string]bool{}}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		r.mu.Lock()
		defer r.mu.Unlock()
		id := info.WorkflowExecution.ID
		r.activities[id]++
		if r.runs[id] == nil {
			r.runs[id] = map[string]bool{}
		}
		r.runs[id][info.WorkflowExecution.RunID] = true
	})
	return r
}

// parent is the number of activities the upgrade itself ran.
func (r *runsOf) parent() int {
	n := 0
	for id, c := range r.activities {
		if !strings.Contains(id, "/bake-") {
			n += c
		}
	}
	return n
}

func (r *runsOf) bakeRuns(segment string) int {
	for id, runs := range r.runs {
		if strings.HasSuffix(id, "/bake-"+segment) {
			return len(runs)
		}
	}
	return 0
}

func withPerRun(t *testing.T, n int) {
	old := upgrade.BakeEvaluationsPerRun
	upgrade.BakeEvaluationsPerRun = n
	t.Cleanup(func() { upgrade.BakeEvaluationsPerRun = old })
}

// TestUpgradeLongBakeContinuesAsNew: a long bake's evaluations run in the
// bake child, which continues as new every upgrade.BakeEvaluationsPerRun
// evaluations and returns its verdict; the upgrade's own history does not
// grow with the bake (it runs as many activities for a 10 min bake as for
// a 1 min one).
func TestUpgradeLongBakeContinuesAsNew(t *testing.T) {
	withPerRun(t, 5)
	run := func(bake time.Duration) (Result, *upWorld, *runsOf) {
		w := newUpWorld(2)
		env := upgradeEnv(t, w)
		runs := watchRuns(env)
		env.ExecuteWorkflow(Upgrade, upgradeInput(spec.Upgrade{Image: "redis:7.0-next", AutoApprove: true, Bake: spec.Duration{Duration: bake}}))
		var res Result
		if err := env.GetWorkflowResult(&res); err != nil {
			t.Fatal(err)
		}
		return res, w, runs
	}
	long, w, runs := run(10 * time.Minute)
	if long.Outcome != OutcomeSucceeded {
		t.Fatalf("outcome %s: %s", long.Outcome, long.Message)
	}
	// One evaluation in the upgrade, 40 in the child (every 15 s for
	// 10 min), one after the last batch.
	if got := long.Progress.Upgrade.GateEvaluations; got != 42 {
		t.Errorf("gate evaluations %d, want 42", got)
	}
	if got := len(slices.DeleteFunc(w.ops(), func(s string) bool { return s != "gate passed" })); got != 42 {
		t.Errorf("%d gates passed, want 42", got)
	}
	if got := runs.bakeRuns("1"); got != 8 {
		t.Errorf("the bake child ran %d runs, want 8 (40 evaluations, continuing as new every 5)", got)
	}
	short, _, shortRuns := run(time.Minute)
	if short.Outcome != OutcomeSucceeded || shortRuns.bakeRuns("1") != 1 {
		t.Fatalf("1 min bake: outcome %s (%s), %d child runs", short.Outcome, short.Message, shortRuns.bakeRuns("1"))
	}
	if runs.parent() != shortRuns.parent() {
		t.Errorf("the upgrade ran %d activities with a 10 min bake, %d with a 1 min bake: its history grows with the bake", runs.parent(), shortRuns.parent())
	}
	if !w.has(`"step_id":"upgrade/bake-1/gate/40"`) {
		t.Error("the child's last evaluation is not in the audit log")
	}
}

// TestUpgradeBakeFailsAfterContinueAsNew: an evaluation that fails in a
// later run of the bake child ends the bake with that verdict, and the
// upgrade rolls the canary back.
func TestUpgradeBakeFailsAfterContinueAsNew(t *testing.T) {
	withPerRun(t, 3)
	w := newUpWorld(2)
	w.gateFailsFrom = 9 // the first evaluation is the upgrade's, then the child's 8th
	env := upgradeEnv(t, w)
	runs := watchRuns(env)
	env.ExecuteWorkflow(Upgrade, upgradeInput(spec.Upgrade{Image: "redis:7.0-next", AutoApprove: true, Bake: spec.Duration{Duration: 10 * time.Minute}}))
	var res Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeRolledBack || !strings.Contains(res.Message, "health gate failed (canary bake): replica lags") {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Message)
	}
	if got := runs.bakeRuns("1"); got != 3 {
		t.Errorf("the bake child ran %d runs, want 3", got)
	}
	if got := res.Progress.Upgrade.GateEvaluations; got != 9 {
		t.Errorf("gate evaluations %d, want 9", got)
	}
	if !w.has(`"step_id":"upgrade/bake-1/gate/8"`) || !w.has("StepFailed") {
		t.Errorf("the failed evaluation is not in the audit log: %q", w.calls)
	}
	if !w.has("finish redis:7.0 rolledBack=true") || w.has("recreate 3") {
		t.Errorf("ops %q", w.ops())
	}
}

// TestUpgradePauseDuringBake: a pause cancels the bake child (no gate runs
// while paused) and a resume starts a new one for the rest of the bake.
func TestUpgradePauseDuringBake(t *testing.T) {
	w := newUpWorld(2)
	env := upgradeEnv(t, w)
	runs := watchRuns(env)
	gates := func() int { return len(slices.DeleteFunc(w.ops(), func(s string) bool { return s != "gate passed" })) }
	var atPause, atResume int
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(SignalPause, Decision{Actor: "erin"}) }, 40*time.Second)
	env.RegisterDelayedCallback(func() { atPause = gates() }, 50*time.Second)
	env.RegisterDelayedCallback(func() {
		atResume = gates()
		env.SignalWorkflow(SignalResume, Decision{Actor: "erin"})
	}, 3*time.Minute)
	env.ExecuteWorkflow(Upgrade, upgradeInput(spec.Upgrade{Image: "redis:7.0-next", AutoApprove: true, Bake: spec.Duration{Duration: 5 * time.Minute}}))
	var res Result
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeSucceeded {
		t.Fatalf("outcome %s: %s", res.Outcome, res.Message)
	}
	if atPause == 0 || atPause != atResume {
		t.Errorf("gates passed: %d at the pause, %d at the resume (none may run while paused)", atPause, atResume)
	}
	if runs.bakeRuns("1") != 1 || runs.bakeRuns("2") != 1 {
		t.Errorf("bake children: %d runs of the first, %d of the second; want 1 and 1", runs.bakeRuns("1"), runs.bakeRuns("2"))
	}
	if !w.has("event by erin StepCompleted") || !w.has("paused by erin") || !w.has("resumed by erin") {
		t.Error("pause/resume not in the audit log")
	}
}
