package redistest

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// WriterOptions shape the writing load.
type WriterOptions struct {
	// Keys is the size of the key space written (default 10000).
	Keys int
	// Workers write in parallel, each on its own share of the keys
	// (default 4), so the writes to one key are sequential.
	Workers int
	// ValueSize pads values to this many bytes (default 16).
	ValueSize int
	// Prefix of the keys (default "w:").
	Prefix string
	// Interval between two writes of one worker (default 0: as fast as
	// possible).
	Interval time.Duration
	// WaitReplicas, when set, acknowledges a write only once WAIT has seen
	// it on that many replicas (within WaitTimeout, default 200ms); a write
	// the replicas did not confirm counts as failed (outcome unknown). It is
	// what a client that must not lose a write when its primary's node is
	// lost does: Redis replicates asynchronously, so a write the primary
	// acknowledged an instant before its process and Pod vanished may not
	// have reached the replica Redis then promotes.
	WaitReplicas int
	WaitTimeout  time.Duration
	// CheckPrevious writes with SET ... GET and checks the value each write
	// replaced: it must be the key's last acknowledged value or one whose
	// write had an unknown outcome. Anything older means an acknowledged
	// write was lost, caught the moment it happens (Verify, at the end,
	// sees only the keys not written again since). Counted in
	// WriterStats.Lost.
	CheckPrevious bool
}

// Writer writes continuously through a cluster client and records, per key,
// the last acknowledged value and the values written after it whose outcome
// is unknown (the command failed, so it may or may not have been applied).
type Writer struct {
	opts   WriterOptions
	client redis.UniversalClient
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	keys     []keyState
	acked    int64
	failed   int64
	lost     int64
	lostErr  error
	firstErr error // the first loss (lostErr is the last)
	started  time.Time
	lastErr  error
	// repeated counts writes that found their own value: run twice.
	repeated int64
	lat      []time.Duration
	running  atomic.Bool
	asked    map[string]*redis.Client // by address: the targets of ASK redirections
}

type keyState struct {
	acked int64   // last acknowledged sequence, 0 = none
	maybe []int64 // sequences written after acked with an unknown outcome
}

