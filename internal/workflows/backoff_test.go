package workflows

import (
	"testing"
	"time"

	"github.com/dayops/dayops/internal/activities/auditlog"
	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/stretchr/testify/mock"
)

// TestGuardianBacksOffFromTheSameLosses: each recover the guardian starts
// for the same losses doubles the wait before the next (carried across
// continue-as-new); a healthy look starts over and ends the wait, so a new
// loss right after a repaired one is recovered at once.
func TestGuardianBacksOffFromTheSameLosses(t *testing.T) {
	healthy := assess(healWorld(false), nil)
	for name, tc := range map[string]struct {
		in           GuardianInput
		watches      []func(guardian.WatchInput) guardian.WatchResult
		wantAttempts int
		wantWait     time.Duration
		// waitLeft: a wait after a recover still runs when the run starts.
		waitLeft bool
	}{
		"first":  {watches: []func(guardian.WatchInput) guardian.WatchResult{lostPrimary}, wantAttempts: 1, wantWait: 15 * time.Second},
		"fourth": {in: GuardianInput{RecoverAttempts: 3, RecoverFor: "lost [0]; open: "}, watches: []func(guardian.WatchInput) guardian.WatchResult{lostPrimary}, wantAttempts: 4, wantWait: 2 * time.Minute},
		"healed": {in: GuardianInput{RecoverAttempts: 3, RecoverFor: "lost [0]; open: "}, watches: []func(guardian.WatchInput) guardian.WatchResult{
			func(guardian.WatchInput) guardian.WatchResult {
				return guardian.WatchResult{Observation: healthy, Observations: 1}
			}}, waitLeft: true},
	} {
		t.Run(name, func(t *testing.T) {
			env := healEnv(t)
			watchesOf(env, tc.watches...)
			env.OnActivity(auditActs.RecordEvents, mock.Anything, mock.Anything).Return(auditlog.RecordResult{}, nil)
			env.OnActivity(guardianActs.EnsureReadServices, mock.Anything, mock.Anything).Return(nil)
			env.OnActivity(guardianActs.StartRecover, mock.Anything, mock.Anything).Return(guardian.StartRecoverResult{Started: true}, nil)
			in := tc.in
			in.Namespace, in.Cluster, in.Known, in.Iterations = "default", "orders", healthy.Assessment.Known, len(tc.watches)
			start := env.Now()
			if tc.waitLeft {
				in.RecoverNotBefore = start.Add(10 * time.Second)
			}
			env.ExecuteWorkflow(Guardian, in)
			next := continuedAs(t, env.GetWorkflowError())
			if next.RecoverAttempts != tc.wantAttempts {
				t.Errorf("attempts %d, want %d (for %q)", next.RecoverAttempts, tc.wantAttempts, next.RecoverFor)
			}
			if tc.waitLeft && !next.RecoverNotBefore.IsZero() {
				t.Errorf("healthy again, yet the next recover waits until %s (%s after the start)", next.RecoverNotBefore, next.RecoverNotBefore.Sub(start))
			}
			if tc.wantWait > 0 {
				if wait := next.RecoverNotBefore.Sub(start); wait < tc.wantWait || wait > tc.wantWait+time.Second {
					t.Errorf("next recover not before %s after the start, want %s", wait, tc.wantWait)
				}
			}
		})
	}
}
