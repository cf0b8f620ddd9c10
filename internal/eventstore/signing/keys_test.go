package signing

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
)

// TestParseKeys: both parsers take PEM or base64, refuse a PEM key of
// another algorithm and base64 of the wrong size, and say which kind of key
// they could not read.
func TestParseKeys(t *testing.T) {
	privPEM, pubPEM, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPriv, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPub, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	b64 := func(b []byte) []byte { return []byte(" " + base64.StdEncoding.EncodeToString(b) + "\n") }
	pemOf := func(typ string, b []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}) }

	privates := map[string]struct {
		in      []byte
		wantErr string
	}{
		"PEM":                  {in: privPEM},
		"base64 seed":          {in: b64(priv.Seed())},
		"base64 key":           {in: b64(priv)},
		"PEM of an ECDSA key":  {in: pemOf("PRIVATE KEY", ecPriv), wantErr: "parse private key: *ecdsa.PrivateKey is not Ed25519"},
		"PEM of garbage":       {in: pemOf("PRIVATE KEY", []byte("junk")), wantErr: "parse private key: "},
		"neither":              {in: []byte("not a key!"), wantErr: "parse private key: neither PEM nor base64"},
		"base64 of 31 bytes":   {in: b64(priv.Seed()[:31]), wantErr: "parse private key: 31 bytes is not an Ed25519 key"},
		"empty":                {in: nil, wantErr: "parse private key: 0 bytes"},
		"a public key's bytes": {in: b64(pub[:16]), wantErr: "parse private key: 16 bytes"},
	}
	for name, tc := range privates {
		t.Run("private/"+name, func(t *testing.T) {
			got, err := ParsePrivateKey(tc.in)
			check(t, err, tc.wantErr, func() bool { return got.Equal(priv) })
		})
	}
	publics := map[string]struct {
		in      []byte
		wantErr string
	}{
		"PEM":                 {in: pubPEM},
		"base64":              {in: b64(pub)},
		"PEM of an ECDSA key": {in: pemOf("PUBLIC KEY", ecPub), wantErr: "parse public key: *ecdsa.PublicKey is not Ed25519"},
		"PEM of garbage":      {in: pemOf("PUBLIC KEY", []byte("junk")), wantErr: "parse public key: "},
		"neither":             {in: []byte("not a key!"), wantErr: "parse public key: neither PEM nor base64"},
		"base64 of 64 bytes":  {in: b64(priv), wantErr: "parse public key: 64 bytes is not an Ed25519 key"},
	}
	for name, tc := range publics {
		t.Run("public/"+name, func(t *testing.T) {
			got, err := ParsePublicKey(tc.in)
			check(t, err, tc.wantErr, func() bool { return got.Equal(pub) })
		})
	}
}

// check wants err to contain wantErr, or when wantErr is "" no error and
// the right key (same).
func check(t *testing.T, err error, wantErr string, same func() bool) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatal(err)
	case wantErr == "" && !same():
		t.Fatal("parsed another key")
	case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
		t.Fatalf("error %v, want one containing %q", err, wantErr)
	}
}
