package eventstore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"

	"github.com/google/uuid"
)

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

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// PublicKeys check checkpoint signatures. Without any, checkpoints are
	// still compared with the recomputed chain, but a rewrite that also
	// rewrote the checkpoints table goes unnoticed: report says so.
	PublicKeys []ed25519.PublicKey
	// Progress, when set, is called every 100k events.
	Progress func(position int64)
}

// VerifyReport summarises a successful verification.
type VerifyReport struct {
	Events               int64
	HeadPosition         int64
	HeadHash             string // hex
	Checkpoints          int
	SignaturesChecked    int
	LastSignedCheckpoint int64
}

// Verify walks the whole log in position order, recomputes every hash from
// the stored content and the previous recomputed hash, and checks each
// signed checkpoint against the recomputed chain. It returns the report, or
// *ChainError naming the first problem.
func (s *Store) Verify(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	var rep VerifyReport
	cps, err := s.Checkpoints(ctx)
	if err != nil {
		return rep, err
	}
	rep.Checkpoints = len(cps)
	byPos := make(map[int64]Checkpoint, len(cps))
	for _, c := range cps {
		if len(opts.PublicKeys) > 0 {
			if err := VerifyCheckpoint(c, opts.PublicKeys); err != nil {
				return rep, &ChainError{Problem: ProblemBadSignature, Position: c.Position,
					Detail: fmt.Sprintf("checkpoint signed at %s: %v", c.SignedAt.UTC().Format("2006-01-02T15:04:05.000000Z"), err)}
			}
			rep.SignaturesChecked++
			rep.LastSignedCheckpoint = c.Position
		}
		byPos[c.Position] = c
	}
	prev := GenesisPrevHash
	var expect int64 = 1
	err = s.Scan(ctx, Filter{WithHashes: true, Raw: true}, func(e Event) error {
		if e.Position != expect {
			return &ChainError{Problem: ProblemGap, Position: expect, EventID: uuid.Nil,
				Detail: fmt.Sprintf("positions %d..%d missing; next stored event is %s at position %d", expect, e.Position-1, e.ID, e.Position)}
		}
		if !bytes.Equal(e.PrevHash, prev) {
			return &ChainError{Problem: ProblemPrevHashMismatch, Position: e.Position, EventID: e.ID,
				Detail: fmt.Sprintf("stored prev_hash %x, previous event hashes to %x", e.PrevHash, prev)}
		}
		h := EventHash(HashInput{Position: e.Position, PrevHash: prev, ID: e.ID, Stream: e.Stream, Version: e.Version,
			Type: e.Type, SchemaVersion: e.StoredSchemaVersion, Payload: e.Payload, Metadata: e.Metadata, RecordedAt: e.RecordedAt})
		if !bytes.Equal(h, e.Hash) {
			return &ChainError{Problem: ProblemHashMismatch, Position: e.Position, EventID: e.ID,
				Detail: fmt.Sprintf("%s on %s v%d: content hashes to %x, stored hash %x (edited after it was written)",
					e.Type, e.Stream, e.Version, h, e.Hash)}
		}
		if c, ok := byPos[e.Position]; ok && !bytes.Equal(c.Hash, h) {
			return &ChainError{Problem: ProblemCheckpointMismatch, Position: e.Position, EventID: e.ID,
				Detail: fmt.Sprintf("checkpoint signed at %s says hash %x, recomputed chain says %x (the log was rewritten)",
					c.SignedAt.UTC().Format("2006-01-02T15:04:05.000000Z"), c.Hash, h)}
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
	for _, c := range cps {
		if c.Position > rep.HeadPosition {
			return rep, &ChainError{Problem: ProblemTruncated, Position: c.Position,
				Detail: fmt.Sprintf("a checkpoint covers position %d but the log ends at %d (events deleted from the end)", c.Position, rep.HeadPosition)}
		}
	}
	return rep, nil
}
