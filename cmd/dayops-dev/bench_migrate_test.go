package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
)

func TestSweepVariants(t *testing.T) {
	base := clusteradmin.DefaultLimits()
	type knob struct {
		Label  string
		Budget time.Duration
		Off    bool
		Copies int
	}
	tests := map[string]struct {
		in      string
		want    []knob
		wantErr string
	}{
		"latency budget with off": {
			in: "latency-budget=off,2ms, 500us",
			want: []knob{
				{Label: "latency-budget=off", Budget: base.LatencyBudget, Off: true, Copies: base.CopiesPerWave},
				{Label: "latency-budget=2ms", Budget: 2 * time.Millisecond, Copies: base.CopiesPerWave},
				{Label: "latency-budget=500us", Budget: 500 * time.Microsecond, Copies: base.CopiesPerWave},
			},
		},
		"an integer knob": {
			in:   "copies-per-wave=4",
			want: []knob{{Label: "copies-per-wave=4", Budget: base.LatencyBudget, Copies: 4}},
		},
		"unknown knob":     {in: "batch=1", wantErr: "want KNOB=V1,V2"},
		"no values":        {in: "latency-budget=", wantErr: "want KNOB=V1,V2"},
		"no equals sign":   {in: "latency-budget", wantErr: "want KNOB=V1,V2"},
		"zero budget":      {in: "latency-budget=0", wantErr: "latency-budget: \"0\""},
		"negative integer": {in: "copies-per-wave=-1", wantErr: "copies-per-wave: \"-1\""},
		"not a duration":   {in: "latency-budget=fast", wantErr: "want a positive duration"},
		"one bad among ok": {in: "sources=1,x", wantErr: "sources: \"x\""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			vs, err := sweepVariants(base, tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("sweepVariants(%q) error = %v, want one containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []knob
			for _, v := range vs {
				got = append(got, knob{Label: v.Label, Budget: v.Limits.LatencyBudget, Off: v.Limits.LatencyBudgetOff, Copies: v.Limits.CopiesPerWave})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("sweepVariants(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}
