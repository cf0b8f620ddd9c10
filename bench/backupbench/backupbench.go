// Package backupbench measures dayops backup and restore on local
// redis-server processes (no Kubernetes: the same functions the activities
// run, on the same machine): backup throughput and the write pause at the
// consistency point, restore into the same shard count (each RDB loaded into
// a temporary instance over the replication protocol, copied with
// `redis-cli --rdb` and loaded by a new cluster node at start, as the
// restored Pods do), and restore into another shard count (pipelined RESTORE
// replay) against `redis-cli --cluster import` of the same temporary
// instances in the same run.
package backupbench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/dayops/dayops/bench/migratebench"
	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/redis/rdb"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/topology"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
)

// Config of a run.
type Config struct {
	Datasets []migratebench.Dataset
	// Primaries of the source cluster (default 3); Into is the shard count of
	// the replay restore (default 4).
	Primaries, Into int
	// Store is a backup store URL (default: a temporary directory).
	Store string
	// Dir is the parent of the nodes' directories (default $TMPDIR).
	Dir string
	// Tools: "dayops", "redis-cli" (the import comparison).
	Tools []string
	Log   *slog.Logger
}

// Result is one dataset's figures.
type Result struct {
	Dataset                   migratebench.Dataset
	Keys, Bytes               int64
	Backup                    time.Duration
	PauseMS                   float64
	Consistent                bool
	Load                      time.Duration // RDBs into temporary instances
	SameCount                 time.Duration // load + redis-cli --rdb + new nodes loading at start
	Replay                    time.Duration // pipelined RESTORE into Into shards
	Import                    time.Duration // redis-cli --cluster import of the same instances
	ImportKeys                int64
	ReplayErr, ImportErr, Err error
}

// Run measures every dataset and prints the table.
func Run(ctx context.Context, cfg Config, out io.Writer) ([]Result, error) {
	if cfg.Primaries <= 0 {
		cfg.Primaries = 3
	}
	if cfg.Into <= 0 {
		cfg.Into = 4
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Tools) == 0 {
		cfg.Tools = []string{"dayops", "redis-cli"}
	}
	var results []Result
	for _, ds := range cfg.Datasets {
		r := runOne(ctx, cfg, ds)
		results = append(results, r)
		if r.Err != nil {
			Print(out, cfg, results)
			return results, r.Err
		}
	}
	Print(out, cfg, results)
	return results, nil
}

