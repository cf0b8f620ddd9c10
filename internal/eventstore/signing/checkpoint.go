// Package signing is what signs the event log's checkpoints: the signed
// message (format 1 and 2), the Ed25519 Signer, verification against known
// public keys, and the key files (PEM parsing, generation, EnsureKeyPair).
// Package eventstore writes and reads the checkpoints.
package signing

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
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
	lenPrefixed(&b, checkpointDomain)
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(position)))
	lenPrefixed(&b, string(hash))
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(signedAt.UTC().UnixMicro())))
	return b.Bytes()
}

// checkpointMessageV2 is what a format-2 checkpoint signs: lp(domain)
// u64(seq) u64(position) lp(hash) u64(signed_at unix micros).
func checkpointMessageV2(seq, position int64, hash []byte, signedAt time.Time) []byte {
	var b bytes.Buffer
	lenPrefixed(&b, checkpointDomainV2)
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(seq)))
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(position)))
	lenPrefixed(&b, string(hash))
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

// lenPrefixed writes s with its length first (8 bytes, big-endian), as the
// event hash does.
func lenPrefixed(b *bytes.Buffer, s string) {
	b.Write(binary.BigEndian.AppendUint64(nil, uint64(len(s))))
	b.WriteString(s)
}
