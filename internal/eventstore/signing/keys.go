package signing

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

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
	key, raw, err := decodeKey[ed25519.PrivateKey](data, "private", x509.ParsePKCS8PrivateKey)
	if err != nil || key != nil {
		return key, err
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
	key, raw, err := decodeKey[ed25519.PublicKey](data, "public", x509.ParsePKIXPublicKey)
	if err != nil || key != nil {
		return key, err
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("parse public key: %d bytes is not an Ed25519 key", len(raw))
	}
	return ed25519.PublicKey(raw), nil
}

// decodeKey reads the two forms both key kinds ("private", "public") come
// in: PEM, whose block parse decodes into an Ed25519 key K, or else base64,
// whose bytes (raw) the caller checks. On success exactly one of key and
// raw is set.
func decodeKey[K ed25519.PrivateKey | ed25519.PublicKey](data []byte, kind string, parse func([]byte) (any, error)) (key K, raw []byte, err error) {
	if blk, _ := pem.Decode(data); blk != nil {
		k, err := parse(blk.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("parse %s key: %w", kind, err)
		}
		ek, ok := k.(K)
		if !ok {
			return nil, nil, fmt.Errorf("parse %s key: %T is not Ed25519", kind, k)
		}
		return ek, nil, nil
	}
	raw, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, nil, fmt.Errorf("parse %s key: neither PEM nor base64: %w", kind, err)
	}
	return nil, raw, nil
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
