package migratebench

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/testutil/redistest"
)

// profiler records where the primaries' event loops spend their time during
// a move: INFO commandstats (time per command type, which every client
// queues behind) and the slow log (single commands of 1 ms or more, which
// stall every client outright), reset before the move.
type profiler struct {
	out io.Writer
}

const slowlogMicros = 1000

func (p *profiler) start(ctx context.Context, c *redistest.Cluster) error {
	if p == nil {
		return nil
	}
	for _, n := range c.Nodes() {
		cl := c.Pool.Client(n.Addr)
		if err := cl.ConfigSet(ctx, "slowlog-log-slower-than", strconv.Itoa(slowlogMicros)).Err(); err != nil {
			return fmt.Errorf("profile: %s: %w", n.Addr, err)
		}
		if err := cl.ConfigSet(ctx, "slowlog-max-len", "10000").Err(); err != nil {
			return fmt.Errorf("profile: %s: %w", n.Addr, err)
		}
		if err := cl.SlowLogReset(ctx).Err(); err != nil {
			return fmt.Errorf("profile: %s: %w", n.Addr, err)
		}
		if err := cl.ConfigResetStat(ctx).Err(); err != nil {
			return fmt.Errorf("profile: %s: %w", n.Addr, err)
		}
	}
	return nil
}

type cmdStat struct {
	name  string
	calls int64
	usec  int64
}

// report prints, per node, the event loop time by command (top 6) and the
// slow log grouped by command.
func (p *profiler) report(ctx context.Context, c *redistest.Cluster, label string, d time.Duration) {
	if p == nil {
		return
	}
	fmt.Fprintf(p.out, "profile %s (%.2f s):\n", label, d.Seconds())
	for _, n := range c.Nodes() {
		cl := c.Pool.Client(n.Addr)
		text, err := cl.Info(ctx, "commandstats").Result()
		if err != nil {
			fmt.Fprintf(p.out, "  %s: %v\n", n.Addr, err)
			continue
		}
		var stats []cmdStat
		var total int64
		for _, line := range strings.Split(text, "\n") {
			name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
			if !ok || !strings.HasPrefix(name, "cmdstat_") {
				continue
			}
			s := cmdStat{name: strings.TrimPrefix(name, "cmdstat_")}
			for _, f := range strings.Split(rest, ",") {
				k, v, _ := strings.Cut(f, "=")
				switch k {
				case "calls":
					s.calls, _ = strconv.ParseInt(v, 10, 64)
				case "usec":
					s.usec, _ = strconv.ParseInt(v, 10, 64)
				}
			}
			total += s.usec
			stats = append(stats, s)
		}
		slices.SortFunc(stats, func(a, b cmdStat) int { return int(b.usec - a.usec) })
		var parts []string
		for _, s := range stats[:min(6, len(stats))] {
			parts = append(parts, fmt.Sprintf("%s %d calls %.0f ms (%.0f us/call)", s.name, s.calls, float64(s.usec)/1000, float64(s.usec)/float64(max(1, s.calls))))
		}
		fmt.Fprintf(p.out, "  %s busy %.0f ms (%.0f%% of the move): %s\n", n.Addr, float64(total)/1000, 100*float64(total)/1000/float64(d.Milliseconds()), strings.Join(parts, "; "))
		slow, err := cl.SlowLogGet(ctx, -1).Result()
		if err != nil || len(slow) == 0 {
			continue
		}
		type agg struct {
			n        int
			max, sum time.Duration
		}
		by := map[string]*agg{}
		for _, e := range slow {
			name := "?"
			if len(e.Args) > 0 {
				name = strings.ToLower(e.Args[0])
				if name == "cluster" && len(e.Args) > 1 {
					name += " " + strings.ToLower(e.Args[1])
				}
			}
			a := by[name]
			if a == nil {
				a = &agg{}
				by[name] = a
			}
			a.n++
			a.sum += e.Duration
			a.max = max(a.max, e.Duration)
		}
		parts = parts[:0]
		for _, name := range slices.Sorted(maps.Keys(by)) {
			a := by[name]
			parts = append(parts, fmt.Sprintf("%s x%d (max %s)", name, a.n, ms(a.max)))
		}
		fmt.Fprintf(p.out, "    commands of >= %d us: %s\n", slowlogMicros, strings.Join(parts, ", "))
	}
}
