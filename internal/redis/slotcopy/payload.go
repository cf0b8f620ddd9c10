package slotcopy

import (
	"encoding/binary"
	"hash/crc64"
	"strconv"
)

// A DUMP payload is one value as an RDB file holds it: a type byte, the
// value's encoding, the RDB version (2 bytes) and a CRC64 (Jones, reflected,
// no initial or final XOR) of all of that, little-endian.
const (
	rdbTypeString = 0
	payloadFooter = 2 + 8
)

// jones is the table of the CRC64 Redis appends to DUMP payloads
// (polynomial 0xad93d23594c935a9, reversed as hash/crc64 wants it).
var jones = crc64.MakeTable(0x95ac9329ac4bc9b5)

// payloadCRC is Redis' crc64(0, p): hash/crc64 inverts the value before and
// after, so the inversions are undone here.
func payloadCRC(p string) uint64 {
	return ^crc64.Update(^uint64(0), jones, []byte(p))
}

// stringFromPayload returns the string a DUMP payload holds when the
// payload is a string stored as it is or as an integer, and its CRC is
// right; ok is false for every other payload (another type, an
// LZF-compressed string, anything it does not recognise), which is
// restored as it came.
//
// This is what lets a small string travel by SET rather than RESTORE: the
// source's dump script still returns DUMP for keys under rawMinBytes (one
// call per key, no TYPE: the script's cost is its calls), and the target's
// ASKING + SET cost its event loop 0.95 us per 100-byte key against 1.85 us
// for RESTORE-ASKING, which parses the payload and checks the CRC itself
// (redis-server 7.0.15, 186,000 keys piped, used_cpu_user+sys; see
// docs/slot-migration.md).
//
// The CRC is checked last, on a payload that parsed as such a string: the
// others (an LZF string above all) are restored without a pass over them.
func stringFromPayload(p string) (string, bool) {
	s, ok := plainString(p)
	if !ok || payloadCRC(p[:len(p)-8]) != binary.LittleEndian.Uint64([]byte(p[len(p)-8:])) {
		return "", false
	}
	return s, true
}

// plainString parses a string payload's value, stored as it is or as an
// integer, without checking the CRC.
func plainString(p string) (string, bool) {
	if len(p) < 2+payloadFooter || p[0] != rdbTypeString {
		return "", false
	}
	v := p[1 : len(p)-payloadFooter]
	b := v[0]
	switch b >> 6 {
	case 0: // 6-bit length
		return exactly(v[1:], int(b&0x3f))
	case 1: // 14-bit length
		if len(v) < 2 {
			return "", false
		}
		return exactly(v[2:], int(b&0x3f)<<8|int(v[1]))
	case 2: // 32- or 64-bit length, big-endian
		switch {
		case b == 0x80 && len(v) >= 5:
			return exactly(v[5:], int(binary.BigEndian.Uint32([]byte(v[1:5]))))
		case b == 0x81 && len(v) >= 9:
			n := binary.BigEndian.Uint64([]byte(v[1:9]))
			if n > uint64(len(v)) {
				return "", false
			}
			return exactly(v[9:], int(n))
		}
		return "", false
	default: // an integer of 8, 16 or 32 bits, little-endian; or LZF (3)
		x := []byte(v[1:])
		switch {
		case b == 0xc0 && len(x) == 1:
			return strconv.Itoa(int(int8(x[0]))), true
		case b == 0xc1 && len(x) == 2:
			return strconv.Itoa(int(int16(binary.LittleEndian.Uint16(x)))), true
		case b == 0xc2 && len(x) == 4:
			return strconv.Itoa(int(int32(binary.LittleEndian.Uint32(x)))), true
		}
		return "", false
	}
}

// exactly returns v when it is n bytes long, as a string's encoding that
// ends where the payload's value ends must be.
func exactly(v string, n int) (string, bool) {
	if len(v) != n {
		return "", false
	}
	return v, true
}
