package rdb

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"net"
)

type hashState struct{ h hash.Hash }

func newHashState() *hashState      { return &hashState{h: sha256.New()} }
func (s *hashState) Write(p []byte) { s.h.Write(p) }
func (s *hashState) hex() string    { return hex.EncodeToString(s.h.Sum(nil)) }

func SplitHostPort(s string) (string, string, error) { return net.SplitHostPort(s) }
