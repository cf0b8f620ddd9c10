package chaosbench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/bench/benchkit"
)

// Cost is what guarding an idle, healthy cluster costs over Window.
type Cost struct {
	Window    time.Duration
	Instances int
	// WorkerCPU is the worker process's CPU time over the window (the
	// guardian is all it runs then).
	WorkerCPU time.Duration
	// RedisCommands counts the commands the cluster's instances executed
	// (INFO commandstats) over the window, without replication's own
	// (REPLCONF, PSYNC, SYNC) and without the two INFO readings.
	RedisCommands int64
	// Observations and GuardianCommands are the guardian's own counters
	// (they move when a watch returns).
	Observations, GuardianCommands int64
}

// CPUPercent is the worker's CPU as a percentage of one core.
func (c Cost) CPUPercent() float64 { return 100 * c.WorkerCPU.Seconds() / c.Window.Seconds() }

// CPUPerInstanceMinute is worker CPU per guarded instance per minute.
func (c Cost) CPUPerInstanceMinute() time.Duration {
	return time.Duration(float64(c.WorkerCPU) / float64(max(c.Instances, 1)) / c.Window.Minutes())
}

// CommandsPerInstanceMinute is Redis commands per guarded instance per
// minute.
func (c Cost) CommandsPerInstanceMinute() float64 {
	return float64(c.RedisCommands) / float64(max(c.Instances, 1)) / c.Window.Minutes()
}

func (c Cost) String() string {
	own := "the guardian's own counters did not move: its watch reports once a minute when nothing changes"
	if c.Observations > 0 {
		own = fmt.Sprintf("%d observations reported, %.1f commands each, by the guardian's own count",
			c.Observations, float64(c.GuardianCommands)/float64(c.Observations))
	}
	return fmt.Sprintf("guardian cost over %s idle, %d instances: worker CPU %.2f%% of one core = %s per instance per minute; "+
		"%d Redis commands = %.0f per instance per minute (%s)",
		c.Window.Round(time.Second), c.Instances, c.CPUPercent(), c.CPUPerInstanceMinute().Round(time.Millisecond),
		c.RedisCommands, c.CommandsPerInstanceMinute(), own)
}

// MeasureCost measures guarding the (idle, healthy) cluster for d: run it
// before the writer starts.
func (b *Bench) MeasureCost(ctx context.Context, d time.Duration) (Cost, error) {
	if _, err := b.Credentials(ctx); err != nil {
		return Cost{}, err
	}
	h0, err := b.Health(ctx)
	if err != nil {
		return Cost{}, err
	}
	cpu0, err := benchkit.ProcCPU(b.Worker.PID())
	if err != nil {
		return Cost{}, err
	}
	calls0, err := b.redisCalls(ctx)
	if err != nil {
		return Cost{}, err
	}
	began := time.Now()
	if err := benchkit.Sleep(ctx, d); err != nil {
		return Cost{}, err
	}
	calls1, err := b.redisCalls(ctx)
	if err != nil {
		return Cost{}, err
	}
	cpu1, err := benchkit.ProcCPU(b.Worker.PID())
	if err != nil {
		return Cost{}, err
	}
	window := time.Since(began)
	h1, err := b.Health(ctx)
	if err != nil {
		return Cost{}, err
	}
	c := Cost{Window: window, Instances: len(calls1), WorkerCPU: cpu1 - cpu0,
		Observations: h1.Observations - h0.Observations, GuardianCommands: h1.RedisCommands - h0.RedisCommands}
	for addr, n := range calls1 {
		m, ok := calls0[addr]
		if !ok {
			return Cost{}, fmt.Errorf("%s answered the second INFO only", addr)
		}
		c.RedisCommands += n - m - 1 // the first reading's INFO is counted in the second
	}
	return c, nil
}

// redisCalls reads INFO commandstats of every instance (found through
// Kubernetes, not the API, whose cluster view would issue commands).
func (b *Bench) redisCalls(ctx context.Context) (map[string]int64, error) {
	ps, err := b.pods(ctx, "")
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var errs []error
	for _, p := range ps {
		addr := benchkit.PodAddr(p.Status.PodIP)
		wg.Go(func() {
			rc := redis.NewClient(&redis.Options{Addr: addr, Password: b.password, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, MaxRetries: -1})
			defer rc.Close()
			info, err := rc.Info(ctx, "commandstats").Result()
			var n int64
			if err == nil {
				n, err = benchkit.CommandCalls(info, "replconf", "psync", "sync")
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", addr, err))
				return
			}
			out[addr] = n
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, fmt.Errorf("INFO commandstats: %v", errs)
	}
	return out, nil
}
