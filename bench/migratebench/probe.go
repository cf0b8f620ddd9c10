package migratebench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/noaddr"
)

// ProbeOptions shape the latency client.
type ProbeOptions struct {
	// Addrs are seed addresses of the cluster.
	Addrs []string
	// Rate is the requests per second sent whatever the replies do (open
	// loop).
	Rate int
	// Keys is the key space the probe reads and writes (prefix "probe:").
	Keys int
	// Timeout bounds one request; a request over it counts as an error.
	Timeout time.Duration
}

// Probe is an open-loop latency client on its own cluster client (its own
// connections): requests are due at fixed times (1/Rate apart) and each is
// sent at its due time whether or not earlier ones have been answered, so a
// stalled server shows as many slow requests, not as one slow request and a
// quiet client (coordinated omission). A request's latency is measured from
// its due time to its reply, so a late send (the probe itself waiting for
// CPU) counts too: it is what a client on this machine would see. Requests
// alternate GET and SET of 32-byte values on a key space of their own.
type Probe struct {
	opts   ProbeOptions
	client *redis.ClusterClient
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	hist   *hdrhistogram.Histogram
	errors int64
	last   error
}

// ProbeLatency summarises the requests due since the last Take.
type ProbeLatency struct {
	Count, Errors       int64
	P50, P99, P999, Max time.Duration
	// LastErr is the last error seen, if any.
	LastErr string
}

func (l ProbeLatency) String() string {
	return fmt.Sprintf("p50 %s p99 %s p99.9 %s max %s (n=%d, errors %d)", ms(l.P50), ms(l.P99), ms(l.P999), ms(l.Max), l.Count, l.Errors)
}

// StartProbe fills the probe's keys and starts sending.
func StartProbe(ctx context.Context, opts ProbeOptions) (*Probe, error) {
	if opts.Rate <= 0 {
		opts.Rate = 2000
	}
	if opts.Keys <= 0 {
		opts.Keys = 10000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	client := redis.NewClusterClient(noaddr.Guard(&redis.ClusterOptions{
		Addrs:           opts.Addrs,
		MaxRedirects:    16,
		DisableIdentity: true,
		Protocol:        2,
		// Enough connections that the pool never queues an open-loop
		// request behind a slow one on this machine's rates.
		PoolSize:     256,
		PoolTimeout:  opts.Timeout,
		ReadTimeout:  opts.Timeout,
		WriteTimeout: opts.Timeout,
	}))
	val := strings.Repeat("p", 32)
	if _, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range opts.Keys {
			p.Set(ctx, "probe:"+strconv.Itoa(i), val, 0)
		}
		return nil
	}); err != nil {
		client.Close()
		return nil, fmt.Errorf("probe: fill: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	p := &Probe{opts: opts, client: client, cancel: cancel, hist: newHist()}
	p.wg.Go(func() { p.run(ctx) })
	return p, nil
}

func newHist() *hdrhistogram.Histogram {
	// 1 µs .. 60 s, 3 significant digits.
	return hdrhistogram.New(1, int64(time.Minute/time.Microsecond), 3)
}

// run sends each request at its due time, each in its own goroutine so
// none waits for another's reply. It waits for the next due time on a
// thread of its own (dueClock): a Go timer under a millisecond fires up to
// a millisecond late when the process idles, and that lateness would count
// as the server's latency.
func (p *Probe) run(ctx context.Context) {
	interval := time.Second / time.Duration(p.opts.Rate)
	clock := newDueClock()
	start := time.Now()
	val := strings.Repeat("q", 32)
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for n := int64(0); ctx.Err() == nil; {
		now := time.Now()
		for ; ; n++ {
			due := start.Add(time.Duration(n) * interval)
			if due.After(now) {
				clock.sleepUntil(due)
				break
			}
			key := "probe:" + strconv.Itoa(rand.IntN(p.opts.Keys))
			write := n%2 == 1
			inflight.Go(func() {
				rctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
				defer cancel()
				var err error
				if write {
					err = p.client.Set(rctx, key, val, 0).Err()
				} else {
					err = p.client.Get(rctx, key).Err()
				}
				d := time.Since(due)
				if ctx.Err() != nil {
					return // stopping: not a measurement
				}
				p.record(d, err)
			})
		}
	}
}

func (p *Probe) record(d time.Duration, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.hist.RecordValue(max(1, d.Microseconds())) // over a minute: clipped by the histogram, counted below anyway
	if err != nil && !errors.Is(err, redis.Nil) {
		p.errors++
		p.last = err
	}
}

// Take returns the summary since the previous Take (or the start) and starts
// a new period. Every request's time counts, errors included (a client
// waited that long too).
func (p *Probe) Take() ProbeLatency {
	p.mu.Lock()
	h, errs, last := p.hist, p.errors, p.last
	p.hist, p.errors, p.last = newHist(), 0, nil
	p.mu.Unlock()
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	l := ProbeLatency{Count: h.TotalCount(), Errors: errs,
		P50: us(h.ValueAtQuantile(50)), P99: us(h.ValueAtQuantile(99)), P999: us(h.ValueAtQuantile(99.9)), Max: us(h.Max())}
	if last != nil {
		l.LastErr = last.Error()
	}
	return l
}

// Stop stops sending, waits for the requests in flight and closes the
// client.
func (p *Probe) Stop() {
	p.cancel()
	p.wg.Wait()
	p.client.Close()
}

// prober is the probe in this process (*Probe) or in a process of its own
// (*remoteProbe).
type prober interface {
	Take() ProbeLatency
	Stop()
}

// ServeProbe runs a Probe for a parent benchmark in another process (see
// Config.ProbeCommand): it prints "ready" once the probe's keys are written,
// answers each "take" line read from in with the ProbeLatency as one JSON
// line, and stops at the end of in.
func ServeProbe(ctx context.Context, opts ProbeOptions, in io.Reader, out io.Writer) error {
	p, err := StartProbe(ctx, opts)
	if err != nil {
		return err
	}
	defer p.Stop()
	if _, err := fmt.Fprintln(out, "ready"); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		if sc.Text() != "take" {
			return fmt.Errorf("probe: unknown request %q", sc.Text())
		}
		if err := enc.Encode(p.Take()); err != nil {
			return err
		}
	}
	return sc.Err()
}

