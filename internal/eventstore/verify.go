package eventstore

import (
	"context"

	"github.com/dayops/dayops/internal/eventstore/verify"
)

// Verification is package verify's; these names keep the store's callers
// as they were.
type (
	ChainProblem  = verify.ChainProblem
	ChainError    = verify.ChainError
	VerifyOptions = verify.Options
	VerifyReport  = verify.Report
)

// The problems Verify reports (see package verify).
const (
	ProblemGap                = verify.ProblemGap
	ProblemHashMismatch       = verify.ProblemHashMismatch
	ProblemPrevHashMismatch   = verify.ProblemPrevHashMismatch
	ProblemCheckpointMismatch = verify.ProblemCheckpointMismatch
	ProblemBadSignature       = verify.ProblemBadSignature
	ProblemTruncated          = verify.ProblemTruncated
	ProblemCheckpointGap      = verify.ProblemCheckpointGap
	ProblemCheckpointMissing  = verify.ProblemCheckpointMissing
	ProblemNoCheckpoint       = verify.ProblemNoCheckpoint
	ProblemStaleCheckpoint    = verify.ProblemStaleCheckpoint
)

// Verify walks the whole log in position order and checks the hash chain and
// the checkpoints (see verify.Verify). It returns the report, or *ChainError
// naming the first problem.
func (s *Store) Verify(ctx context.Context, opts VerifyOptions) (VerifyReport, error) {
	return verify.Verify(ctx, chainSource{s}, opts)
}

// chainSource is the store as verify.Source: raw events with their hashes.
type chainSource struct{ *Store }

func (c chainSource) ScanChain(ctx context.Context, fn func(Event) error) error {
	return c.Scan(ctx, Filter{WithHashes: true, Raw: true}, fn)
}