// StartWriter starts writing until Stop.
func StartWriter(ctx context.Context, client redis.UniversalClient, opts WriterOptions) *Writer {
	if opts.Keys <= 0 {
		opts.Keys = 10000
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.ValueSize <= 0 {
		opts.ValueSize = 16
	}
	if opts.Prefix == "" {
		opts.Prefix = "w:"
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Writer{opts: opts, client: client, cancel: cancel, keys: make([]keyState, opts.Keys), started: time.Now()}
	w.running.Store(true)
	for id := range opts.Workers {
		w.wg.Go(func() { w.run(ctx, id) })
	}
	return w
}

// Key returns the name of key i.
func (w *Writer) Key(i int) string { return w.opts.Prefix + strconv.Itoa(i) }

func (w *Writer) value(seq int64) string {
	v := strconv.FormatInt(seq, 10) + ":"
	if len(v) < w.opts.ValueSize {
		v += strings.Repeat("x", w.opts.ValueSize-len(v))
	}
	return v
}

// set writes one value and, with WaitReplicas, waits for the replicas on the
// key's primary (SET and WAIT in one round trip on that node's connection).
// With CheckPrevious it returns the value the write replaced (had is false
// when the key did not exist). at is the address of the node that ran it,
// when the writer picked it (WaitReplicas on a cluster).
func (w *Writer) set(ctx context.Context, key, val string) (prev string, had bool, at string, err error) {
	var node redis.Cmdable = w.client
	cc, isCluster := w.client.(*redis.ClusterClient)
	if w.opts.WaitReplicas <= 0 {
		if !w.opts.CheckPrevious {
			return "", false, "", w.client.Set(ctx, key, val, 0).Err()
		}
		prev, had, err := previous(w.client.SetArgs(ctx, key, val, redis.SetArgs{Get: true}))
		return prev, had, "", err
	}
	if isCluster {
		c, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return "", false, "", err
		}
		node, at = c, c.Options().Addr
	}
	set, wait, err := w.setWait(ctx, node, false, key, val)
	if addr, ok := askedTo(err); ok && isCluster {
		// The slot is open and the key is not here (moved, or new): the
		// target takes it after ASKING, and WAIT runs there.
		at = addr + " (asked)"
		set, wait, err = w.setWait(ctx, w.askClient(cc, addr), true, key, val)
	}
	if errors.Is(err, redis.Nil) && wait.Err() == nil {
		err = nil // SET ... GET of a new key
	}
	if err != nil {
		// The node is gone or no longer owns the slot: unlike the cluster
		// client's own commands, a command sent to one node does not
		// refresh the slot map, so refresh it, and pause so that a dead
		// node is not redialled in a hot loop (that exhausts the host's
		// ephemeral ports for everyone).
		if isCluster {
			cc.ReloadState(ctx)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
		return "", false, at, err
	}
	if w.opts.CheckPrevious {
		if prev, had, err = previous(set); err != nil {
			return "", false, at, err
		}
	}
	if n := wait.Val(); n < int64(w.opts.WaitReplicas) {
		return prev, had, at, fmt.Errorf("%w: %d of %d replicas have the write", errWait, n, w.opts.WaitReplicas)
	}
	return prev, had, at, nil
}

// setWait sends SET (after ASKING when asking) and WAIT in one pipeline.
func (w *Writer) setWait(ctx context.Context, node redis.Cmdable, asking bool, key, val string) (*redis.StatusCmd, *redis.IntCmd, error) {
	timeout := cmp.Or(w.opts.WaitTimeout, 200*time.Millisecond)
	var set *redis.StatusCmd
	var wait *redis.IntCmd
	_, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		if asking {
			p.Do(ctx, "asking")
		}
		set = p.SetArgs(ctx, key, val, redis.SetArgs{Get: w.opts.CheckPrevious})
		wait = redis.NewIntCmd(ctx, "wait", w.opts.WaitReplicas, timeout.Milliseconds())
		return p.Process(ctx, wait)
	})
	if err == nil || errors.Is(err, redis.Nil) {
		err = cmp.Or(set.Err(), wait.Err()) // ASKING's OK aside
	}
	return set, wait, err
}

// askedTo reads an ASK redirection's address.
func askedTo(err error) (string, bool) {
	f := strings.Fields(fmt.Sprint(err))
	if err == nil || len(f) != 3 || f[0] != "ASK" {
		return "", false
	}
	return f[2], true
}

// askClient is a client of the node at addr with cc's credentials.
func (w *Writer) askClient(cc *redis.ClusterClient, addr string) *redis.Client {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c, ok := w.asked[addr]; ok {
		return c
	}
	o := cc.Options()
	c := redis.NewClient(&redis.Options{Addr: addr, Username: o.Username, Password: o.Password, Protocol: 2,
		DisableIdentity: true, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout})
	if w.asked == nil {
		w.asked = map[string]*redis.Client{}
	}
	w.asked[addr] = c
	return c
}

// errWait: the write ran on the primary but WAIT did not see it on enough
// replicas in time (its outcome is unknown).
var errWait = errors.New("WAIT")

// previous reads the answer of SET ... GET.
func previous(c *redis.StatusCmd) (string, bool, error) {
	v, err := c.Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return v, true, nil
}

// seqOf is the sequence number a value starts with.
func seqOf(v string) int64 {
	seq, _, _ := strings.Cut(v, ":")
	n, _ := strconv.ParseInt(seq, 10, 64)
	return n
}

