package eventstore

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// Key file names written by EnsureKeyPair.
const (
	PrivateKeyFile = "audit-signing.key"
	PublicKeyFile  = "audit-signing.pub"
)

// EnsureKeyPair makes sure dir holds a checkpoint key pair,
// dir/audit-signing.key (PKCS #8 PEM, mode 0600) and dir/audit-signing.pub
// (PKIX PEM), generating it on first use, and returns both paths. An
// existing private key is kept (its public half rewritten if missing), so
// a local stack signs with one key across restarts. `make run` calls it on
// its state directory, which is how checkpoints are signed by default.
func EnsureKeyPair(dir string) (privPath, pubPath string, err error) {
	privPath, pubPath = filepath.Join(dir, PrivateKeyFile), filepath.Join(dir, PublicKeyFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("audit key: %w", err)
	}
	raw, err := os.ReadFile(privPath)
	switch {
	case errors.Is(err, os.ErrNotExist):
		priv, pub, err := GenerateKey()
		if err != nil {
			return "", "", fmt.Errorf("audit key: %w", err)
		}
		// O_EXCL: two processes starting at once never overwrite each
		// other's key; the loser reads the winner's.
		f, err := os.OpenFile(privPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return EnsureKeyPair(dir)
		}
		if err != nil {
			return "", "", fmt.Errorf("audit key: %w", err)
		}
		if _, err := f.Write(priv); err != nil {
			f.Close()
			return "", "", fmt.Errorf("audit key: %w", err)
		}
		if err := f.Close(); err != nil {
			return "", "", fmt.Errorf("audit key: %w", err)
		}
		if err := os.WriteFile(pubPath, pub, 0o644); err != nil {
			return "", "", fmt.Errorf("audit key: %w", err)
		}
		return privPath, pubPath, nil
	case err != nil:
		return "", "", fmt.Errorf("audit key: %w", err)
	}
	k, err := ParsePrivateKey(raw)
	if err != nil {
		return "", "", fmt.Errorf("audit key %s: %w", privPath, err)
	}
	if _, err := os.Stat(pubPath); err == nil {
		return privPath, pubPath, nil
	}
	pubPEM, err := MarshalPublicKey(k.Public().(ed25519.PublicKey))
	if err != nil {
		return "", "", fmt.Errorf("audit key: %w", err)
	}
	if err := os.WriteFile(pubPath, pubPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("audit key: %w", err)
	}
	return privPath, pubPath, nil
}
