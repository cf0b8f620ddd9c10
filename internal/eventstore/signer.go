package eventstore

import (
	"context"
	"errors"
	"time"
)

// Defaults of SignerOptions.
const (
	DefaultSignInterval = 30 * time.Second
	DefaultResignAfter  = 5 * time.Minute
)

// SignerOptions configure RunSigner.
type SignerOptions struct {
	// Interval between looks at the head; <= 0 means DefaultSignInterval.
	Interval time.Duration
	// ResignAfter re-signs an unchanged head once its newest checkpoint is
	// this old, so that "the newest checkpoint is recent" (verify
	// --max-checkpoint-age) holds for an idle log too; <= 0 means
	// DefaultResignAfter. Keep it well below the age verify allows.
	ResignAfter time.Duration
	// AfterSign, when set, runs after every look (signed or not), e.g. to
	// copy new checkpoints out of the database (audit.CopyCheckpoints). Its
	// error is logged and the next look tries again.
	AfterSign func(ctx context.Context) error
}

// RunSigner signs the head of the chain with sg until ctx ends: every
// Interval it signs a head that moved, and re-signs an idle one after
// ResignAfter. It needs only the signer's grant (GrantSigner), so it can run
// in its own process with its own key and database role, apart from the
// writers (`dayops audit signer`), or in-process beside them. A failed look
// is logged and retried; RunSigner returns nil when ctx ends.
func (s *Store) RunSigner(ctx context.Context, sg *Signer, opts SignerOptions) error {
	if sg == nil {
		return errors.New("run signer: no signing key")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultSignInterval
	}
	if opts.ResignAfter <= 0 {
		opts.ResignAfter = DefaultResignAfter
	}
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		c, ok, created, err := s.checkpoint(ctx, sg, opts.ResignAfter)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Warn("audit signer: checkpoint failed", "err", err)
		case created:
			s.log.Info("audit checkpoint signed", "seq", c.Seq, "position", c.Position, "key_id", c.KeyID)
		case !ok:
			s.log.Debug("audit signer: the log is empty")
		}
		if opts.AfterSign != nil {
			if err := opts.AfterSign(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("audit signer: after-sign step failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
