package temporaltls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePair writes a self-signed certificate and its key into dir.
func writePair(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert = writeFile(t, dir, "c.crt", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	key = writeFile(t, dir, "c.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})), 0o600)
	return cert, key
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir)
	notPEM := writeFile(t, dir, "not.pem", "hello", 0o644)
	tests := map[string]struct {
		files Files
		want  []string // substrings of the error; none: valid
	}{
		"none (plain TCP)":           {},
		"mutual TLS":                 {files: Files{Cert: cert, Key: key, CA: cert, ServerName: "localhost"}},
		"server TLS only":            {files: Files{CA: cert}},
		"certificate without key":    {files: Files{Cert: cert}, want: []string{"TEMPORAL_TLS_CLIENT_KEY_PATH: set TEMPORAL_TLS_CLIENT_CERT_PATH too"}},
		"key without certificate":    {files: Files{Key: key}, want: []string{"TEMPORAL_TLS_CLIENT_CERT_PATH: set TEMPORAL_TLS_CLIENT_KEY_PATH too"}},
		"missing files, all at once": {files: Files{Cert: "/nope/c", Key: "/nope/k", CA: "/nope/ca"}, want: []string{"TEMPORAL_TLS_CLIENT_CERT_PATH: stat /nope/c", "TEMPORAL_TLS_CLIENT_KEY_PATH: stat /nope/k", "TEMPORAL_TLS_SERVER_CA_CERT_PATH: stat /nope/ca"}},
		"CA without a certificate":   {files: Files{CA: notPEM}, want: []string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH: no PEM certificate"}},
		"key of another kind":        {files: Files{Cert: cert, Key: notPEM}, want: []string{"TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			checkValidate(t, tc.files.Validate(), tc.want)
			if len(tc.want) > 0 {
				return
			}
			tc, err := tc.files.Config()
			if err != nil {
				t.Fatalf("Config: %v", err)
			}
			if (tc == nil) != (name == "none (plain TCP)") {
				t.Fatalf("Config = %v", tc)
			}
		})
	}
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkValidate checks a Validate error against want: the substrings its
// message must hold (none: Validate must pass).
func checkValidate(t *testing.T, err error, want []string) {
	t.Helper()
	switch {
	case len(want) == 0 && err != nil:
		t.Fatalf("Validate: %v", err)
	case len(want) > 0 && err == nil:
		t.Fatalf("Validate: nil, want %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Validate error %q lacks %q", err, w)
		}
	}
}