// remoteProbe drives ServeProbe in a child process: the probe then shares
// neither the Go scheduler nor the garbage collector with the mover, as a
// real client would not.
type remoteProbe struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	stop sync.Once
}

func startProbeProcess(ctx context.Context, argv []string, opts ProbeOptions) (*remoteProbe, error) {
	args := append(slices.Clone(argv[1:]), "--addrs", strings.Join(opts.Addrs, ","), "--rate", strconv.Itoa(opts.Rate))
	cmd := exec.CommandContext(ctx, argv[0], args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("probe process: %w", err)
	}
	r := &remoteProbe{cmd: cmd, in: in, out: bufio.NewScanner(outPipe)}
	if !r.out.Scan() || r.out.Text() != "ready" {
		r.Stop()
		return nil, fmt.Errorf("probe process: no ready line (got %q): %v", r.out.Text(), r.out.Err())
	}
	return r, nil
}

// Take asks the child for its summary; a failure is reported in LastErr
// and as one error.
func (r *remoteProbe) Take() ProbeLatency {
	var l ProbeLatency
	if _, err := fmt.Fprintln(r.in, "take"); err != nil {
		return ProbeLatency{Errors: 1, LastErr: "probe process: " + err.Error()}
	}
	if !r.out.Scan() {
		return ProbeLatency{Errors: 1, LastErr: fmt.Sprintf("probe process: no answer: %v", r.out.Err())}
	}
	if err := json.Unmarshal(r.out.Bytes(), &l); err != nil {
		return ProbeLatency{Errors: 1, LastErr: "probe process: " + err.Error()}
	}
	return l
}

// Stop ends the child (its input closes) and waits for it.
func (r *remoteProbe) Stop() {
	r.stop.Do(func() {
		r.in.Close()
		_ = r.cmd.Wait()
	})
}
