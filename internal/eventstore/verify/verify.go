// Package verify checks the event log's hash chain and its signed
// checkpoints. Verify recomputes the chain from the stored content and
// names the first edited event (hash mismatch), the first missing position
// (gap), a checkpoint beyond the end (truncation), a missing checkpoint (seq
// gap), a checkpoint whose hash differs from the recomputed chain or whose
// signature fails (a consistent rewrite of the whole table is caught by
// anyone holding the public key), no checkpoint at all (unless allowed), a
// newest checkpoint older than a bound, and a checkpoint kept elsewhere
// (Options.External, the backup store's copies) that the database lacks:
// deleting the newest events with their checkpoints is caught there. It
// reads through Source; package eventstore's Store.Verify passes the store.
package verify

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/dayops/dayops/internal/eventstore/model"
	"github.com/dayops/dayops/internal/eventstore/signing"
	"github.com/google/uuid"
)

type (
	// Checkpoint is a signed head of the chain.
	Checkpoint = signing.Checkpoint
	// Event is a stored event.
	Event = model.Event
)

// Source is what Verify reads.
type Source interface {
	// Checkpoints returns all stored checkpoints in seq order.
	Checkpoints(ctx context.Context) ([]Checkpoint, error)
	// ScanChain calls fn for every stored event in position order, with
	// its hashes and as stored (not upcast).
	ScanChain(ctx context.Context, fn func(Event) error) error
}

// ChainProblem is the kind of the first inconsistency Verify found.
type ChainProblem string

// The problems Verify reports.
const (
	ProblemGap                ChainProblem = "gap"                 // positions missing (a row deleted)
	ProblemHashMismatch       ChainProblem = "hash_mismatch"       // the event's content does not match its stored hash (edited)
	ProblemPrevHashMismatch   ChainProblem = "prev_hash_mismatch"  // the link to the previous event is broken
	ProblemCheckpointMismatch ChainProblem = "checkpoint_mismatch" // a signed checkpoint disagrees with the recomputed chain
	ProblemBadSignature       ChainProblem = "bad_signature"       // a checkpoint's signature does not verify
	ProblemTruncated          ChainProblem = "truncated"           // a checkpoint lies beyond the head (tail deleted)
	ProblemCheckpointGap      ChainProblem = "checkpoint_gap"      // a checkpoint's seq is missing (checkpoint deleted)
	ProblemCheckpointMissing  ChainProblem = "checkpoint_missing"  // a checkpoint kept elsewhere is not (or not so) in the database
	ProblemNoCheckpoint       ChainProblem = "no_checkpoint"       // nothing is signed (and that was not allowed)
	ProblemStaleCheckpoint    ChainProblem = "stale_checkpoint"    // the newest checkpoint is older than allowed
)

// ChainError is a broken chain: the first problem found, naming the event
// (or checkpoint) at fault. Its exit code is 2 for the CLI.
type ChainError struct {
	Problem  ChainProblem
	Position int64
	EventID  uuid.UUID // zero when no event is at fault (gap, checkpoint)
	Detail   string
}

