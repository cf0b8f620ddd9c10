package kube

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSteadyRestartedOnly: against the baseline's restarted Pods alone
// (RestartedOnly, the health gate's compact input) every Pod gets the same
// verdict as against the whole baseline; only a Pod missing from the
// compact one is named without saying whether the upgrade recreated it.
func TestSteadyRestartedOnly(t *testing.T) {
	baseline := map[string]PodRun{
		"c-0": {UID: "u0", Ready: true},
		"c-1": {UID: "u1", Restarts: 2, Ready: true},
		"c-2": {UID: "u2", Ready: true},
		"c-3": {UID: "u3", Restarts: 1, Ready: true},
	}
	now := map[string]PodRun{
		"c-0": {UID: "u0", Ready: true},                // steady
		"c-1": {UID: "u1", Restarts: 2, Ready: true},   // restarted before the baseline only
		"c-2": {UID: "u2", Restarts: 1, Ready: true},   // restarted since
		"c-3": {UID: "u3b", Restarts: 1, Ready: true},  // recreated, then restarted
		"c-4": {UID: "u4", Ready: false},               // new, not Ready
		"c-5": {UID: "u5", Restarts: 3, Ready: true},   // new, restarted
		"c-6": {UID: "u6b", Restarts: 0, Ready: true},  // new, steady
		"c-7": {UID: "u1b", Restarts: 0, Ready: false}, // not Ready
	}
	compact := RestartedOnly(baseline)
	if want := []string{"c-1", "c-3"}; !slices.Equal(slices.Sorted(func(yield func(string) bool) {
		for k := range compact {
			if !yield(k) {
				return
			}
		}
	}), want) {
		t.Fatalf("RestartedOnly kept %v, want %v", compact, want)
	}
	want := map[string]string{
		"c-2": "pod c-2 restarted 1 time(s) since the upgrade began",
		"c-3": "pod c-3, recreated by the upgrade, restarted 1 time(s)",
		"c-4": "pod c-4 is not Ready",
		"c-5": "pod c-5, recreated by the upgrade, restarted 3 time(s)",
		"c-7": "pod c-7 is not Ready",
	}
	wantCompact := map[string]string{
		"c-2": "pod c-2 restarted 1 time(s) during the upgrade",
		"c-3": "pod c-3, recreated by the upgrade, restarted 1 time(s)",
		"c-4": "pod c-4 is not Ready",
		"c-5": "pod c-5 restarted 3 time(s) during the upgrade",
		"c-7": "pod c-7 is not Ready",
	}
	for name, in := range map[string]struct {
		in   SteadyInput
		want map[string]string
	}{
		"whole baseline": {SteadyInput{Baseline: baseline}, want},
		"restarted only": {SteadyInput{Baseline: compact, RestartedOnly: true}, wantCompact},
		"none restarted": {SteadyInput{Baseline: map[string]PodRun{}, RestartedOnly: true}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			got := map[string]string{}
			for pod, run := range now {
				for _, p := range steadyProblems(pod, run, in.in) {
					got[pod] = p
				}
			}
			w := in.want
			if w == nil { // with no Pod restarted at the baseline, any restart now fails
				w = map[string]string{"c-1": "pod c-1 restarted 2 time(s) during the upgrade", "c-2": "pod c-2 restarted 1 time(s) during the upgrade",
					"c-3": "pod c-3 restarted 1 time(s) during the upgrade", "c-4": "pod c-4 is not Ready",
					"c-5": "pod c-5 restarted 3 time(s) during the upgrade", "c-7": "pod c-7 is not Ready"}
			}
			if d := cmp.Diff(w, got); d != "" {
				t.Errorf("problems (-want +got):\n%s", d)
			}
		})
	}
}
