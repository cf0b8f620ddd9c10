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

// Signed-message domains: format 1 (legacy, before checkpoints were
// chained) and format 2, which also signs the checkpoint's seq.
const (
	checkpointDomain   = "dayops.eventstore.checkpoint.v1"
	checkpointDomainV2 = "dayops.eventstore.checkpoint.v2"
)

// CheckpointFormat is the current format of signed checkpoints.
const CheckpointFormat = 2

// Checkpoint is a signed statement "the chain's head at Position has Hash,
// and this is checkpoint number Seq". Anyone holding the public key can
// check it against a recomputed chain, so rewriting the whole events table
// consistently is still detected; because Seq is signed and counts 1, 2,
// 3, ..., a deleted checkpoint leaves a gap.
type Checkpoint struct {
	Seq       int64     `json:"seq"`
	Position  int64     `json:"position"`
	Hash      []byte    `json:"hash"`
	SignedAt  time.Time `json:"signed_at"`
	KeyID     string    `json:"key_id"`
	Signature []byte    `json:"signature"`
	// Format is 1 for checkpoints written before seq was signed (their seq
	// was numbered by migration 0002 and is not covered by the signature),
	// 2 since.
	Format int `json:"format"`
}

// CheckpointMessage is the byte string a format-1 checkpoint signs:
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

// checkpointMessageV2 is what a format-2 checkpoint signs: lp(domain)
// u64(seq) u64(position) lp(hash) u64(signed_at unix micros).
func checkpointMessageV2(seq, position int64, hash []byte, signedAt time.Time) []byte {
	var b bytes.Buffer
	writeString(&b, checkpointDomainV2)
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(seq)))
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(position)))
	writeString(&b, string(hash))
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(signedAt.UTC().UnixMicro())))
	return b.Bytes()
}

// Message returns the bytes c's signature covers.
func (c Checkpoint) Message() []byte {
	if c.Format == 1 {
		return CheckpointMessage(c.Position, c.Hash, c.SignedAt)
	}
	return checkpointMessageV2(c.Seq, c.Position, c.Hash, c.SignedAt)
}

// Equal reports whether two checkpoints are the same signed statement.
func (c Checkpoint) Equal(o Checkpoint) bool {
	return c.Seq == o.Seq && c.Position == o.Position && bytes.Equal(c.Hash, o.Hash) && c.SignedAt.Equal(o.SignedAt) &&
		c.KeyID == o.KeyID && bytes.Equal(c.Signature, o.Signature) && c.Format == o.Format
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

// Sign returns checkpoint number seq of (position, hash) at time at.
func (s *Signer) Sign(seq, position int64, hash []byte, at time.Time) Checkpoint {
	at = at.Truncate(time.Microsecond)
	c := Checkpoint{Seq: seq, Position: position, Hash: hash, SignedAt: at, KeyID: s.id, Format: CheckpointFormat}
	c.Signature = ed25519.Sign(s.key, c.Message())
	return c
}

// VerifyCheckpoint checks c's signature with one of keys (matched by KeyID).
func VerifyCheckpoint(c Checkpoint, keys []ed25519.PublicKey) error {
	for _, k := range keys {
		if KeyID(k) != c.KeyID {
			continue
		}
		if !ed25519.Verify(k, c.Message(), c.Signature) {
			return errors.New("signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("signed by unknown key %s", c.KeyID)
}

const checkpointColumns = "seq, position, hash, signed_at, key_id, signature, format"

func scanCheckpoint(r pgx.Row, c *Checkpoint) error {
	var format int16
	if err := r.Scan(&c.Seq, &c.Position, &c.Hash, &c.SignedAt, &c.KeyID, &c.Signature, &format); err != nil {
		return err
	}
	c.Format = int(format)
	return nil
}

const insertCheckpoint = "INSERT INTO checkpoints (" + checkpointColumns + ") VALUES ($1, $2, $3, $4, $5, $6, $7)"

func checkpointArgs(c Checkpoint) []any {
	return []any{c.Seq, c.Position, c.Hash, c.SignedAt, c.KeyID, c.Signature, int16(c.Format)}
}

// Checkpoint signs the current head now (if it is not signed yet) with
// Options.Signer and returns the checkpoint; ok is false when the log is
// empty. It takes the append lock, so the head cannot move meanwhile.
func (s *Store) Checkpoint(ctx context.Context) (c Checkpoint, ok bool, err error) {
	if s.opts.Signer == nil {
		return c, false, errors.New("checkpoint: no signing key configured")
	}
	c, ok, _, err = s.checkpoint(ctx, s.opts.Signer, 0)
	return c, ok, err
}

// checkpoint signs the head with sg unless the newest checkpoint already
// covers it and is younger than refresh (refresh <= 0: never re-sign an
// unchanged head). created says whether a new checkpoint was written.
func (s *Store) checkpoint(ctx context.Context, sg *Signer, refresh time.Duration) (c Checkpoint, ok, created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", appendLockKey); err != nil {
			return err
		}
		var pos pgtype.Int8
		var hash []byte
		var clock time.Time
		if err := tx.QueryRow(ctx, `SELECT clock_timestamp(),
				(SELECT position FROM events ORDER BY position DESC LIMIT 1),
				(SELECT hash FROM events ORDER BY position DESC LIMIT 1)`).Scan(&clock, &pos, &hash); err != nil {
			return err
		}
		if !pos.Valid {
			return nil
		}
		ok = true
		var last Checkpoint
		err := scanCheckpoint(tx.QueryRow(ctx, "SELECT "+checkpointColumns+" FROM checkpoints ORDER BY seq DESC LIMIT 1"), &last)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case last.Position == pos.Int64 && (refresh <= 0 || clock.Sub(last.SignedAt) < refresh):
			c = last
			return nil
		}
		c = sg.Sign(last.Seq+1, pos.Int64, hash, clock)
		created = true
		_, err = tx.Exec(ctx, insertCheckpoint, checkpointArgs(c)...)
		return err
	})
	if err != nil {
		return Checkpoint{}, false, false, fmt.Errorf("checkpoint: %w", err)
	}
	return c, ok, created, nil
}

// Checkpoints returns all stored checkpoints in seq order.
func (s *Store) Checkpoints(ctx context.Context) ([]Checkpoint, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+checkpointColumns+" FROM checkpoints ORDER BY seq")
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Checkpoint, error) {
		var c Checkpoint
		err := scanCheckpoint(r, &c)
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
	pubPEM, err := MarshalPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), pubPEM, nil
}

// MarshalPublicKey returns the PKIX PEM encoding of pub.
func MarshalPublicKey(pub ed25519.PublicKey) ([]byte, error) {
	pk, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pk}), nil
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