func (e *ChainError) Error() string {
	s := fmt.Sprintf("chain broken at position %d: %s", e.Position, e.Problem)
	if e.EventID != uuid.Nil {
		s += fmt.Sprintf(" (event %s)", e.EventID)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// ExitCode makes `dayops audit verify` exit 2 on a broken chain.
func (e *ChainError) ExitCode() int { return 2 }

// Options configure Verify. The zero value checks the chain, requires
// at least one checkpoint and the checkpoints' seq chain, but no signatures
// and no age.
type Options struct {
	// PublicKeys check checkpoint signatures. Without any, checkpoints are
	// still compared with the recomputed chain, but a rewrite that also
	// rewrote the checkpoints table goes unnoticed: report says so.
	PublicKeys []ed25519.PublicKey
	// AllowNoCheckpoint lets a log without any checkpoint pass (a new
	// install before its first signature). Otherwise "nothing signed" is
	// ProblemNoCheckpoint: deleting the log and its checkpoints must not
	// look like an empty, healthy log.
	AllowNoCheckpoint bool
	// MaxCheckpointAge, when > 0, fails verification when the newest
	// checkpoint was signed longer ago than this (before Now). With a
	// signer that re-signs at least this often (eventstore.RunSigner),
	// deleting the newest events together with their checkpoints is caught
	// this way.
	MaxCheckpointAge time.Duration
	// Now is the instant MaxCheckpointAge is measured from; zero: time.Now().
	Now time.Time
	// External are copies of checkpoints kept outside the database (the
	// backup store): each must be in the database unchanged, and is checked
	// like the stored ones. Rewriting the database alone is caught here.
	External []Checkpoint
	// Progress, when set, is called every 100k events.
	Progress func(position int64)
}

// Report summarises a successful verification.
type Report struct {
	Events               int64
	HeadPosition         int64
	HeadHash             string // hex
	Checkpoints          int
	SignaturesChecked    int
	LastSignedCheckpoint int64
	// NewestCheckpoint is the checkpoint with the highest seq (zero Seq: none).
	NewestCheckpoint Checkpoint
	// ExternalChecked counts External checkpoints found in the database.
	ExternalChecked int
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// checkCheckpoints checks what can be checked without the events: the
// signatures, the seq chain (1, 2, 3, ...) and the external copies.
func checkCheckpoints(cps []Checkpoint, opts Options, rep *Report) error {
	bySeq := make(map[int64]Checkpoint, len(cps))
	for i, c := range cps {
		if len(opts.PublicKeys) > 0 {
			if err := signing.VerifyCheckpoint(c, opts.PublicKeys); err != nil {
				return &ChainError{Problem: ProblemBadSignature, Position: c.Position,
					Detail: fmt.Sprintf("checkpoint %d signed at %s: %v", c.Seq, fmtTime(c.SignedAt), err)}
			}
			rep.SignaturesChecked++
			rep.LastSignedCheckpoint = max(rep.LastSignedCheckpoint, c.Position)
		}
		if want := int64(i + 1); c.Seq != want {
			return &ChainError{Problem: ProblemCheckpointGap, Position: c.Position,
				Detail: fmt.Sprintf("checkpoints %d..%d missing; next stored checkpoint is %d (position %d) (checkpoints deleted)",
					want, c.Seq-1, c.Seq, c.Position)}
		}
		if i > 0 && c.Position < cps[i-1].Position {
			return &ChainError{Problem: ProblemCheckpointGap, Position: c.Position,
				Detail: fmt.Sprintf("checkpoint %d covers position %d, below checkpoint %d's position %d", c.Seq, c.Position, cps[i-1].Seq, cps[i-1].Position)}
		}
		bySeq[c.Seq] = c
	}
	for _, x := range opts.External {
		if len(opts.PublicKeys) > 0 {
			if err := signing.VerifyCheckpoint(x, opts.PublicKeys); err != nil {
				return &ChainError{Problem: ProblemBadSignature, Position: x.Position,
					Detail: fmt.Sprintf("copy of checkpoint %d kept outside the database: %v", x.Seq, err)}
			}
		}
		c, ok := bySeq[x.Seq]
		if !ok {
			return &ChainError{Problem: ProblemCheckpointMissing, Position: x.Position,
				Detail: fmt.Sprintf("checkpoint %d (position %d, signed at %s) is kept outside the database but not in it (checkpoints deleted)",
					x.Seq, x.Position, fmtTime(x.SignedAt))}
		}
		if !c.Equal(x) {
			return &ChainError{Problem: ProblemCheckpointMissing, Position: x.Position,
				Detail: fmt.Sprintf("checkpoint %d in the database (position %d hash %x) differs from its copy outside it (position %d hash %x) (the database was rewritten)",
					x.Seq, c.Position, c.Hash, x.Position, x.Hash)}
		}
		rep.ExternalChecked++
	}
	return nil
}

// Verify walks the whole log in position order, recomputes every hash from
// the stored content and the previous recomputed hash, and checks each
// checkpoint (stored, or kept elsewhere: opts.External) against the
// recomputed chain, the checkpoints' own seq chain, and the newest
// checkpoint's age. It returns the report, or *ChainError naming the first
// problem.
func Verify(ctx context.Context, src Source, opts Options) (Report, error) {
	var rep Report
	cps, err := src.Checkpoints(ctx)
	if err != nil {
		return rep, err
	}
	rep.Checkpoints = len(cps)
	if err := checkCheckpoints(cps, opts, &rep); err != nil {
		return rep, err
	}
	byPos := make(map[int64][]Checkpoint, len(cps))
	for _, c := range cps {
		byPos[c.Position] = append(byPos[c.Position], c)
	}
	prev := model.GenesisPrevHash
	var expect int64 = 1
	err = src.ScanChain(ctx, func(e Event) error {
		if e.Position != expect {
			return &ChainError{Problem: ProblemGap, Position: expect, EventID: uuid.Nil,
				Detail: fmt.Sprintf("positions %d..%d missing; next stored event is %s at position %d", expect, e.Position-1, e.ID, e.Position)}
		}
		if !bytes.Equal(e.PrevHash, prev) {
			return &ChainError{Problem: ProblemPrevHashMismatch, Position: e.Position, EventID: e.ID,
				Detail: fmt.Sprintf("stored prev_hash %x, previous event hashes to %x", e.PrevHash, prev)}
		}
		h := model.EventHash(model.HashInput{Position: e.Position, PrevHash: prev, ID: e.ID, Stream: e.Stream, Version: e.Version,
			Type: e.Type, SchemaVersion: e.StoredSchemaVersion, Payload: e.Payload, Metadata: e.Metadata, RecordedAt: e.RecordedAt})
		if !bytes.Equal(h, e.Hash) {
			return &ChainError{Problem: ProblemHashMismatch, Position: e.Position, EventID: e.ID,
				Detail: fmt.Sprintf("%s on %s v%d: content hashes to %x, stored hash %x (edited after it was written)",
					e.Type, e.Stream, e.Version, h, e.Hash)}
		}
		for _, c := range byPos[e.Position] {
			if !bytes.Equal(c.Hash, h) {
				return &ChainError{Problem: ProblemCheckpointMismatch, Position: e.Position, EventID: e.ID,
					Detail: fmt.Sprintf("checkpoint %d signed at %s says hash %x, recomputed chain says %x (the log was rewritten)",
						c.Seq, fmtTime(c.SignedAt), c.Hash, h)}
			}
		}
		prev = h
		rep.Events++
		rep.HeadPosition = e.Position
		expect++
		if opts.Progress != nil && e.Position%100000 == 0 {
			opts.Progress(e.Position)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if rep.Events > 0 {
		rep.HeadHash = hex.EncodeToString(prev)
	}
	err = checkHead(cps, opts, &rep)
	return rep, err
}

// checkHead checks the checkpoints against the end of the chain Verify
// walked: none beyond its head, at least one (unless allowed), the newest
// not older than allowed. It sets rep.NewestCheckpoint.
func checkHead(cps []Checkpoint, opts Options, rep *Report) error {
	for _, c := range cps {
		if c.Position > rep.HeadPosition {
			return &ChainError{Problem: ProblemTruncated, Position: c.Position,
				Detail: fmt.Sprintf("checkpoint %d covers position %d but the log ends at %d (events deleted from the end)", c.Seq, c.Position, rep.HeadPosition)}
		}
	}
	if len(cps) == 0 {
		if !opts.AllowNoCheckpoint {
			return &ChainError{Problem: ProblemNoCheckpoint, Position: rep.HeadPosition,
				Detail: fmt.Sprintf("no signed checkpoint stored (%d events): a log whose newest events were deleted with their checkpoints would look the same; run a signer, or allow it explicitly", rep.Events)}
		}
		return nil
	}
	rep.NewestCheckpoint = cps[len(cps)-1]
	if opts.MaxCheckpointAge > 0 {
		now := opts.Now
		if now.IsZero() {
			now = time.Now()
		}
		if age := now.Sub(rep.NewestCheckpoint.SignedAt); age > opts.MaxCheckpointAge {
			return &ChainError{Problem: ProblemStaleCheckpoint, Position: rep.NewestCheckpoint.Position,
				Detail: fmt.Sprintf("the newest checkpoint (%d, signed at %s) is %s old, more than the allowed %s: the signer stopped, or newer checkpoints were deleted",
					rep.NewestCheckpoint.Seq, fmtTime(rep.NewestCheckpoint.SignedAt), age.Round(time.Second), opts.MaxCheckpointAge)}
		}
	}
	return nil
}
