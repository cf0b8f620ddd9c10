package rdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
)

// DefaultPauseBound is the longest write pause a backup takes by default.
const DefaultPauseBound = backupstore.DefaultPauseBound

// Target is one shard's primary.
type Target struct {
	Shard int    `json:"shard"`
	Addr  string `json:"addr"`
}

// SnapshotRequest asks for one snapshot of every target at one point.
type SnapshotRequest struct {
	Targets    []Target
	Password   string
	PauseBound time.Duration
	Store      backupstore.Store
	BackupID   string
	// Client returns a control client for an address.
	Client func(addr string) *redis.Client
	// OnProgress is called about every second while files stream.
	OnProgress func(SnapshotProgress)
}

// SnapshotProgress is how far the files are.
type SnapshotProgress struct {
	BytesDone  int64 `json:"bytesDone"`
	BytesTotal int64 `json:"bytesTotal"` // known once every primary announced its file
	FilesDone  int   `json:"filesDone"`
	Files      int   `json:"files"`
}

// ShardSnapshot is one stored RDB.
type ShardSnapshot struct {
	Shard    int       `json:"shard"`
	Addr     string    `json:"addr"`
	Key      string    `json:"key"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"`
	Keys     int64     `json:"keys"`
	ForkedAt time.Time `json:"forkedAt"`
}

// SnapshotResult is what Snapshot stored.
type SnapshotResult struct {
	Shards       []ShardSnapshot         `json:"shards"`
	Consistency  backupstore.Consistency `json:"consistency"`
	RedisVersion string                  `json:"redisVersion"`
}

// Snapshot takes the cluster's consistency point and streams every shard's
// RDB into the store:
//
//  1. wait until no primary runs a background save or rewrite (a running
//     child would make SYNC wait for the next one);
//  2. open an authenticated replication connection to every primary;
//  3. CLIENT PAUSE <bound> WRITE on every primary, DBSIZE (the key count at
//     the point), SYNC on every connection, then poll INFO until each primary
//     has forked (total_forks grew): each child holds the data as of the
//     pause;
//  4. CLIENT UNPAUSE everywhere at once.
//
// If a primary has not forked when the bound is reached (a child started in
// between), the pause ends anyway (Redis would end it itself at the bound):
// that shard's snapshot is taken when it forks, and the result says the
// backup is not cluster-consistent. The pause measured is from sending the
// first CLIENT PAUSE to the last CLIENT UNPAUSE reply: an upper bound of
// what any client saw.
func Snapshot(ctx context.Context, req SnapshotRequest) (SnapshotResult, error) {
	if req.PauseBound <= 0 {
		req.PauseBound = DefaultPauseBound
	}
	n := len(req.Targets)
	if n == 0 {
		return SnapshotResult{}, errors.New("snapshot: no primary")
	}
	sn := &snapshot{req: req, conns: make([]*syncConn, n), forked: make([]bool, n)}
	defer func() {
		for _, c := range sn.conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err := sn.connect(ctx); err != nil {
		return sn.res, err
	}
	sn.pause(ctx)
	sn.unpause(ctx)
	err := sn.stream(ctx)
	return sn.res, err
}

// snapshot is one run of Snapshot: a replication connection and whether it
// forked at the pause, per target, and the notes on what went wrong.
type snapshot struct {
	req    SnapshotRequest
	res    SnapshotResult
	conns  []*syncConn
	forked []bool
	// pausedAt and deadline bound the pause.
	pausedAt, deadline time.Time
	notesMu            sync.Mutex
	notes              []string
}

func (sn *snapshot) note(s string) {
	sn.notesMu.Lock()
	sn.notes = append(sn.notes, s)
	sn.notesMu.Unlock()
}

// connect waits until no primary runs a background child, reads the Redis
// version and opens a replication connection to every primary.
func (sn *snapshot) connect(ctx context.Context) error {
	req := sn.req
	for _, t := range req.Targets {
		if err := waitNoChild(ctx, req.Client(t.Addr), time.Minute); err != nil {
			return err
		}
	}
	info, err := infoMap(ctx, req.Client(req.Targets[0].Addr), "server")
	if err != nil {
		return err
	}
	sn.res.RedisVersion = info["redis_version"]
	for i, t := range req.Targets {
		if sn.conns[i], err = dialSync(ctx, t.Addr, req.Password); err != nil {
			return err
		}
	}
	return nil
}

// pause is the consistency point: every primary pauses writes and forks
// for its SYNC, all at once, within the bound.
func (sn *snapshot) pause(ctx context.Context) {
	req := sn.req
	sn.res.Shards = make([]ShardSnapshot, len(req.Targets))
	sn.pausedAt = time.Now()
	sn.deadline = sn.pausedAt.Add(req.PauseBound)
	sn.res.Consistency = backupstore.Consistency{At: sn.pausedAt.UTC(), PauseBoundMS: req.PauseBound.Milliseconds()}
	var wg sync.WaitGroup
	for i := range req.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sn.pauseOne(ctx, i)
		}()
	}
	wg.Wait()
}