func has(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func runOne(ctx context.Context, cfg Config, ds migratebench.Dataset) (res Result) {
	res.Dataset = ds
	res.Err = runSteps(ctx, cfg, ds, &res)
	return res
}

// runSteps backs up a filled cluster, loads the shard files into temporary
// instances and restores them with each tool, recording the figures in res.
func runSteps(ctx context.Context, cfg Config, ds migratebench.Dataset, res *Result) error {
	log := cfg.Log.With("dataset", ds.String())
	dir, err := os.MkdirTemp(cfg.Dir, "backupbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var store backupstore.Store
	if cfg.Store != "" {
		store, err = backupstore.Open(ctx, cfg.Store)
	} else {
		store, err = backupstore.OpenDir(filepath.Join(dir, "store"))
	}
	if err != nil {
		return err
	}
	src, err := redistest.Start(ctx, redistest.Options{Primaries: cfg.Primaries, Dir: filepath.Join(dir, "src")})
	if err != nil {
		return err
	}
	defer src.Close()
	targets, ranges, err := fillSource(ctx, src, ds, log)
	if err != nil {
		return err
	}

	// Backup, while a client writes (so the pause is paid by someone).
	files, err := backup(ctx, src, store, targets, ranges, log, res)
	if err != nil {
		return err
	}
	src.Close()

	// Temporary instances, loaded over the replication protocol in parallel.
	temps := make([]*standalone, len(files))
	defer func() {
		for _, t := range temps {
			if t != nil {
				t.stop()
			}
		}
	}()
	if err := loadTemps(ctx, dir, store, files, temps, log, res); err != nil {
		return err
	}

	// Same shard count: what a restored primary does (copy the RDB from its
	// temporary instance with redis-cli --rdb, start with it).
	log.Info("restore same count")
	restored, err := restoreSameCount(ctx, dir, temps, files)
	res.SameCount = res.Load + restored
	if err != nil {
		return fmt.Errorf("restore same count: %w", err)
	}

	// Another shard count: dayops replay, then redis-cli --cluster import of
	// the same temporary instances into a fresh cluster.
	if has(cfg.Tools, "dayops") {
		if err := replayInto(ctx, cfg, log, dir, temps, res); err != nil {
			return err
		}
	}
	if has(cfg.Tools, "redis-cli") {
		return importInto(ctx, cfg, log, dir, temps, res)
	}
	return nil
}

// fillSource fills the source cluster with the dataset and returns each
// primary as a snapshot target with its slot ranges.
func fillSource(ctx context.Context, src *redistest.Cluster, ds migratebench.Dataset, log *slog.Logger) ([]rdb.Target, []topology.Ranges, error) {
	cc := src.ClusterClient()
	defer cc.Close()
	log.Info("filling")
	if err := fillRandom(ctx, cc, ds.Keys, ds.ValueSize); err != nil {
		return nil, nil, err
	}
	view, err := src.View(ctx)
	if err != nil {
		return nil, nil, err
	}
	layout := view.Layout()
	var targets []rdb.Target
	var ranges []topology.Ranges
	for i, id := range layout.Nodes() {
		targets = append(targets, rdb.Target{Shard: i, Addr: view.Nodes[id].Addr})
		ranges = append(ranges, layout[id])
	}
	return targets, ranges, nil
}

// backup snapshots the source cluster while a client writes, recording the
// time, the pause and the totals in res, and returns the shard files.
func backup(ctx context.Context, src *redistest.Cluster, store backupstore.Store, targets []rdb.Target, ranges []topology.Ranges, log *slog.Logger, res *Result) ([]backupstore.ShardFile, error) {
	cc := src.ClusterClient()
	defer cc.Close()
	wctx, stopWriter := context.WithCancel(ctx)
	writer := redistest.StartWriter(wctx, cc, redistest.WriterOptions{Keys: 10_000, Workers: 2})
	log.Info("backup")
	began := time.Now()
	snap, err := rdb.Snapshot(ctx, rdb.SnapshotRequest{Targets: targets, Store: store, BackupID: "bench", Client: src.Pool.Client})
	res.Backup = time.Since(began)
	writer.Stop()
	stopWriter()
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	res.PauseMS, res.Consistent = snap.Consistency.PausedMS, snap.Consistency.ClusterConsistent
	var files []backupstore.ShardFile
	for i, s := range snap.Shards {
		res.Keys += s.Keys
		res.Bytes += s.Size
		files = append(files, backupstore.ShardFile{Shard: s.Shard, Key: s.Key, Size: s.Size, SHA256: s.SHA256, Keys: s.Keys, Slots: ranges[i]})
	}
	return files, nil
}

// loadTemps starts a temporary instance per shard file (into temps) and
// loads the files into them over the replication protocol in parallel.
func loadTemps(ctx context.Context, dir string, store backupstore.Store, files []backupstore.ShardFile, temps []*standalone, log *slog.Logger, res *Result) error {
	for i := range files {
		var err error
		if temps[i], err = startStandalone(ctx, filepath.Join(dir, "temp-"+strconv.Itoa(i))); err != nil {
			return err
		}
	}
	log.Info("load")
	began := time.Now()
	var g errgroup.Group
	for i, f := range files {
		g.Go(func() error {
			return rdb.LoadRDB(ctx, rdb.LoadRequest{Client: temps[i].client, Store: store, File: f})
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	res.Load = time.Since(began)
	return nil
}

// restoreSameCount restores each shard as a restored primary does: copy the
// RDB from its temporary instance with redis-cli --rdb, start a node with it,
// and check its key count. It returns how long the restore took (the
// check left out).
func restoreSameCount(ctx context.Context, dir string, temps []*standalone, files []backupstore.ShardFile) (time.Duration, error) {
	began := time.Now()
	nodes := make([]*standalone, len(files))
	var sg errgroup.Group
	for i := range files {
		sg.Go(func() error {
			d := filepath.Join(dir, "same-"+strconv.Itoa(i))
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			cmd := exec.CommandContext(ctx, "redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(temps[i].port), "--rdb", filepath.Join(d, "dump.rdb"))
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("redis-cli --rdb: %v: %s", err, out)
			}
			n, err := startNode(ctx, d, true)
			nodes[i] = n
			return err
		})
	}
	err := sg.Wait()
	restored := time.Since(began)
	for i, n := range nodes {
		if n == nil {
			continue
		}
		if err == nil {
			if k := n.client.DBSize(ctx).Val(); k != files[i].Keys {
				err = fmt.Errorf("same-count node %d holds %d keys, want %d", i, k, files[i].Keys)
			}
		}
		n.stop()
	}
	return restored, err
}

// replayInto replays the temporary instances into a fresh cluster of
// cfg.Into primaries (dayops: another shard count) and checks the key count.
func replayInto(ctx context.Context, cfg Config, log *slog.Logger, dir string, temps []*standalone, res *Result) error {
	dst, err := redistest.Start(ctx, redistest.Options{Primaries: cfg.Into, Dir: filepath.Join(dir, "replay")})
	if err != nil {
		return err
	}
	dcc := dst.ClusterClient()
	var sources []rdb.Source
	byAddr := map[string]*redis.Client{}
	for i, t := range temps {
		sources = append(sources, rdb.Source{Shard: i, Addr: t.addr})
		byAddr[t.addr] = t.client
	}
	log.Info("replay", "into", cfg.Into)
	began := time.Now()
	_, res.ReplayErr = rdb.Replay(ctx, rdb.ReplayRequest{Sources: sources, Target: dcc, Source: func(a string) *redis.Client { return byAddr[a] }})
	res.Replay = time.Since(began)
	if res.ReplayErr == nil {
		var got int64
		_ = dcc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			n, err := c.DBSize(ctx).Result()
			mu.Lock()
			got += n
			mu.Unlock()
			return err
		})
		if got != res.Keys {
			res.ReplayErr = fmt.Errorf("replayed cluster holds %d keys, want %d", got, res.Keys)
		}
	}
	dcc.Close()
	dst.Close()
	return nil
}

// importInto imports the temporary instances into a fresh cluster with
// redis-cli --cluster import, one redis-cli per source, all at once.
func importInto(ctx context.Context, cfg Config, log *slog.Logger, dir string, temps []*standalone, res *Result) error {
	dst, err := redistest.Start(ctx, redistest.Options{Primaries: cfg.Into, Dir: filepath.Join(dir, "import")})
	if err != nil {
		return err
	}
	log.Info("redis-cli --cluster import", "into", cfg.Into)
	began := time.Now()
	var ig errgroup.Group
	for _, t := range temps {
		ig.Go(func() error {
			// --cluster-copy keeps the source (as the replay does); one
			// redis-cli per source, all at once.
			cmd := exec.CommandContext(ctx, "redis-cli", "--cluster", "import", dst.Addrs()[0], "--cluster-from", t.addr, "--cluster-copy", "--cluster-replace")
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("redis-cli --cluster import: %v: %s", err, lastLines(string(out)))
			}
			return nil
		})
	}
	res.ImportErr = ig.Wait()
	res.Import = time.Since(began)
	dcc := dst.ClusterClient()
	_ = dcc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		n, err := c.DBSize(ctx).Result()
		mu.Lock()
		res.ImportKeys += n
		mu.Unlock()
		return err
	})
	if res.ImportErr == nil && res.ImportKeys != res.Keys {
		res.ImportErr = fmt.Errorf("imported cluster holds %d keys, want %d", res.ImportKeys, res.Keys)
	}
	dcc.Close()
	dst.Close()
	return nil
}

