// Package temporaltls builds how a Temporal client reaches its frontend: the
// TLS configuration from PEM files (the client certificate and key that a
// frontend requiring mutual TLS asks for, and the CA that signed the
// frontend's certificate) and the API key a frontend with API-key (JWT)
// authorization asks for (Connection, APIKey).
//
// The variables are the Temporal CLI's and the SDK's envconfig names, so a
// shell that sources the local stack's dev.env talks mTLS with dayops and
// with bin/temporal alike.
//
// Contract: Validate reports every problem at once, each naming its
// variable; Files.Config returns nil (plain TCP) when no file and no server
// name is set; an API key never appears in a string, log value or error.
package temporaltls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Variables of Files.
const (
	EnvCert       = "TEMPORAL_TLS_CLIENT_CERT_PATH"
	EnvKey        = "TEMPORAL_TLS_CLIENT_KEY_PATH"
	EnvCA         = "TEMPORAL_TLS_SERVER_CA_CERT_PATH"
	EnvServerName = "TEMPORAL_TLS_SERVER_NAME"
)

// Files names the PEM files of a Temporal client's TLS.
type Files struct {
	// Cert and Key are the client certificate and its private key
	// (TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH): both or
	// neither.
	Cert string
	Key  string
	// CA verifies the frontend's certificate (TEMPORAL_TLS_SERVER_CA_CERT_PATH);
	// empty means the system's roots.
	CA string
	// ServerName is the name the frontend's certificate must hold
	// (TEMPORAL_TLS_SERVER_NAME); empty means the host of the address.
	ServerName string
}

// FromEnv reads Files from the environment.
func FromEnv() Files {
	return Files{Cert: os.Getenv(EnvCert), Key: os.Getenv(EnvKey), CA: os.Getenv(EnvCA), ServerName: os.Getenv(EnvServerName)}
}

// Enabled reports whether the client uses TLS at all.
func (f Files) Enabled() bool { return f != Files{} }

// Validate reports every problem at once, each naming its variable.
func (f Files) Validate() error {
	var errs []error
	switch {
	case f.Cert != "" && f.Key == "":
		errs = append(errs, fmt.Errorf("%s: set %s too (a client certificate needs its key)", EnvKey, EnvCert))
	case f.Key != "" && f.Cert == "":
		errs = append(errs, fmt.Errorf("%s: set %s too (a client key needs its certificate)", EnvCert, EnvKey))
	}
	for _, v := range []struct{ env, path string }{{EnvCert, f.Cert}, {EnvKey, f.Key}, {EnvCA, f.CA}} {
		if v.path == "" {
			continue
		}
		if _, err := os.Stat(v.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", v.env, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	_, err := f.Config()
	return err
}

// Config loads the files. It returns nil, nil when TLS is not enabled.
func (f Files) Config() (*tls.Config, error) {
	if !f.Enabled() {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName}
	if f.Cert != "" || f.Key != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("%s, %s: %w", EnvCert, EnvKey, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvCA, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate in %s", EnvCA, f.CA)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}
