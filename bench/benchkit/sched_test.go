package benchkit

import (
	"math"
	"testing"
)

func TestQuantilesOf(t *testing.T) {
	// Buckets in seconds: [0,1ms) [1ms,2ms) [2ms,+Inf).
	buckets := []float64{0, 0.001, 0.002, math.Inf(1)}
	tests := map[string]struct {
		counts []uint64
		qs     []float64
		want   string
	}{
		"empty":                   {counts: []uint64{0, 0, 0}, qs: []float64{0.5}, want: "p50=0s"},
		"all in the first":        {counts: []uint64{10, 0, 0}, qs: []float64{0.5, 0.99}, want: "p50=1ms p99=1ms"},
		"median and tail":         {counts: []uint64{60, 39, 1}, qs: []float64{0.5, 0.9, 0.99}, want: "p50=1ms p90=2ms p99=2ms"},
		"the open bucket's floor": {counts: []uint64{0, 0, 5}, qs: []float64{0.5}, want: "p50=2ms"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := quantilesOf(buckets, tc.counts, tc.qs); got != tc.want {
				t.Errorf("quantilesOf(%v, %v) = %q, want %q", tc.counts, tc.qs, got, tc.want)
			}
		})
	}
}

func TestSchedSinceCounts(t *testing.T) {
	before := ReadSched()
	done := make(chan struct{})
	go func() { close(done) }()
	<-done
	if got := SchedSince(before, 0.5); got == "unavailable" {
		t.Fatalf("SchedSince: %s", got)
	}
}