func (w *Writer) run(ctx context.Context, id int) {
	seq := int64(0)
	for ctx.Err() == nil {
		seq++
		for k := id; k < w.opts.Keys; k += w.opts.Workers {
			if ctx.Err() != nil {
				return
			}
			start := time.Now()
			prev, had, at, err := w.set(ctx, w.Key(k), w.value(seq))
			d := time.Since(start)
			w.mu.Lock()
			st := &w.keys[k]
			if w.opts.CheckPrevious && (err == nil || errors.Is(err, errWait)) {
				// The SET ran: what it replaced must be the last acknowledged
				// value or one of unknown outcome.
				n := int64(0)
				if had {
					n = seqOf(prev)
				}
				switch {
				case n == seq:
					// The value being written: the SET ran twice (the client
					// retried the pipeline after a network error that came
					// after the server had run it). Nothing was replaced but
					// this write's own first run.
					w.repeated++
				case n != st.acked && !slices.Contains(st.maybe, n):
					w.lost++
					w.lostErr = w.lossError(k, n, st.acked, seq, at)
					if w.firstErr == nil {
						w.firstErr = w.lostErr
					}
				}
			}
			if err == nil {
				st.acked, st.maybe = seq, nil
				w.acked++
				w.lat = append(w.lat, d)
			} else if !errors.Is(err, context.Canceled) {
				st.maybe = append(st.maybe, seq)
				w.failed++
				w.lastErr = err
			} else {
				st.maybe = append(st.maybe, seq)
			}
			w.mu.Unlock()
			if w.opts.Interval > 0 {
				select {
				case <-ctx.Done():
					return
				case <-time.After(w.opts.Interval):
				}
			}
		}
	}
}

// lossError describes a write that found seq n in key k's place where
// acked was acknowledged: when (since the writer started), on which node,
// and how old n is in passes over the key space.
func (w *Writer) lossError(k int, n, acked, seq int64, at string) error {
	where := ""
	if at != "" {
		where = " on " + at
	}
	return fmt.Errorf("%s: replaced seq %d, last acknowledged %d (pass %d, %s after the writer started%s)",
		w.Key(k), n, acked, seq, time.Since(w.started).Round(time.Millisecond), where)
}

// WriterStats counts the writes.
type WriterStats struct {
	Acked  int64
	Failed int64
	// Lost counts the writes that replaced an older value than the key's
	// last acknowledged one (CheckPrevious only): acknowledged writes lost.
	Lost    int64
	LostErr error // the last loss
	// FirstLost is the first loss (LostErr the last).
	FirstLost error
	LastErr   error
	// Repeated counts writes whose SET ran twice (the client retried it
	// after a network error): each found its own value, not a lost one.
	Repeated int64
}

// Stop stops the writers and waits for them.
func (w *Writer) Stop() WriterStats {
	w.cancel()
	w.wg.Wait()
	w.running.Store(false)
	w.mu.Lock()
	for _, c := range w.asked {
		_ = c.Close()
	}
	w.asked = nil
	w.mu.Unlock()
	return w.Stats()
}

// Stats returns the counts so far.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return WriterStats{Acked: w.acked, Failed: w.failed, Lost: w.lost, LostErr: w.lostErr, FirstLost: w.firstErr, LastErr: w.lastErr, Repeated: w.repeated}
}

// Latency summarises the acknowledged writes' latencies since the last call
// (and starts a new period).
type Latency struct {
	Count         int
	P50, P99, Max time.Duration
}

func (l Latency) String() string {
	return fmt.Sprintf("p50 %s p99 %s max %s (n=%d)", l.P50.Round(time.Microsecond), l.P99.Round(time.Microsecond), l.Max.Round(time.Microsecond), l.Count)
}

