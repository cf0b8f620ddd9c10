package access

import (
	"strings"
	"testing"
)

func TestParseTokensRefusesPlaceholders(t *testing.T) {
	tests := map[string]struct {
		spec    string
		wantErr string
	}{
		"generated hex":         {spec: "6f1c0a9e2b7d4c83a15e9f0b2d6c7a48e3f1b5a9c0d2e4f6=ops:operator"},
		"words and randomness":  {spec: "prod-api-token-3b9f0c7e1a2d4f6b8c0e2a4d6f8b1c3e=ops:operator"},
		"empty":                 {spec: "=ops:operator", wantErr: "want token=subject:role"},
		"short":                 {spec: "abc123=ops:operator", wantErr: "shorter than 16"},
		"changeme":              {spec: "change-me-operator-token-0001=ops:operator", wantErr: `contains "changeme"`},
		"example":               {spec: "EXAMPLE_f81d4fae7dec11d0a76500a0c91e6bf6=ops:operator", wantErr: `contains "example"`},
		"placeholder":           {spec: "your-placeholder-goes-here-please=ops:operator", wantErr: `contains "placeholder"`},
		"just words":            {spec: "test-operator-token-0123456789=ops:operator", wantErr: "looks like a placeholder"},
		"repeated characters":   {spec: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=ops:operator", wantErr: "looks like a placeholder"},
		"secret password":       {spec: "secretpasswordsecretpassword=ops:operator", wantErr: "looks like a placeholder"},
		"every problem at once": {spec: "token=ops:operator,changemechangeme1234=audit:auditor", wantErr: "entry 2 (audit)"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseTokens(tc.spec)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestTokenLookup(t *testing.T) {
	tokens := Tokens{
		"6f1c0a9e2b7d4c83a15e9f0b2d6c7a48": {Subject: "olga", Role: RoleOperator},
		"0b2d6c7a48e3f1b5a9c0d2e4f6a1b2c3": {Subject: "aud", Role: RoleAuditor},
	}
	for tok, want := range tokens {
		if got, ok := tokens.lookup(tok); !ok || got != want {
			t.Errorf("lookup(%s) = %+v, %v", tok, got, ok)
		}
	}
	for _, bad := range []string{"", "6f1c0a9e2b7d4c83a15e9f0b2d6c7a4", "6f1c0a9e2b7d4c83a15e9f0b2d6c7a48x", "olga"} {
		if p, ok := tokens.lookup(bad); ok || p != (Principal{}) {
			t.Errorf("lookup(%q) = %+v, %v; want no principal", bad, p, ok)
		}
	}
}