// pauseOne pauses target i's writes, counts its keys, starts its SYNC and
// waits until it forked (or the bound passed), noting what went wrong.
func (sn *snapshot) pauseOne(ctx context.Context, i int) {
	t := sn.req.Targets[i]
	synced := false
	defer func() {
		if !synced {
			// Whatever failed, the shard is still snapshotted (at its
			// own point); a connection that cannot even send SYNC
			// fails the stream below.
			_ = sn.conns[i].start()
		}
	}()
	c := sn.req.Client(t.Addr)
	pctx, cancel := context.WithDeadline(ctx, sn.deadline)
	defer cancel()
	pauseMS := strconv.FormatInt(max(sn.req.PauseBound.Milliseconds(), 1), 10)
	if err := c.Do(pctx, "client", "pause", pauseMS, "write").Err(); err != nil {
		sn.note(fmt.Sprintf("shard-%d: CLIENT PAUSE: %v", t.Shard, err))
		return
	}
	keys, err := c.DBSize(pctx).Result()
	if err != nil {
		sn.note(fmt.Sprintf("shard-%d: DBSIZE: %v", t.Shard, err))
		return
	}
	sn.res.Shards[i].Keys = keys
	before, err := infoMap(pctx, c, "persistence", "stats")
	if err != nil {
		sn.note(fmt.Sprintf("shard-%d: INFO: %v", t.Shard, err))
		return
	}
	if child(before) != "" {
		sn.note(fmt.Sprintf("shard-%d: a %s was running at the pause", t.Shard, child(before)))
		return
	}
	forks0, _ := strconv.ParseInt(before["total_forks"], 10, 64)
	synced = true
	if err := sn.conns[i].start(); err != nil {
		sn.note(fmt.Sprintf("shard-%d: SYNC: %v", t.Shard, err))
		return
	}
	for time.Now().Before(sn.deadline) {
		after, err := infoMap(pctx, c, "stats")
		if err != nil {
			break
		}
		if f, _ := strconv.ParseInt(after["total_forks"], 10, 64); f > forks0 {
			sn.forked[i] = true
			sn.res.Shards[i].ForkedAt = time.Now().UTC()
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
	sn.note(fmt.Sprintf("shard-%d: did not fork within the %s bound", t.Shard, sn.req.PauseBound))
}

// unpause ends the pause at once, everywhere, whatever happened, and sets
// the consistency the result reports.
func (sn *snapshot) unpause(ctx context.Context) {
	var maxPause atomic.Int64
	var uwg sync.WaitGroup
	for _, t := range sn.req.Targets {
		uwg.Add(1)
		go func() {
			defer uwg.Done()
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := sn.req.Client(t.Addr).Do(uctx, "client", "unpause").Err(); err != nil {
				sn.note(fmt.Sprintf("shard-%d: CLIENT UNPAUSE: %v (the pause ends by itself at the bound)", t.Shard, err))
			}
			d := time.Since(sn.pausedAt)
			for {
				old := maxPause.Load()
				if int64(d) <= old || maxPause.CompareAndSwap(old, int64(d)) {
					break
				}
			}
		}()
	}
	uwg.Wait()
	cons := &sn.res.Consistency
	cons.PausedMS = float64(maxPause.Load()) / float64(time.Millisecond)
	cons.ClusterConsistent = !slices.Contains(sn.forked, false)
	slices.Sort(sn.notes)
	cons.Note = strings.Join(sn.notes, "; ")
	if !cons.ClusterConsistent {
		cons.Note = "not cluster-consistent, per-shard points: " + cons.Note
	}
}

// snapshotCounters count the streamed bytes and files for OnProgress.
type snapshotCounters struct {
	bytesDone, bytesTotal atomic.Int64
	filesDone, headers    atomic.Int32
}

// stream streams every primary's RDB into the store, at once.
func (sn *snapshot) stream(ctx context.Context) error {
	n := len(sn.req.Targets)
	var ct snapshotCounters
	if sn.req.OnProgress != nil {
		defer everySecond(func() {
			p := SnapshotProgress{BytesDone: ct.bytesDone.Load(), FilesDone: int(ct.filesDone.Load()), Files: n}
			if int(ct.headers.Load()) == n {
				p.BytesTotal = ct.bytesTotal.Load()
			}
			sn.req.OnProgress(p)
		})()
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range sn.req.Targets {
		g.Go(func() error { return sn.streamOne(gctx, i, &ct) })
	}
	return g.Wait()
}

// streamOne stores target i's RDB and checks its size and key count.
func (sn *snapshot) streamOne(ctx context.Context, i int, ct *snapshotCounters) error {
	t := sn.req.Targets[i]
	size, err := sn.conns[i].header(ctx)
	if err != nil {
		return err
	}
	if !sn.forked[i] {
		sn.res.Shards[i].ForkedAt = time.Now().UTC() // at the latest
	}
	ct.bytesTotal.Add(size)
	ct.headers.Add(1)
	key := backupstore.ShardKey(sn.req.BackupID, t.Shard)
	head := &prefixCapture{r: sn.conns[i].body(size), max: 1 << 20}
	obj, err := sn.req.Store.Put(ctx, key, &countingReader{r: head, n: &ct.bytesDone})
	if err != nil {
		return fmt.Errorf("shard-%d: store %s: %w", t.Shard, key, err)
	}
	if obj.Size != size {
		return fmt.Errorf("shard-%d: %s: stored %d bytes, the primary announced %d", t.Shard, key, obj.Size, size)
	}
	s := &sn.res.Shards[i]
	s.Shard, s.Addr, s.Key, s.Size, s.SHA256 = t.Shard, t.Addr, key, obj.Size, obj.SHA256
	// The RDB says how many keys it holds; under the pause it must be
	// DBSIZE at the pause.
	n, err := rdbKeyCount(head.buf)
	switch {
	case err != nil && !sn.forked[i]:
		return fmt.Errorf("shard-%d: %s: cannot count its keys: %w", t.Shard, key, err)
	case err != nil:
		// keep DBSIZE at the pause
	case sn.forked[i] && n != s.Keys:
		return fmt.Errorf("shard-%d: %s holds %d keys, DBSIZE at the pause was %d: the snapshot is not the paused state", t.Shard, key, n, s.Keys)
	default:
		s.Keys = n
	}
	ct.filesDone.Add(1)
	return nil
}

// child names the background child a primary runs ("" for none).
func child(info map[string]string) string {
	switch {
	case info["rdb_bgsave_in_progress"] == "1":
		return "background save"
	case info["aof_rewrite_in_progress"] == "1":
		return "AOF rewrite"
	case info["module_fork_in_progress"] == "1":
		return "module fork"
	}
	return ""
}

func waitNoChild(ctx context.Context, c *redis.Client, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		info, err := infoMap(ctx, c, "persistence")
		if err != nil {
			return err
		}
		what := child(info)
		if what == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: a %s has run for more than %s", c.Options().Addr, what, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func infoMap(ctx context.Context, c *redis.Client, sections ...string) (map[string]string, error) {
	text, err := c.Info(ctx, sections...).Result()
	if err != nil {
		return nil, fmt.Errorf("%s: INFO %s: %w", c.Options().Addr, strings.Join(sections, " "), err)
	}
	return clusteradmin.ParseInfo(text), nil
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// everySecond calls fn once a second in the background until the returned
// stop is called.
func everySecond(fn func()) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return func() { close(done) }
}
