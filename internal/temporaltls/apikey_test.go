package temporaltls

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
)

const secretKey = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.c2lnbmF0dXJl"

func TestAPIKeyValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "key", secretKey+"\n", 0o600)
	spaced := writeFile(t, dir, "spaced", "two words", 0o600)
	empty := writeFile(t, dir, "empty", "\n", 0o600)
	tests := map[string]struct {
		key  APIKey
		want []string // substrings of the error; none: valid
	}{
		"none":                   {},
		"value":                  {key: APIKey{Value: secretKey}},
		"file, trailing newline": {key: APIKey{File: good}},
		"both":                   {key: APIKey{Value: secretKey, File: good}, want: []string{"TEMPORAL_API_KEY, TEMPORAL_API_KEY_FILE: set one of them"}},
		"value with a space":     {key: APIKey{Value: "a " + secretKey}, want: []string{"TEMPORAL_API_KEY: the key holds a space"}},
		"missing file":           {key: APIKey{File: "/nonexistent/key"}, want: []string{"TEMPORAL_API_KEY_FILE: open /nonexistent/key"}},
		"file with a space":      {key: APIKey{File: spaced}, want: []string{"TEMPORAL_API_KEY_FILE: " + spaced + ": the key holds a space"}},
		"empty file":             {key: APIKey{File: empty}, want: []string{"TEMPORAL_API_KEY_FILE: " + empty + ": the key is empty"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.key.Validate()
			checkValidate(t, err, tc.want)
			if len(tc.want) > 0 {
				if strings.Contains(err.Error(), secretKey) {
					t.Errorf("Validate error %q shows the key", err)
				}
				return
			}
			creds, err := tc.key.Credentials()
			if err != nil || (creds == nil) == tc.key.Enabled() {
				t.Fatalf("Credentials = %v, %v", creds, err)
			}
		})
	}
}

// TestAPIKeyNeverPrinted: fmt, %#v, slog and a Connection inside a struct
// never show the key.
func TestAPIKeyNeverPrinted(t *testing.T) {
	type config struct {
		Address string
		Key     APIKey
		Conn    Connection
	}
	k := APIKey{Value: secretKey}
	c := config{Address: "x:7233", Key: k, Conn: Connection{APIKey: k}}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("start", "key", k, "config", c)
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", c, c, c, k), b.String()} {
		if strings.Contains(s, secretKey) || strings.Contains(s, "c2VjcmV0") {
			t.Errorf("printed the key: %s", s)
		}
	}
}

// TestKeyFileRotation: a rewritten key file is read again.
func TestKeyFileRotation(t *testing.T) {
	path := writeFile(t, t.TempDir(), "key", "first-key", 0o600)
	f := &keyFile{path: path}
	if k, err := f.key(t.Context()); err != nil || k != "first-key" {
		t.Fatalf("key = %q, %v", k, err)
	}
	if err := os.WriteFile(path, []byte("second-key-longer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if k, err := f.key(t.Context()); err != nil || k != "second-key-longer" {
		t.Fatalf("key after rotation = %q, %v", k, err)
	}
}

// TestConnectionApply: an API key without TLS files leaves TLS to the SDK,
// which turns it on with the system's roots.
func TestConnectionApply(t *testing.T) {
	var o client.Options
	if err := (Connection{APIKey: APIKey{Value: secretKey}}).Apply(&o); err != nil {
		t.Fatal(err)
	}
	if o.Credentials == nil || o.ConnectionOptions.TLS != nil {
		t.Errorf("Apply: credentials %v, TLS %v", o.Credentials, o.ConnectionOptions.TLS)
	}
	var plain client.Options
	if err := (Connection{}).Apply(&plain); err != nil || plain.Credentials != nil || plain.ConnectionOptions.TLS != nil {
		t.Errorf("Apply of nothing: %v %+v", err, plain.ConnectionOptions)
	}
}