var mu sync.Mutex

// fillRandom writes keys k:<i> with incompressible values (slices of a random
// pool), so RDB sizes are the data's size.
func fillRandom(ctx context.Context, cc *redis.ClusterClient, n, size int) error {
	pool := make([]byte, 8<<20+size)
	_, _ = rand.Read(pool)
	var g errgroup.Group
	g.SetLimit(8)
	for start := 0; start < n; start += 1000 {
		g.Go(func() error {
			_, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
				for i := start; i < min(start+1000, n); i++ {
					off := (i * 7919) % (len(pool) - size)
					p.Set(ctx, "k:"+strconv.Itoa(i), pool[off:off+size], 0)
				}
				return nil
			})
			return err
		})
	}
	return g.Wait()
}

func lastLines(s string) string {
	if len(s) > 600 {
		return "..." + s[len(s)-600:]
	}
	return s
}

// Print writes the table.
func Print(out io.Writer, cfg Config, rs []Result) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	mbps := func(b int64, d time.Duration) string {
		if d <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f MB/s", float64(b)/1e6/d.Seconds())
	}
	kps := func(k int64, d time.Duration) string {
		if d <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f keys/s", float64(k)/d.Seconds())
	}
	fmt.Fprintf(tw, "dataset\tstep\ttime\tthroughput\tkeys/s\tnote\n")
	for _, r := range rs {
		if r.Err != nil {
			fmt.Fprintf(tw, "%s\terror\t\t\t\t%v\n", r.Dataset, r.Err)
			continue
		}
		fmt.Fprintf(tw, "%s\tbackup %d shards\t%s\t%s\t%s\tRDB %d bytes; writes paused %.2f ms; consistent %v\n", r.Dataset, cfg.Primaries,
			r.Backup.Round(time.Millisecond), mbps(r.Bytes, r.Backup), kps(r.Keys, r.Backup), r.Bytes, r.PauseMS, r.Consistent)
		fmt.Fprintf(tw, "%s\tload into temporaries\t%s\t%s\t%s\treplication protocol, SHA-256 checked\n", r.Dataset,
			r.Load.Round(time.Millisecond), mbps(r.Bytes, r.Load), kps(r.Keys, r.Load))
		fmt.Fprintf(tw, "%s\trestore %d->%d (load at start)\t%s\t%s\t%s\tload + redis-cli --rdb + node start\n", r.Dataset, cfg.Primaries, cfg.Primaries,
			r.SameCount.Round(time.Millisecond), mbps(r.Bytes, r.SameCount), kps(r.Keys, r.SameCount))
		if r.Replay > 0 {
			note := ""
			if r.ReplayErr != nil {
				note = r.ReplayErr.Error()
			}
			fmt.Fprintf(tw, "%s\trestore %d->%d dayops replay\t%s\t%s\t%s\t%s (total with load %s)\n", r.Dataset, cfg.Primaries, cfg.Into,
				r.Replay.Round(time.Millisecond), mbps(r.Bytes, r.Replay), kps(r.Keys, r.Replay), note, (r.Load + r.Replay).Round(time.Millisecond))
		}
		if r.Import > 0 {
			note := ""
			if r.ImportErr != nil {
				note = r.ImportErr.Error()
			}
			if r.Replay > 0 && r.ImportErr == nil && r.ReplayErr == nil {
				note = fmt.Sprintf("dayops replay is %.1fx faster", r.Import.Seconds()/r.Replay.Seconds())
			}
			fmt.Fprintf(tw, "%s\trestore %d->%d redis-cli --cluster import\t%s\t%s\t%s\t%s\n", r.Dataset, cfg.Primaries, cfg.Into,
				r.Import.Round(time.Millisecond), mbps(r.Bytes, r.Import), kps(r.Keys, r.Import), note)
		}
	}
	_ = tw.Flush()
}

// standalone is a redis-server process.
type standalone struct {
	addr   string
	port   int
	cmd    *exec.Cmd
	client *redis.Client
}

func (s *standalone) stop() {
	s.client.Close()
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

func startStandalone(ctx context.Context, dir string) (*standalone, error) {
	return startRedis(ctx, dir, false)
}

func startNode(ctx context.Context, dir string, cluster bool) (*standalone, error) {
	return startRedis(ctx, dir, cluster)
}

func startRedis(ctx context.Context, dir string, cluster bool) (*standalone, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "no", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"), "--repl-diskless-sync-delay", "0"}
	if cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"))
	}
	cmd := exec.Command("redis-server", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &standalone{addr: fmt.Sprintf("127.0.0.1:%d", port), port: port, cmd: cmd,
		client: redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Protocol: 2, ReadTimeout: time.Minute})}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		// PING answers LOADING while the data set loads.
		if err := s.client.Ping(ctx).Err(); err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("redis-server in %s did not answer", dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