// TakeLatency returns the latency summary since the previous call.
func (w *Writer) TakeLatency() Latency {
	w.mu.Lock()
	lat := w.lat
	w.lat = nil
	w.mu.Unlock()
	if len(lat) == 0 {
		return Latency{}
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	return Latency{Count: len(lat), P50: q(0.50), P99: q(0.99), Max: lat[len(lat)-1]}
}

// Verify reads every key written and checks it holds the last acknowledged
// value, or a later value whose write had an unknown outcome. It returns the
// number of keys checked and an error listing the first problems.
func (w *Writer) Verify(ctx context.Context, client redis.UniversalClient) (int, error) {
	w.mu.Lock()
	keys := make([]keyState, len(w.keys))
	for i, k := range w.keys {
		keys[i] = keyState{acked: k.acked, maybe: slices.Clone(k.maybe)}
	}
	w.mu.Unlock()
	// While the writer runs, a value newer than the snapshot is a write made
	// after it; values are increasing per key, so only older ones are lost.
	running := w.running.Load()
	var problems []string
	lost := 0
	checked := 0
	const chunk = 1000
	for start := 0; start < len(keys); start += chunk {
		end := min(start+chunk, len(keys))
		cmds := make([]*redis.StringCmd, 0, end-start)
		_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for k := start; k < end; k++ {
				cmds = append(cmds, p.Get(ctx, w.Key(k)))
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return checked, fmt.Errorf("verify: read keys: %w", err)
		}
		for i, c := range cmds {
			k := start + i
			st := keys[k]
			if st.acked == 0 && len(st.maybe) == 0 {
				continue
			}
			checked++
			got, err := c.Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return checked, fmt.Errorf("verify: get %s: %w", w.Key(k), err)
			}
			ok := false
			if errors.Is(err, redis.Nil) {
				ok = st.acked == 0
			} else {
				seq, _, _ := strings.Cut(got, ":")
				n, _ := strconv.ParseInt(seq, 10, 64)
				ok = n == st.acked || slices.Contains(st.maybe, n) || (running && n > st.acked)
			}
			if !ok {
				lost++
				if len(problems) < 10 {
					problems = append(problems, fmt.Sprintf("%s: got %.20q, last acked seq %d", w.Key(k), got, st.acked))
				}
			}
		}
	}
	if lost > 0 {
		return checked, fmt.Errorf("verify: %d of %d keys lost an acknowledged write: %s", lost, checked, strings.Join(problems, "; "))
	}
	return checked, nil
}

// Fill writes n keys prefix+i (i in [0,n)) with values of size bytes through
// the cluster client, in pipelines of 1000 from several goroutines. The
// values are one byte repeated: cheap, and compressed to almost nothing in
// DUMP payloads and RDB files; FillRandom writes values that are not.
func Fill(ctx context.Context, client *redis.ClusterClient, prefix string, n, size, workers int) error {
	val := strings.Repeat("v", size)
	return fill(ctx, client, prefix, n, workers, func(int) string { return val })
}

// FillRandom is Fill with incompressible values: windows of one pseudo-random
// buffer (the same in every run), size+64 different ones spread over the
// keys, none of which LZF can shrink: what a cache
// of serialized or compressed payloads holds, and what a slot move or a
// backup of them costs (Redis' LZF finds nothing to compress).
func FillRandom(ctx context.Context, client *redis.ClusterClient, prefix string, n, size, workers int) error {
	buf := make([]byte, 2*size+64)
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(size))
	_, _ = rand.NewChaCha8(seed).Read(buf)
	pool := string(buf)
	return fill(ctx, client, prefix, n, workers, func(i int) string {
		off := (i * 7919) % (size + 64)
		return pool[off : off+size]
	})
}

// CountFilled counts the keys prefix+i (i in [0,n)) that exist: what is left
// of a Fill.
func CountFilled(ctx context.Context, client *redis.ClusterClient, prefix string, n int) (int, error) {
	found := 0
	const chunk = 1000
	for start := 0; start < n; start += chunk {
		var cmds []*redis.IntCmd
		_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < min(start+chunk, n); i++ {
				cmds = append(cmds, p.Exists(ctx, prefix+strconv.Itoa(i)))
			}
			return nil
		})
		if err != nil {
			return found, fmt.Errorf("count filled keys: %w", err)
		}
		for _, c := range cmds {
			found += int(c.Val())
		}
	}
	return found, nil
}

func fill(ctx context.Context, client *redis.ClusterClient, prefix string, n, workers int, value func(i int) string) error {
	if workers <= 0 {
		workers = 8
	}
	const chunk = 1000
	next := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for start := range next {
				_, err := client.Pipelined(ctx, func(p redis.Pipeliner) error {
					for i := start; i < min(start+chunk, n); i++ {
						p.Set(ctx, prefix+strconv.Itoa(i), value(i), 0)
					}
					return nil
				})
				if err != nil {
					errs <- fmt.Errorf("fill: %w", err)
					return
				}
			}
		})
	}
	var err error
feed:
	for start := 0; start < n; start += chunk {
		select {
		case next <- start:
		case err = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err != nil {
		return err
	}
	select {
	case err = <-errs:
		return err
	default:
		return nil
	}
}
