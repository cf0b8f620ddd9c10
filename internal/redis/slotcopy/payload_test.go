package slotcopy

import (
	"encoding/hex"
	"strings"
	"testing"
)

// Payloads of DUMP from redis-server 7.0.15 (RDB version 10).
func TestStringFromPayload(t *testing.T) {
	tests := map[string]struct {
		hex  string
		want string
		ok   bool
	}{
		"a string as it is":         {hex: "000576616c75650a0081f6c138c1aa9b6e", want: "value", ok: true},
		"int16":                     {hex: "00c139300a009d94ea2793fc08b9", want: "12345", ok: true},
		"empty":                     {hex: "00000a005d9b5c400f7fa2da", want: "", ok: true},
		"int8, negative":            {hex: "00c0f90a005e26d130d7a242ab", want: "-7", ok: true},
		"int32":                     {hex: "00c2d20296490a0002a479f6c2d5670a", want: "1234567890", ok: true},
		"LZF: restored as it came":  {hex: "00c3094064016161e057000161610a00e8a3b507b06df271"},
		"a hash (listpack)":         {hex: "101111000000040081610201018162020201ff0a003e40636c8f5d769a"},
		"a wrong CRC":               {hex: "000576616c75650a0081f6c138c1aa9b6f"},
		"too short to be a payload": {hex: "000a00"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := hex.DecodeString(tc.hex)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := stringFromPayload(string(p))
			if ok != tc.ok || got != tc.want {
				t.Errorf("stringFromPayload = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// A length that does not end where the value ends, under a right CRC.
func TestStringFromPayloadWrongLength(t *testing.T) {
	for _, p := range [][]byte{[]byte("\x00\x06value\x0a\x00"), []byte("\x00\x04value\x0a\x00"), []byte("\x00\x40\x05value\x0a\x00"[:5])} {
		if got, ok := stringFromPayload(string(appendCRC(p))); ok {
			t.Errorf("%q: %q, want no string", p, got)
		}
	}
}

// Lengths of 14 and 32 bits: the encodings of strings from 64 bytes and from
// 16 KB (redis-server only stores such strings raw when LZF cannot shorten
// them, as with random bytes).
func TestStringFromPayloadLongLengths(t *testing.T) {
	for _, n := range []int{63, 64, 100, 16383, 16384, 70000} {
		v := strings.Repeat("\x01\xfe", n)[:n]
		var p []byte
		switch {
		case n < 64:
			p = append([]byte{0, byte(n)}, v...)
		case n < 16384:
			p = append([]byte{0, 0x40 | byte(n>>8), byte(n)}, v...)
		default:
			p = append([]byte{0, 0x80, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, v...)
		}
		p = appendCRC(append(p, 0x0a, 0))
		if got, ok := stringFromPayload(string(p)); !ok || got != v {
			t.Errorf("%d bytes: ok %v, %d bytes back", n, ok, len(got))
		}
	}
}

func appendCRC(p []byte) []byte {
	c := payloadCRC(string(p))
	for i := range 8 {
		p = append(p, byte(c>>(8*i)))
	}
	return p
}
