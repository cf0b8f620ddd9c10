package aofrepair_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/instance/aofrepair"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

var aof = []string{"--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--aof-use-rdb-preamble", "yes"}

// A replica is SIGKILLed while it rewrites its AOF after a full resync,
// with a client writing to its primary and counting a write acknowledged
// once WAIT saw it on the replica. Restarted as it was, the replica holds
// its data from before the sync (checked, on a copy of its directory);
// repaired first, it holds every key of the snapshot and every
// acknowledged write.
func TestAReplicaKilledInItsFirstRewriteKeepsItsWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	primary := redistest.StandaloneProcess(t, t.TempDir(), "--save", "", "--appendonly", "no",
		"--repl-diskless-sync-delay", "0", "--enable-debug-command", "local")
	const snapshotKeys = 20_000
	if err := primary.Client.Do(ctx, "DEBUG", "POPULATE", snapshotKeys, "old", 32).Err(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// appendfsync always: with everysec, Redis postpones the write of its
	// AOF buffer (up to 2 s) while a slow background fsync runs, and a
	// replica acknowledges the offset meanwhile, so a SIGKILL then loses
	// writes WAIT had counted, repair or not (seen with the packages'
	// tests in parallel: 1,924 of 3,000 keys one write behind). This test
	// is about the sync's files, not that window (docs/self-healing.md,
	// "The default persistence, and the writes its AOF can miss").
	replica := redistest.StandaloneProcess(t, dir, append(slices.Clone(aof), "--appendfsync", "always")...)
	if err := replica.Client.Set(ctx, "before-the-sync", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// 300 µs a key: the rewrite of the snapshot takes about 6 s.
	if err := replica.Client.ConfigSet(ctx, "rdb-key-save-delay", "300").Err(); err != nil {
		t.Fatal(err)
	}
	w := redistest.StartWriter(ctx, primary.Client, redistest.WriterOptions{Keys: 3000, Workers: 2, WaitReplicas: 1,
		WaitTimeout: time.Second, CheckPrevious: true})
	defer w.Stop()
	host, port, _ := net.SplitHostPort(primary.Addr)
	if err := replica.Client.ReplicaOf(ctx, host, port).Err(); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 30*time.Second, "the replica's sync and rewrite", func() bool {
		kv := redistest.Info(ctx, replica.Addr, "persistence")
		return redistest.MasterOf(ctx, replica.Addr) == primary.Addr+" up" && kv["aof_rewrite_in_progress"] == "1"
	})
	ackedAtSync := w.Stats().Acked
	time.Sleep(time.Second)
	replica.Kill()
	st := w.Stop()
	if st.Lost > 0 || st.Acked-ackedAtSync < 10 {
		t.Fatalf("writer: %+v (%d acknowledged after the sync): want writes acknowledged in the rewrite", st, st.Acked-ackedAtSync)
	}
	p := aofrepair.Paths{Dir: filepath.Join(dir, "appendonlydir"), File: "appendonly.aof", Snapshot: filepath.Join(dir, "dump.rdb")}
	if _, err := os.Stat(p.TempIncr()); err != nil {
		t.Fatalf("the kill left no %s: %v", p.TempIncr(), err)
	}

	// The fault, shown on a copy: Redis alone restarts on the old AOF.
	copyDir := t.TempDir()
	if out, err := exec.Command("cp", "-a", dir+"/.", copyDir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	asItWas := redistest.StandaloneProcess(t, copyDir, aof...)
	if n := asItWas.Client.DBSize(ctx).Val(); n > 10 || asItWas.Client.Exists(ctx, "before-the-sync").Val() != 1 {
		t.Fatalf("restarted without the repair it holds %d keys: want the 1 key from before the sync (is the fault gone from Redis?)", n)
	}

	res, err := aofrepair.Repair(p)
	if err != nil || !res.Stale || !res.Repaired {
		t.Fatalf("Repair = %+v, %v", res, err)
	}
	t.Logf("repair: %+v; writer %+v", res, st)
	restarted := redistest.StandaloneProcess(t, dir, aof...)
	if n := countPrefix(t, restarted.Client, "old:*"); n != snapshotKeys {
		t.Errorf("the snapshot's keys: %d, want %d", n, snapshotKeys)
	}
	if restarted.Client.Exists(ctx, "before-the-sync").Val() != 0 {
		t.Error("the key from before the sync is back")
	}
	if n, err := w.Verify(ctx, restarted.Client); err != nil {
		t.Errorf("%d keys checked: %v", n, err)
	}
	if again, err := aofrepair.Repair(p); err != nil || again.Stale {
		t.Errorf("a second Repair: %+v, %v", again, err)
	}
}

func countPrefix(t *testing.T, c *redis.Client, match string) int {
	t.Helper()
	n := 0
	it := c.Scan(t.Context(), 0, match, 1000).Iterator()
	for it.Next(t.Context()) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
