// Package progress counts a slot migration's progress (internal/redis/slotmigrate)
// from its concurrent waves and emits snapshots of it: the activity's
// heartbeat details, and what a resumed migration continues from.
package progress

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

// Tracker accumulates progress from concurrent waves and emits snapshots at
// most every interval.
type Tracker struct {
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

// NewTracker continues resume (nil: a first run), calling on (nil: none)
// with a snapshot at most every interval.
func NewTracker(resume *Progress, on func(Progress), every time.Duration) *Tracker {
	t := &Tracker{start: time.Now(), on: on, every: every, doneSlots: map[int]bool{}}
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

// SetTotal sets the number of slots the run moves.
func (t *Tracker) SetTotal(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.SlotsTotal = n
}

// Moved counts keys and bytes moved in batches (big: batches of one key over the byte budget).
func (t *Tracker) Moved(keys, bytes, batches, big int64) {
	t.mu.Lock()
	t.p.KeysMoved += keys
	t.p.BytesMoved += bytes
	t.p.Batches += batches
	t.p.BigKeyBatches += big
	t.runKeys += keys
	t.mu.Unlock()
}

// Copied counts slots moved by the copy path and copies undone by a conflict.
func (t *Tracker) Copied(slots, conflicts int64) {
	t.mu.Lock()
	t.p.SlotsCopied += slots
	t.p.CopyConflicts += conflicts
	t.mu.Unlock()
}

// Busy counts keys found on both sides: equal, or replaced.
func (t *Tracker) Busy(equal, replaced int64) {
	t.mu.Lock()
	t.p.BusyKeysEqual += equal
	t.p.BusyKeysReplaced += replaced
	t.mu.Unlock()
}

// Finished records slots as done and emits when due.
func (t *Tracker) Finished(slots []int) {
	t.mu.Lock()
	for _, s := range slots {
		if !t.doneSlots[s] {
			t.doneSlots[s] = true
			t.done = append(t.done, s)
		}
	}
	t.mu.Unlock()
	t.Emit(false)
}

// Snapshot is the progress so far.
func (t *Tracker) Snapshot() Progress {
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

// Emit calls the callback with a snapshot when due (force: now).
func (t *Tracker) Emit(force bool) {
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
		t.on(t.Snapshot())
	}
}
