// Package slotcopy is the slot mover's copy path: it opens the slots of a
// wave by copying their keys to the target (Copier.Open) instead of leaving
// every key to MIGRATE, and removes the keys no client can reach that a
// target holds of a slot before the slot is opened (DropBeforeOpen).
// internal/redis/slotmigrate (MigrateSlots) is its only caller; this package
// does not import it: the engine hands it the Admin, the migration's budget
// and pacer, and its progress callbacks in a Copier.
//
// MIGRATE keeps the source blocked until the target has restored the keys,
// so with one source (a scale-in) every slot is a chain of synchronous
// round trips and no two targets ever restore at once. The copy path breaks
// that chain while keeping the move atomic for clients. Per slot, on its own
// connection to the source:
//
//  1. WATCH the slot's keys and run one script that sizes them and returns
//     their DUMP and PEXPIRETIME (dumpSlot; a big string's value, itself
//     or, where most keys are big strings, by a GETRANGE in the same round
//     trip: KeyMix). The source does
//     not migrate the slot yet, so every client still reads and writes the
//     slot on the source only: nothing can reach the target's copy (a node
//     redirects a slot it only imports to its owner unless ASK sent the
//     client, and only a MIGRATING source sends ASK).
//  2. RESTORE-ASKING ... REPLACE ABSTTL each key on the target: the targets
//     of a wave restore in parallel with each other and with the source.
//  3. MULTI, CLUSTER SETSLOT MIGRATING, UNLINK the keys, EXEC on the source.
//     If a client changed or deleted a watched key meanwhile, EXEC does
//     nothing; the target's copies are still unreachable, are removed, and
//     the slot is copied again (then handed to MIGRATE after copyAttempts).
//     If EXEC runs, the keys leave the source and become reachable on the
//     target (by ASK) in one step, with the values and expiry times they had.
//
// Keys created in the slot during the copy are not watched and stay on the
// source; the engine moves them with MIGRATE like any other key of an open
// slot. A slot the source already migrates (an earlier run or another tool
// opened it; clients may have written the target by ASK), a slot with too
// many keys or bytes for one copy, or an empty slot goes through MIGRATE
// only. Keys the target holds of a slot the source does not migrate yet are
// leftovers no client can reach (a copy that was interrupted); they are
// removed first (DropBeforeOpen), as the engine does for every slot it
// opens.
//
// It is a library: it imports no go.temporal.io package (tests/layout
// checks it).
package slotcopy

import (
	"golang.org/x/sync/semaphore"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/pace"
)

// Copier is one migration's copy path: the clients, logger and limits of
// its Admin, the budget and pacer its waves share, and where its counts go.
// Safe for concurrent use by the migration's waves.
type Copier struct {
	*clusteradmin.Admin

	// Budget bounds the bytes of dumps the migration's copies hold at once.
	Budget *semaphore.Weighted
	// Pace is the latency budget's window, one unit per copy attempt (nil:
	// Limits.LatencyBudgetOff).
	Pace *pace.Pacer
	// Mix is what the migration's copies found on each source so far (nil:
	// every big string is read by the dump script; see KeyMix).
	Mix *KeyMix
	// Copied is called (required) when a slot's keys (keys, bytes of their
	// dumps) are on the target and the slot is open on the source.
	Copied func(keys, bytes int64)
	// Conflict is called (required) when a copy is undone because a client
	// changed one of its keys meanwhile.
	Conflict func()
	// BeforeCommit, when set (tests only), runs between the RESTOREs on the
	// target and the EXEC on the source.
	BeforeCommit func(slot, attempt int)
}
