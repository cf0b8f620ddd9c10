package benchkit

import (
	"fmt"
	"math"
	"runtime/metrics"
	"slices"
	"time"
)

// schedLatencies is the Go runtime's histogram of the time goroutines
// spent runnable before they ran: in a process that both moves data and
// times round trips (the mover's pacer PINGs), the part of a measured
// round trip that is the process' own queue, not the server's.
const schedLatencies = "/sched/latencies:seconds"

// SchedSnapshot is a reading of this process' scheduling latencies.
type SchedSnapshot struct{ h *metrics.Float64Histogram }

// ReadSched reads this process' scheduling latencies so far.
func ReadSched() SchedSnapshot {
	s := []metrics.Sample{{Name: schedLatencies}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return SchedSnapshot{}
	}
	return SchedSnapshot{h: s[0].Value.Float64Histogram()}
}

// SchedSince renders the quantiles qs of the scheduling latencies between
// before and now, e.g. "p50=12µs p99=1.2ms n=53012".
func SchedSince(before SchedSnapshot, qs ...float64) string {
	after := ReadSched()
	if after.h == nil {
		return "unavailable"
	}
	counts := slices.Clone(after.h.Counts)
	if before.h != nil && len(before.h.Counts) == len(counts) {
		for i := range counts {
			counts[i] -= before.h.Counts[i]
		}
	}
	return fmt.Sprintf("%s n=%d", quantilesOf(after.h.Buckets, counts, qs), sum(counts))
}

// quantilesOf renders the quantiles qs of a histogram (counts[i] between
// buckets[i] and buckets[i+1]) by each bucket's upper bound.
func quantilesOf(buckets []float64, counts []uint64, qs []float64) string {
	n := sum(counts)
	var out string
	for _, q := range qs {
		v := 0.0
		if n > 0 {
			want := uint64(q*float64(n) + 0.5)
			var seen uint64
			for i, c := range counts {
				seen += c
				if seen >= max(1, want) {
					v = buckets[i+1]
					if math.IsInf(v, 1) {
						v = buckets[i]
					}
					break
				}
			}
		}
		if out != "" {
			out += " "
		}
		out += fmt.Sprintf("p%g=%s", q*100, time.Duration(v*float64(time.Second)).Round(time.Microsecond))
	}
	return out
}

func sum(c []uint64) uint64 {
	var n uint64
	for _, v := range c {
		n += v
	}
	return n
}
