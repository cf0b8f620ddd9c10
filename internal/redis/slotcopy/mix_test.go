package slotcopy

import (
	"encoding/hex"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestKeyMixSplit(t *testing.T) {
	big, small := dumped{raw: true, big: true}, dumped{raw: true}
	tests := map[string]struct {
		adds    [][]dumped
		refused bool
		want    bool
	}{
		"nothing seen yet":           {want: false},
		"only big strings":           {adds: [][]dumped{{big, big}}, want: true},
		"only small keys":            {adds: [][]dumped{{small, small, small}}, want: false},
		"half big splits":            {adds: [][]dumped{{big, small}}, want: true},
		"mostly small across copies": {adds: [][]dumped{{big}, {small, small}}, want: false},
		"mostly big across copies":   {adds: [][]dumped{{small}, {big, big}}, want: true},
		"an empty copy counts none":  {adds: [][]dumped{{}}, want: false},
		"refused never splits":       {adds: [][]dumped{{big, big}}, refused: true, want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var m KeyMix
			for _, ds := range tc.adds {
				m.add("a:1", ds)
			}
			if tc.refused {
				m.refuse("a:1")
			}
			if got := m.split("a:1"); got != tc.want {
				t.Errorf("split = %v, want %v", got, tc.want)
			}
			if m.split("b:2") {
				t.Error("another source splits without anything seen from it")
			}
		})
	}
	var none *KeyMix
	none.add("a:1", []dumped{big})
	none.refuse("a:1")
	if none.split("a:1") {
		t.Error("a nil KeyMix splits")
	}
}

// TestDumpedKeysSplit: a big string the script left to its GETRANGE takes
// the GETRANGE's value when it has the length the script saw; any other
// reply (the key changed in between, or GETRANGE failed) makes the dump
// not whole.
func TestDumpedKeysSplit(t *testing.T) {
	rng := func(v string, err error) *redis.StringCmd {
		c := redis.NewStringCmd(t.Context(), "getrange")
		c.SetVal(v)
		c.SetErr(err)
		return c
	}
	// "small" is a string's DUMP payload (redis-server 7.0.15): its value
	// travels by SET, but it is no big string to KeyMix.
	small, _ := hex.DecodeString("000576616c75650a0081f6c138c1aa9b6e")
	c := slotCopy{slot: 1, keys: []string{"big", "inline", "payload", "gone", "small"}}
	vals := []any{int64(1), []any{int64(5)}, int64(-1), []any{"value"}, int64(7), "\x00dump", int64(-1), nil, int64(-2), string(small), int64(-1)}
	tests := map[string]struct {
		ranges    []*redis.StringCmd
		wantWhole bool
		wantBig   string
	}{
		"the length matches": {ranges: []*redis.StringCmd{rng("abcde", nil), rng("value", nil), rng("", errors.New("WRONGTYPE")), rng("", nil)}, wantWhole: true, wantBig: "abcde"},
		"changed in between": {ranges: []*redis.StringCmd{rng("abc", nil), rng("value", nil), rng("", nil), rng("", nil)}},
		"getrange failed":    {ranges: []*redis.StringCmd{rng("", errors.New("NOPERM")), rng("value", nil), rng("", nil), rng("", nil)}},
		"no getrange sent":   {},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ds, bytes, whole := dumpedKeys(c, vals, tc.ranges)
			if whole != tc.wantWhole {
				t.Fatalf("whole = %v, want %v", whole, tc.wantWhole)
			}
			if !whole {
				return
			}
			want := []dumped{{key: "big", data: "abcde", raw: true, big: true}, {key: "inline", data: "value", raw: true, big: true, at: 7}, {key: "payload", data: "\x00dump"}, {key: "small", data: "value", raw: true}}
			if len(ds) != len(want) {
				t.Fatalf("dumped %+v, want %+v", ds, want)
			}
			for i := range want {
				if ds[i] != want[i] {
					t.Errorf("key %d = %+v, want %+v", i, ds[i], want[i])
				}
			}
			if bytes != 20 {
				t.Errorf("bytes = %d, want 20", bytes)
			}
		})
	}
}
