package rdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/topology"
	"github.com/redis/go-redis/v9"
)

// TestSnapshotLoadReplay: a 3-primary cluster with TTLs is snapshotted, each
// RDB loaded into a standalone redis-server over the replication protocol,
// and replayed into a 2-primary cluster: every key, value and TTL arrives,
// and per-range counts match the snapshot. A flipped byte is refused.
func TestSnapshotLoadReplay(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	src := redistest.New(t, redistest.Options{Primaries: 3})
	cc := src.ClusterClient()
	defer cc.Close()
	// Enough keys for each source to take several Replay calls of MaxKeys
	// (about 2,700 keys a source, replayed 1,000 at a time).
	if err := redistest.Fill(ctx, cc, "k:", 8_000, 100, 4); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if err := cc.Set(ctx, fmt.Sprintf("ttl:%d", i), i, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	view, err := src.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	layout := view.Layout()
	var targets []Target
	var ranges []topology.Ranges
	for i, id := range layout.Nodes() {
		targets = append(targets, Target{Shard: i, Addr: view.Nodes[id].Addr})
		ranges = append(ranges, layout[id])
	}
	dir := t.TempDir()
	store, _ := backupstore.OpenDir(dir)
	snap, err := Snapshot(ctx, SnapshotRequest{Targets: targets, Store: store, BackupID: "b", Client: src.Pool.Client})
	if err != nil {
		t.Fatal(err)
	}
	dst := redistest.New(t, redistest.Options{Primaries: 2})
	dcc := dst.ClusterClient()
	defer dcc.Close()
	var sources []Source
	temps := map[string]*redis.Client{}
	for i, s := range snap.Shards {
		c := redistest.Standalone(t)
		file := backupstore.ShardFile{Shard: s.Shard, Key: s.Key, Size: s.Size, SHA256: s.SHA256, Keys: s.Keys, Slots: ranges[i]}
		if err := LoadRDB(ctx, LoadRequest{Client: c, Store: store, File: file}); err != nil {
			t.Fatalf("load shard-%d: %v", s.Shard, err)
		}
		// A second call sees the load done.
		if err := LoadRDB(ctx, LoadRequest{Client: c, Store: store, File: file}); err != nil {
			t.Fatalf("reload shard-%d: %v", s.Shard, err)
		}
		temps[c.Options().Addr] = c
		sources = append(sources, Source{Shard: s.Shard, Addr: c.Options().Addr})
	}
	res := ReplayResult{Sources: sources}
	for rounds := 0; ; rounds++ {
		all := true
		for _, s := range res.Sources {
			all = all && s.Done
		}
		if all {
			t.Logf("replayed in %d rounds", rounds)
			break
		}
		r, err := Replay(ctx, ReplayRequest{Sources: res.Sources, Source: func(a string) *redis.Client { return temps[a] }, Target: dcc, MaxKeys: 1000})
		if err != nil {
			t.Fatal(err)
		}
		res.Sources = r.Sources
	}
	counts, err := CountKeys(ctx, dcc, dst.Pool.Client, ranges)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range snap.Shards {
		if counts[i] != s.Keys {
			t.Errorf("shard-%d ranges hold %d keys, the snapshot %d", s.Shard, counts[i], s.Keys)
		}
	}
	// Every key of every source, the sources at once: CompareKeys makes
	// four round trips per key, one after the other.
	var wg sync.WaitGroup
	for _, c := range temps {
		wg.Go(func() {
			cmp, err := CompareKeys(ctx, c, dcc, 0, 5*time.Second)
			if err != nil || len(cmp.Different) > 0 {
				t.Errorf("compare: %+v %v", cmp, err)
			}
		})
	}
	wg.Wait()
	if ttl := dcc.TTL(ctx, "ttl:7").Val(); ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("ttl:7 has TTL %s after the replay", ttl)
	}

	// Flip one byte: the load refuses it and the instance stays empty.
	s := snap.Shards[0]
	p := filepath.Join(dir, s.Key)
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0x01
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c := redistest.Standalone(t)
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = LoadRDB(lctx, LoadRequest{Client: c, Store: store, File: backupstore.ShardFile{Key: s.Key, Size: s.Size, SHA256: s.SHA256, Keys: s.Keys}})
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("corrupt file: %v, want ErrChecksum", err)
	}
	if n := c.DBSize(ctx).Val(); n != 0 {
		t.Errorf("after the refused load the instance holds %d keys", n)
	}
}
