// Package backupstore keeps dayops backups: streamed files (one RDB per
// shard) and a JSON manifest per backup, in a directory (a local path or a
// mounted PersistentVolume) or in S3-compatible object storage.
//
// Contract:
//   - Put streams: it never holds a whole file in memory (the S3 backend
//     buffers at most PartSize bytes per upload thread) and returns the
//     file's size and SHA-256, computed on the bytes as they pass.
//   - A file becomes visible under its key only once complete: the directory
//     backend writes a temporary file and renames it, S3 completes the
//     multipart upload last. A Put that fails leaves the previous content (or
//     nothing).
//   - A backup exists when its manifest exists: the manifest is written after
//     every file, and deleted first.
//   - Delete of a missing key is success; Get and Stat of one return an error
//     that errors.Is ErrNotFound.
//
// Layout: <backup ID>/manifest.json and <backup ID>/shard-<n>.rdb under the
// store's root (directory or bucket prefix).
package backupstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"strings"
)

// ErrNotFound says a key does not exist.
var ErrNotFound = errors.New("not found")

// Object describes one stored file.
type Object struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	// SHA256 is hex, set by Put (other calls leave it empty).
	SHA256 string `json:"sha256,omitempty"`
}

// Store is a backup store backend.
type Store interface {
	// Put streams r into key and returns its size and SHA-256.
	Put(ctx context.Context, key string, r io.Reader) (Object, error)
	// Get opens key for reading.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat returns key's size.
	Stat(ctx context.Context, key string) (Object, error)
	// List returns the keys under prefix, sorted.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes key; a missing key is success.
	Delete(ctx context.Context, key string) error
	// String names the store for people (no secrets).
	String() string
}

// Environment variables read by Open for an s3:// store's credentials.
const (
	EnvAccessKey = "AWS_ACCESS_KEY_ID"
	EnvSecretKey = "AWS_SECRET_ACCESS_KEY"
)

// Open opens a store from its URL:
//
//	/abs/path or file:///abs/path    a directory (created if missing)
//	s3://BUCKET[/PREFIX]?endpoint=HOST:PORT[&insecure=true][&region=R]
//	                                 S3-compatible storage; credentials from
//	                                 AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY;
//	                                 the bucket is created if missing.
func Open(ctx context.Context, raw string) (Store, error) {
	if raw == "" {
		return nil, errors.New("backup store: no URL")
	}
	if strings.HasPrefix(raw, "/") {
		return OpenDir(raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("backup store URL: %w", err)
	}
	switch u.Scheme {
	case "file":
		return OpenDir(u.Path)
	case "s3":
		q := u.Query()
		cfg := S3Config{
			Endpoint: q.Get("endpoint"), Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"),
			Region: q.Get("region"), Insecure: q.Get("insecure") == "true",
			AccessKey: os.Getenv(EnvAccessKey), SecretKey: os.Getenv(EnvSecretKey),
		}
		return OpenS3(ctx, cfg)
	default:
		return nil, fmt.Errorf("backup store URL %q: scheme must be file or s3 (or an absolute path)", raw)
	}
}

// hashingReader hashes and counts what passes through it.
type hashingReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func newHashingReader(r io.Reader) *hashingReader { return &hashingReader{r: r, h: sha256.New()} }

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		h.h.Write(p[:n])
		h.n += int64(n)
	}
	return n, err
}

func (h *hashingReader) sum() string { return hex.EncodeToString(h.h.Sum(nil)) }

// Checksum streams key through SHA-256 and returns its size and hex digest.
func Checksum(ctx context.Context, s Store, key string) (Object, error) {
	r, err := s.Get(ctx, key)
	if err != nil {
		return Object{}, err
	}
	defer r.Close()
	hr := newHashingReader(r)
	if _, err := io.Copy(io.Discard, hr); err != nil {
		return Object{}, fmt.Errorf("read %s: %w", key, err)
	}
	return Object{Key: key, Size: hr.n, SHA256: hr.sum()}, nil
}

// validKey refuses keys that could escape the store's root.
func validKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "..") || strings.Contains(key, "\\") {
		return fmt.Errorf("invalid key %q", key)
	}
	return nil
}
