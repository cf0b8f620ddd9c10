package rdb

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

// TestSnapshotRealCluster snapshots a real 3-primary cluster (redis-server
// processes) into a directory store and checks every file with the real
// redis-check-rdb.
func TestSnapshotRealCluster(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, targets := filledPrimaries(t, 3, 30_000)
	dir := t.TempDir()
	store, err := backupstore.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Snapshot(ctx, SnapshotRequest{Targets: targets, Store: store, BackupID: "b1",
		Client: func(addr string) *redis.Client { return c.Pool.Client(addr) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("consistency: %+v, version %s", res.Consistency, res.RedisVersion)
	if !res.Consistency.ClusterConsistent || res.Consistency.PausedMS <= 0 || res.Consistency.PausedMS > 1000 {
		t.Errorf("consistency %+v", res.Consistency)
	}
	var keys int64
	for _, s := range res.Shards {
		keys += s.Keys
		out, err := exec.Command("redis-check-rdb", filepath.Join(dir, s.Key)).CombinedOutput()
		if err != nil {
			t.Errorf("redis-check-rdb %s: %v\n%s", s.Key, err, out)
		}
		got, err := backupstore.Checksum(ctx, store, s.Key)
		if err != nil || got.SHA256 != s.SHA256 || got.Size != s.Size {
			t.Errorf("%s: stored %+v, reported %+v (%v)", s.Key, got, s, err)
		}
	}
	if keys != 30_000 {
		t.Errorf("key counts sum to %d, want 30000", keys)
	}
	// Writes go on after the pause.
	cc := c.ClusterClient()
	defer cc.Close()
	if err := cc.Set(ctx, "after", "1", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotFallsBackPastTheBound: with a bound too short for any fork,
// the pause ends at the bound, every shard is still stored (each at its own
// point), and the result says the backup is not cluster-consistent.
func TestSnapshotFallsBackPastTheBound(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, targets := filledPrimaries(t, 2, 5_000)
	store, _ := backupstore.OpenDir(t.TempDir())
	res, err := Snapshot(ctx, SnapshotRequest{Targets: targets, Store: store, BackupID: "b", PauseBound: time.Microsecond,
		Client: func(addr string) *redis.Client { return c.Pool.Client(addr) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Consistency.ClusterConsistent || !strings.Contains(res.Consistency.Note, "not cluster-consistent") {
		t.Fatalf("consistency %+v, want a per-shard fallback", res.Consistency)
	}
	t.Logf("fallback: %s", res.Consistency.Note)
	var keys int64
	for _, s := range res.Shards {
		keys += s.Keys
		if s.Size == 0 || s.SHA256 == "" {
			t.Errorf("shard-%d not stored: %+v", s.Shard, s)
		}
	}
	if keys != 5_000 {
		t.Errorf("key counts read from the RDBs sum to %d, want 5000", keys)
	}
	// Writes are not paused any more.
	cc := c.ClusterClient()
	defer cc.Close()
	if err := cc.Set(ctx, "after", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
}

// TestSnapshotEmptyShard: a primary without keys gives a valid RDB whose key
// count is 0.
func TestSnapshotEmptyShard(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 1})
	view, err := c.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	store, _ := backupstore.OpenDir(t.TempDir())
	res, err := Snapshot(ctx, SnapshotRequest{Targets: []Target{{Shard: 0, Addr: view.Myself.Addr}}, Store: store, BackupID: "e", Client: c.Pool.Client})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Shards[0]; s.Keys != 0 || s.Size == 0 || !res.Consistency.ClusterConsistent {
		t.Fatalf("empty shard: %+v %+v", s, res.Consistency)
	}
}

// filledPrimaries starts a cluster of n primaries holding keys keys of 64
// bytes and returns it with one snapshot target per primary.
func filledPrimaries(t *testing.T, n, keys int) (*redistest.Cluster, []Target) {
	t.Helper()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: n})
	cc := c.ClusterClient()
	defer cc.Close()
	if err := redistest.Fill(ctx, cc, "k:", keys, 64, 4); err != nil {
		t.Fatal(err)
	}
	view, err := c.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var targets []Target
	for i, id := range view.Layout().Nodes() {
		targets = append(targets, Target{Shard: i, Addr: view.Nodes[id].Addr})
	}
	return c, targets
}
