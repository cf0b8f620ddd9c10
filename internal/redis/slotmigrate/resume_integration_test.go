package slotmigrate_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/slotmigrate"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/topology"
)

const helperEnv = "DAYOPS_REDISADMIN_HELPER"

// helperJob is what the parent hands to the migrating child process.
type helperJob struct {
	Moves    []topology.Move       `json:"moves"`
	Seeds    []string              `json:"seeds"`
	Progress string                `json:"progress"`
	Copy     clusteradmin.CopyMode `json:"copy"`
}

// TestHelperMigrateProcess is not a test: it is the separate process the
// kill test starts and SIGKILLs. It migrates slowly (small waves and
// batches) and writes every progress snapshot to a file, as the Temporal
// activity wrapper would record heartbeats.
func TestHelperMigrateProcess(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("helper process only")
	}
	var job helperJob
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		t.Fatal(err)
	}
	pool := clusteradmin.NewClientPool(redis.Options{})
	defer pool.Close()
	lim := clusteradmin.Limits{SlotsPerWave: 8, WavesPerSource: 1, BatchKeys: 3, Copy: job.Copy}
	if job.Copy == clusteradmin.CopyAlways {
		lim.BatchKeys, lim.CopiesPerWave = 0, 1
	}
	a := clusteradmin.New(pool, nil, lim)
	_, err := slotmigrate.New(a).MigrateSlots(t.Context(), slotmigrate.MigrateInput{
		Moves: job.Moves, Seeds: job.Seeds, ProgressEvery: time.Millisecond,
		OnProgress: func(p slotmigrate.Progress) {
			b, _ := json.Marshal(p)
			tmp := job.Progress + ".tmp"
			if os.WriteFile(tmp, b, 0o644) == nil {
				_ = os.Rename(tmp, job.Progress)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readProgress(path string) (slotmigrate.Progress, bool) {
	var p slotmigrate.Progress
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &p) != nil {
		return p, false
	}
	return p, true
}

// openSlots counts slots in MIGRATING or IMPORTING state on any node.
func openSlots(t *testing.T, c *redistest.Cluster) int {
	t.Helper()
	n := 0
	for _, addr := range c.Addrs() {
		text, err := c.Pool.Client(addr).ClusterNodes(t.Context()).Result()
		if err != nil {
			t.Fatal(err)
		}
		v, err := clusteradmin.ParseClusterNodes(text)
		if err != nil {
			t.Fatal(err)
		}
		n += len(v.Myself.Migrating) + len(v.Myself.Importing)
	}
	return n
}

// The migrating process is SIGKILLed mid-range and the migration resumed, by
// MIGRATE and by the copy path (where the kill may leave copies on a target).
func TestMigrateKilledMidRangeAndResumed(t *testing.T) {
	t.Parallel()
	bothModes(t, killAndResume)
}

func killAndResume(t *testing.T, mode clusteradmin.CopyMode) {
	ctx := t.Context()
	so := newScaleOut(t, redistest.WriterOptions{Keys: 5000, Workers: 2})
	c, cc, w, id4, plan := so.c, so.cc, so.w, so.id4, so.plan
	progressFile := filepath.Join(t.TempDir(), "progress.json")
	job, _ := json.Marshal(helperJob{Moves: plan.Moves, Seeds: c.Addrs(), Progress: progressFile, Copy: mode})
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperMigrateProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(job))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once a fifth of the slots are done and a slot is open.
	deadline := time.Now().Add(90 * time.Second)
	var last slotmigrate.Progress
	for {
		p, ok := readProgress(progressFile)
		if ok && p.SlotsDone >= plan.Slots()/5 && openSlots(t, c) > 0 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("helper made no progress: %+v", p)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	last, ok := readProgress(progressFile)
	if !ok {
		t.Fatal("no progress recorded")
	}
	open := openSlots(t, c)
	t.Logf("killed the migrating process at %d/%d slots, %d keys; %d slot states open", last.SlotsDone, last.SlotsTotal, last.KeysMoved, open)
	if last.SlotsDone >= plan.Slots() {
		t.Fatal("the helper finished before it was killed")
	}

	resumer := clusteradmin.New(c.Pool, nil, clusteradmin.Limits{Copy: mode})
	res, err := slotmigrate.New(resumer).MigrateSlots(ctx, slotmigrate.MigrateInput{Moves: plan.Moves, Seeds: c.Addrs(), Resume: &last})
	if err != nil {
		t.Fatal(err)
	}
	if res.Progress.Runs != 2 || res.Progress.SlotsDone != plan.Slots() || res.Progress.KeysMoved < last.KeysMoved {
		t.Errorf("resumed progress = %+v", res.Progress)
	}
	checkAll(t, ctx, c, w)
	if st := w.Stop(); st.Acked == 0 {
		t.Fatalf("writer acknowledged nothing: %v", st.LastErr)
	}
	if _, err := w.Verify(ctx, cc); err != nil {
		t.Fatal(err)
	}
	view, err := c.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := view.Layout()[id4].Count(); got != plan.Slots() {
		t.Errorf("new primary owns %d slots, plan gave it %d", got, plan.Slots())
	}
	if n, want := countPrimaryKeys(t, c), testKeys+writerKeys(t, ctx, cc, w, 5000); n != want {
		t.Errorf("keys in primaries = %d, want %d", n, want)
	}
}

func countPrimaryKeys(t *testing.T, c *redistest.Cluster) int64 {
	t.Helper()
	total := int64(0)
	for _, a := range c.Addrs() {
		role, err := c.Pool.Client(a).Do(t.Context(), "role").Slice()
		if err != nil {
			t.Fatal(err)
		}
		if role[0] != "master" {
			continue
		}
		n, err := c.Pool.Client(a).DBSize(t.Context()).Result()
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}
