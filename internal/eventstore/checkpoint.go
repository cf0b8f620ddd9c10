package eventstore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// checkpointDomain separates checkpoint signatures from any other use of the key.
const checkpointDomain = "dayops.eventstore.checkpoint.v1"

// Checkpoint is a signed statement "the chain's head at Position has Hash".
// Anyone holding the public key can check it against a recomputed chain, so
// rewriting the whole events table consistently is still detected.
type Checkpoint struct {
	Position  int64
	Hash      []byte
	SignedAt  time.Time
	KeyID     string
	Signature []byte
}

// CheckpointMessage is the byte string a checkpoint signs:
// lp(domain) u64(position) lp(hash) u64(signed_at unix micros), same encoding
// as EventHash.
func CheckpointMessage(position int64, hash []byte, signedAt time.Time) []byte {
	var b bytes.Buffer
	writeString(&b, checkpointDomain)
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(position)))
	writeString(&b, string(hash))
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(signedAt.UTC().UnixMicro())))
	return b.Bytes()
}

// KeyID names a public key: the hex of the first 8 bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// Signer signs checkpoints with an Ed25519 private key.
type Signer struct {
	key ed25519.PrivateKey
	id  string
}

// NewSigner wraps a private key.
func NewSigner(key ed25519.PrivateKey) *Signer {
	return &Signer{key: key, id: KeyID(key.Public().(ed25519.PublicKey))}
}

// Public returns the public key that verifies this signer's checkpoints.
func (s *Signer) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Sign returns the signed checkpoint of (position, hash) at time at.
func (s *Signer) Sign(position int64, hash []byte, at time.Time) Checkpoint {
	at = at.Truncate(time.Microsecond)
	return Checkpoint{
		Position: position, Hash: hash, SignedAt: at, KeyID: s.id,
		Signature: ed25519.Sign(s.key, CheckpointMessage(position, hash, at)),
	}
}

// VerifyCheckpoint checks c's signature with one of keys (matched by KeyID).
func VerifyCheckpoint(c Checkpoint, keys []ed25519.PublicKey) error {
	for _, k := range keys {
		if KeyID(k) != c.KeyID {
			continue
		}
		if !ed25519.Verify(k, CheckpointMessage(c.Position, c.Hash, c.SignedAt), c.Signature) {
			return errors.New("signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("signed by unknown key %s", c.KeyID)
}

// Checkpoint signs the current head now (if it is not signed yet) and
// returns the checkpoint; ok is false when the log is empty. It takes the
// append lock, so the head cannot move meanwhile.
func (s *Store) Checkpoint(ctx context.Context) (c Checkpoint, ok bool, err error) {
	if s.opts.Signer == nil {
		return c, false, errors.New("checkpoint: no signing key configured")
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", appendLockKey); err != nil {
			return err
		}
		var pos pgtype.Int8
		var hash []byte
		var clock time.Time
		var last pgtype.Int8
		if err := tx.QueryRow(ctx, `SELECT clock_timestamp(),
				(SELECT position FROM events ORDER BY position DESC LIMIT 1),
				(SELECT hash FROM events ORDER BY position DESC LIMIT 1),
				(SELECT max(position) FROM checkpoints)`).Scan(&clock, &pos, &hash, &last); err != nil {
			return err
		}
		if !pos.Valid {
			return nil
		}
		ok = true
		if last.Valid && last.Int64 == pos.Int64 {
			return tx.QueryRow(ctx, "SELECT position, hash, signed_at, key_id, signature FROM checkpoints WHERE position = $1", pos.Int64).
				Scan(&c.Position, &c.Hash, &c.SignedAt, &c.KeyID, &c.Signature)
		}
		c = s.opts.Signer.Sign(pos.Int64, hash, clock)
		_, err := tx.Exec(ctx, "INSERT INTO checkpoints (position, hash, signed_at, key_id, signature) VALUES ($1, $2, $3, $4, $5)",
			c.Position, c.Hash, c.SignedAt, c.KeyID, c.Signature)
		return err
	})
	if err != nil {
		return Checkpoint{}, false, fmt.Errorf("checkpoint: %w", err)
	}
	return c, ok, nil
}

// Checkpoints returns all stored checkpoints in position order.
func (s *Store) Checkpoints(ctx context.Context) ([]Checkpoint, error) {
	rows, err := s.pool.Query(ctx, "SELECT position, hash, signed_at, key_id, signature FROM checkpoints ORDER BY position")
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Checkpoint, error) {
		var c Checkpoint
		err := r.Scan(&c.Position, &c.Hash, &c.SignedAt, &c.KeyID, &c.Signature)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	return cs, nil
}

// GenerateKey returns PEM (PKCS #8 private, PKIX public) encodings of a new
// Ed25519 key pair.
func GenerateKey() (privatePEM, publicPEM []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, nil, err
	}
	p8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, err
	}
	pk, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), nil
}

// ParsePrivateKey reads an Ed25519 private key: PEM (PKCS #8), or base64 of
// the 32-byte seed or the 64-byte key.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	if blk, _ := pem.Decode(data); blk != nil {
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse private key: %w", err)
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("parse private key: %T is not Ed25519", k)
		}
		return ek, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("parse private key: neither PEM nor base64: %w", err)
	}
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		return ed25519.PrivateKey(raw), nil
	}
	return nil, fmt.Errorf("parse private key: %d bytes is not an Ed25519 key", len(raw))
}

// ParsePublicKey reads an Ed25519 public key: PEM (PKIX) or base64 of the 32 bytes.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	if blk, _ := pem.Decode(data); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("parse public key: %T is not Ed25519", k)
		}
		return ek, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("parse public key: neither PEM nor base64: %w", err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("parse public key: %d bytes is not an Ed25519 key", len(raw))
	}
	return ed25519.PublicKey(raw), nil
}

// LoadKeyFile reads a file, or when path is empty the value of env (a path
// if it names an existing file, else the key itself). It returns nil, nil
// when neither is set.
func LoadKeyFile(path, env string) ([]byte, error) {
	if path == "" {
		v := os.Getenv(env)
		if v == "" {
			return nil, nil
		}
		if _, err := os.Stat(v); err != nil {
			return []byte(v), nil
		}
		path = v
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key: %w", err)
	}
	return b, nil
}

// EnvSigningKey names the environment variable holding the checkpoint
// signing key: a path to a PEM file, or the key itself (PEM or base64).
const EnvSigningKey = "DAYOPS_AUDIT_SIGNING_KEY"

// LoadSigner returns the checkpoint signer configured by path, or when path
// is empty by EnvSigningKey; nil, nil when neither is set (no checkpoints).
// Binaries that append (the worker, the API) pass it as Options.Signer.
func LoadSigner(path string) (*Signer, error) {
	raw, err := LoadKeyFile(path, EnvSigningKey)
	if err != nil || raw == nil {
		return nil, err
	}
	k, err := ParsePrivateKey(raw)
	if err != nil {
		return nil, err
	}
	return NewSigner(k), nil
}
