package model

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

type hasher struct {
	h   hash.Hash
	buf [8]byte
}

func newHasher() *hasher { return &hasher{h: sha256.New()} }

func (h *hasher) u64(v uint64) {
	binary.BigEndian.PutUint64(h.buf[:], v)
	h.h.Write(h.buf[:])
}

func (h *hasher) bytes(b []byte) {
	h.u64(uint64(len(b)))
	h.h.Write(b)
}

func (h *hasher) str(s string) {
	h.u64(uint64(len(s)))
	h.h.Write([]byte(s))
}

func (h *hasher) sum() []byte { return h.h.Sum(nil) }
