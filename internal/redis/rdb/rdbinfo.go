package rdb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// RDB opcodes needed to find the key count (Redis' rdb.h).
const (
	rdbOpFunction2 = 0xF5
	rdbOpModuleAux = 0xF7
	rdbOpIdle      = 0xF8
	rdbOpFreq      = 0xF9
	rdbOpAux       = 0xFA
	rdbOpResizeDB  = 0xFB
	rdbOpSelectDB  = 0xFE
	rdbOpEOF       = 0xFF
)

var errNoKeyCount = errors.New("no key count in the RDB's first bytes")

// rdbKeyCount reads the number of keys of database 0 from the start of an
// RDB file: the RESIZEDB opcode after SELECTDB carries the size of the
// database's key table when the child forked. An RDB that ends before any
// SELECTDB holds no key.
func rdbKeyCount(prefix []byte) (int64, error) {
	if len(prefix) < 9 || string(prefix[:5]) != "REDIS" {
		return 0, errors.New("not an RDB file")
	}
	r := &rdbReader{b: prefix, i: 9}
	for {
		op, err := r.byte()
		if err != nil {
			return 0, err
		}
		switch op {
		case rdbOpAux:
			if err := r.skipString(); err != nil {
				return 0, err
			}
			if err := r.skipString(); err != nil {
				return 0, err
			}
		case rdbOpFunction2:
			if err := r.skipString(); err != nil {
				return 0, err
			}
		case rdbOpSelectDB:
			if _, _, err := r.length(); err != nil {
				return 0, err
			}
			next, err := r.byte()
			if err != nil {
				return 0, err
			}
			if next != rdbOpResizeDB {
				return 0, errNoKeyCount
			}
			n, _, err := r.length()
			return int64(n), err
		case rdbOpEOF:
			return 0, nil
		case rdbOpModuleAux, rdbOpIdle, rdbOpFreq:
			return 0, errNoKeyCount
		default:
			return 0, fmt.Errorf("unexpected RDB opcode 0x%02x before the first database", op)
		}
	}
}

type rdbReader struct {
	b []byte
	i int
}

func (r *rdbReader) byte() (byte, error) {
	if r.i >= len(r.b) {
		return 0, io.ErrUnexpectedEOF
	}
	r.i++
	return r.b[r.i-1], nil
}

func (r *rdbReader) take(n int) ([]byte, error) {
	if n < 0 || r.i+n > len(r.b) {
		return nil, io.ErrUnexpectedEOF
	}
	r.i += n
	return r.b[r.i-n : r.i], nil
}

// length reads a length encoding; special is true for an encoded string
// (the value is then the encoding type).
func (r *rdbReader) length() (n uint64, special bool, err error) {
	b, err := r.byte()
	if err != nil {
		return 0, false, err
	}
	switch b >> 6 {
	case 0:
		return uint64(b & 0x3F), false, nil
	case 1:
		b2, err := r.byte()
		return uint64(b&0x3F)<<8 | uint64(b2), false, err
	case 2:
		switch b {
		case 0x80:
			v, err := r.take(4)
			if err != nil {
				return 0, false, err
			}
			return uint64(binary.BigEndian.Uint32(v)), false, nil
		case 0x81:
			v, err := r.take(8)
			if err != nil {
				return 0, false, err
			}
			return binary.BigEndian.Uint64(v), false, nil
		}
		return 0, false, fmt.Errorf("bad RDB length byte 0x%02x", b)
	default:
		return uint64(b & 0x3F), true, nil
	}
}

func (r *rdbReader) skipString() error {
	n, special, err := r.length()
	if err != nil {
		return err
	}
	if !special {
		_, err = r.take(int(n))
		return err
	}
	switch n {
	case 0:
		_, err = r.take(1)
	case 1:
		_, err = r.take(2)
	case 2:
		_, err = r.take(4)
	case 3: // LZF: compressed length, plain length, data
		clen, _, err := r.length()
		if err != nil {
			return err
		}
		if _, _, err := r.length(); err != nil {
			return err
		}
		_, err = r.take(int(clen))
		return err
	default:
		return fmt.Errorf("bad RDB string encoding %d", n)
	}
	return err
}

// prefixCapture keeps the first bytes that pass through it.
type prefixCapture struct {
	r   io.Reader
	buf []byte
	max int
}

func (p *prefixCapture) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if room := p.max - len(p.buf); room > 0 && n > 0 {
		p.buf = append(p.buf, b[:min(n, room)]...)
	}
	return n, err
}
