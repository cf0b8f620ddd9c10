package temporaltls

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
)

// Variables of APIKey: the Temporal CLI's name for the key itself, and a
// file variant for a key mounted from a Kubernetes Secret.
const (
	EnvAPIKey     = "TEMPORAL_API_KEY"
	EnvAPIKeyFile = "TEMPORAL_API_KEY_FILE"
)

// APIKey is the key a Temporal frontend with API-key authentication asks
// for (Temporal Cloud's API keys, or a self-hosted server's JWT
// authorization): the client sends it as "Authorization: Bearer KEY" on
// every call. An API key implies TLS: without TLS files the client verifies
// the frontend against the system's roots, so the key never travels in
// clear text.
//
// The key is never logged: String, GoString and LogValue print a redacted
// form, and errors name the variable, never the value.
type APIKey struct {
	// Value is the key itself (TEMPORAL_API_KEY).
	Value string
	// File holds the key (TEMPORAL_API_KEY_FILE), e.g. a mounted Secret: it
	// is read again when it changes, so a rotated Secret takes effect
	// without a restart. Value and File are exclusive.
	File string
}

// APIKeyFromEnv reads APIKey from the environment.
func APIKeyFromEnv() APIKey {
	return APIKey{Value: os.Getenv(EnvAPIKey), File: os.Getenv(EnvAPIKeyFile)}
}

// Enabled reports whether an API key is configured.
func (k APIKey) Enabled() bool { return k.Value != "" || k.File != "" }

// String never shows the key.
func (k APIKey) String() string {
	switch {
	case k.File != "":
		return "API key from " + k.File
	case k.Value != "":
		return "API key [redacted]"
	default:
		return "no API key"
	}
}

// GoString never shows the key (%#v).
func (k APIKey) GoString() string { return "temporaltls.APIKey{" + k.String() + "}" }

// LogValue never shows the key (slog).
func (k APIKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Validate reports every problem at once, each naming its variable.
func (k APIKey) Validate() error {
	var errs []error
	if k.Value != "" && k.File != "" {
		errs = append(errs, fmt.Errorf("%s, %s: set one of them, not both", EnvAPIKey, EnvAPIKeyFile))
	}
	if k.Value != "" {
		if err := checkKey([]byte(k.Value)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvAPIKey, err))
		}
	}
	if k.File != "" {
		if _, err := readKeyFile(k.File); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvAPIKeyFile, err))
		}
	}
	return errors.Join(errs...)
}

// checkKey refuses what an HTTP header cannot carry (the value itself stays
// out of the error).
func checkKey(b []byte) error {
	if len(b) == 0 {
		return errors.New("the key is empty")
	}
	for _, c := range b {
		if c < 0x21 || c > 0x7e {
			return errors.New("the key holds a space or a character outside printable ASCII")
		}
	}
	return nil
}

// readKeyFile reads a key file; surrounding white space (a trailing
// newline) is not part of the key.
func readKeyFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err // *PathError: the path, not the content
	}
	b = bytes.TrimSpace(b)
	if err := checkKey(b); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return string(b), nil
}

// Credentials are the SDK's credentials for the key, nil when none is
// configured. The SDK enables TLS (the system's roots) for an API key when
// ConnectionOptions.TLS is nil.
func (k APIKey) Credentials() (client.Credentials, error) {
	switch {
	case !k.Enabled():
		return nil, nil
	case k.Value != "":
		if err := k.Validate(); err != nil {
			return nil, err
		}
		return client.NewAPIKeyStaticCredentials(k.Value), nil
	}
	f := &keyFile{path: k.File}
	if _, err := f.key(context.Background()); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvAPIKeyFile, err)
	}
	return client.NewAPIKeyDynamicCredentials(f.key), nil
}

// keyFile is a key file read again when its modification time or size
// changes (a Kubernetes Secret volume swaps a symlink on update).
type keyFile struct {
	path string

	mu      sync.Mutex
	cached  string
	modTime time.Time
	size    int64
}

func (f *keyFile) key(context.Context) (string, error) {
	st, err := os.Stat(f.path)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cached != "" && st.ModTime().Equal(f.modTime) && st.Size() == f.size {
		return f.cached, nil
	}
	k, err := readKeyFile(f.path)
	if err != nil {
		return "", err
	}
	f.cached, f.modTime, f.size = k, st.ModTime(), st.Size()
	return k, nil
}

// Connection is how a client reaches a Temporal frontend: TLS files and an
// API key, each optional.
type Connection struct {
	TLS    Files
	APIKey APIKey
}

// ConnectionFromEnv reads Connection from the environment.
func ConnectionFromEnv() Connection { return Connection{TLS: FromEnv(), APIKey: APIKeyFromEnv()} }

// Validate reports every problem at once, each naming its variable.
func (c Connection) Validate() error { return errors.Join(c.TLS.Validate(), c.APIKey.Validate()) }

// Apply sets o's TLS and credentials. With neither, o is left on plain TCP.
func (c Connection) Apply(o *client.Options) error {
	tc, err := c.TLS.Config()
	if err != nil {
		return err
	}
	creds, err := c.APIKey.Credentials()
	if err != nil {
		return err
	}
	o.ConnectionOptions.TLS = tc
	o.Credentials = creds
	return nil
}
