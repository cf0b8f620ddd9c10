package slotmigrate

import (
	"slices"
	"sync"
	"time"

	"github.com/dayops/dayops/internal/topology"
)

// Progress of a slot migration. It is small, JSON-encodable and meant to be
// the heartbeat details of the activity; passing the last one back as
// MigrateInput.Resume continues the counters. Correctness never depends on
// it: a resumed migration observes the cluster and finishes any slot left
// half-open.
type Progress struct {
	SlotsTotal int `json:"slots_total"`
	SlotsDone  int `json:"slots_done"`
	// Done lists the slots finished (owned by the target on target and
	// source).
	Done       topology.Ranges `json:"done,omitempty"`
	KeysMoved  int64           `json:"keys_moved"`
	BytesMoved int64           `json:"bytes_moved"`
	// KeysPerSecond is the rate of the current run.
	KeysPerSecond float64 `json:"keys_per_second"`
	// ElapsedMS adds up the time of every run, resumed ones included.
	ElapsedMS int64 `json:"elapsed_ms"`
	Batches   int64 `json:"batches"`
	// BigKeyBatches counts MIGRATE calls that carried one key bigger than
	// clusteradmin.Limits.BatchBytes on its own.
	BigKeyBatches int64 `json:"big_key_batches"`
	// SlotsCopied counts slots moved by the copy path (WATCH, DUMP, RESTORE
	// on the target, then UNLINK and SETSLOT MIGRATING in one transaction).
	SlotsCopied int64 `json:"slots_copied,omitempty"`
	// CopyConflicts counts copies undone because a client changed a key of
	// the slot meanwhile (the slot is copied again, then left to MIGRATE).
	CopyConflicts    int64 `json:"copy_conflicts,omitempty"`
	BusyKeysEqual    int64 `json:"busy_keys_equal,omitempty"`
	BusyKeysReplaced int64 `json:"busy_keys_replaced,omitempty"`
	// Runs counts how many times the migration was started (1 + resumes).
	Runs int `json:"runs"`
}

// tracker accumulates progress from concurrent waves and emits snapshots at
// most every interval.
type tracker struct {
	mu        sync.Mutex
	emitMu    sync.Mutex // OnProgress is never called concurrently
	p         Progress
	done      []int
	start     time.Time
	baseMS    int64
	runKeys   int64
	on        func(Progress)
	every     time.Duration
	lastEmit  time.Time
	doneSlots map[int]bool
}

func newTracker(resume *Progress, on func(Progress), every time.Duration) *tracker {
	t := &tracker{start: time.Now(), on: on, every: every, doneSlots: map[int]bool{}}
	if resume != nil {
		t.p = *resume
		t.p.Done = slices.Clone(resume.Done)
		t.baseMS = resume.ElapsedMS
		for _, s := range resume.Done.Slots() {
			t.doneSlots[s] = true
		}
	}
	t.p.Runs++
	return t
}

func (t *tracker) setTotal(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.SlotsTotal = n
}

func (t *tracker) moved(keys, bytes, batches, big int64) {
	t.mu.Lock()
	t.p.KeysMoved += keys
	t.p.BytesMoved += bytes
	t.p.Batches += batches
	t.p.BigKeyBatches += big
	t.runKeys += keys
	t.mu.Unlock()
}

func (t *tracker) copied(slots, conflicts int64) {
	t.mu.Lock()
	t.p.SlotsCopied += slots
	t.p.CopyConflicts += conflicts
	t.mu.Unlock()
}

func (t *tracker) busy(equal, replaced int64) {
	t.mu.Lock()
	t.p.BusyKeysEqual += equal
	t.p.BusyKeysReplaced += replaced
	t.mu.Unlock()
}

func (t *tracker) finished(slots []int) {
	t.mu.Lock()
	for _, s := range slots {
		if !t.doneSlots[s] {
			t.doneSlots[s] = true
			t.done = append(t.done, s)
		}
	}
	t.mu.Unlock()
	t.emit(false)
}

func (t *tracker) snapshot() Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.done) > 0 {
		t.p.Done = append(t.p.Done, topology.RangesOf(t.done)...).Normalize()
		t.done = t.done[:0]
	}
	t.p.SlotsDone = t.p.Done.Count()
	el := time.Since(t.start)
	t.p.ElapsedMS = t.baseMS + el.Milliseconds()
	if s := el.Seconds(); s > 0 {
		t.p.KeysPerSecond = float64(t.runKeys) / s
	}
	out := t.p
	out.Done = slices.Clone(t.p.Done)
	return out
}

func (t *tracker) emit(force bool) {
	if t.on == nil {
		return
	}
	t.mu.Lock()
	due := force || time.Since(t.lastEmit) >= t.every
	if due {
		t.lastEmit = time.Now()
	}
	t.mu.Unlock()
	if due {
		t.emitMu.Lock()
		defer t.emitMu.Unlock()
		t.on(t.snapshot())
	}
}
