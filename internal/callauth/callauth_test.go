package callauth

import (
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
)

func TestParseKeys(t *testing.T) {
	long := strings.Repeat("k", MinKeyLen)
	tests := map[string]struct {
		in      string
		keys    int
		wantErr string
	}{
		"empty":      {"", 0, ""},
		"one":        {long, 1, ""},
		"rotation":   {long + "1, " + long + "2", 2, ""},
		"short":      {"too-short", 0, "key 1 is 9 bytes"},
		"one short":  {long + ",short", 1, "key 2 is 5 bytes"},
		"only comma": {" , ", 0, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			k, err := ParseKeys(tc.in)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if len(k.keys) != tc.keys {
				t.Fatalf("%d keys, want %d", len(k.keys), tc.keys)
			}
		})
	}
}

func TestSignVerify(t *testing.T) {
	oldKey, _ := ParseKeys(strings.Repeat("o", MinKeyLen))
	newKey, _ := ParseKeys(strings.Repeat("n", MinKeyLen))
	rotating, _ := ParseKeys(strings.Repeat("n", MinKeyLen) + "," + strings.Repeat("o", MinKeyLen))
	args := []*commonpb.Payload{{Data: []byte(`{"actor":"alice","reason":"canary looks good"}`)}}
	sig := oldKey.Sign("op-1", "approve", args)
	tests := map[string]struct {
		keys     Keys
		wf, name string
		args     []*commonpb.Payload
		sig      string
		want     bool
	}{
		"same key":              {oldKey, "op-1", "approve", args, sig, true},
		"rotation keeps old":    {rotating, "op-1", "approve", args, sig, true},
		"other key":             {newKey, "op-1", "approve", args, sig, false},
		"other workflow":        {oldKey, "op-2", "approve", args, sig, false},
		"other call":            {oldKey, "op-1", "abort", args, sig, false},
		"other actor":           {oldKey, "op-1", "approve", []*commonpb.Payload{{Data: []byte(`{"actor":"mallory","reason":"canary looks good"}`)}}, sig, false},
		"no signature":          {oldKey, "op-1", "approve", args, "", false},
		"garbage signature":     {oldKey, "op-1", "approve", args, "!!!", false},
		"extra argument":        {oldKey, "op-1", "approve", append(args, &commonpb.Payload{}), sig, false},
		"argument split moved":  {oldKey, "op-1", "approv", []*commonpb.Payload{{Data: append([]byte("e"), args[0].Data...)}}, sig, false},
		"rotation signs as new": {newKey, "op-1", "approve", args, rotating.Sign("op-1", "approve", args), true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.keys.Verify(tc.wf, tc.name, tc.args, tc.sig); got != tc.want {
				t.Fatalf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}
