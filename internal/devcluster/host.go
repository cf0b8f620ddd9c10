package devcluster

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dayops/dayops/internal/atomicfile"
	"github.com/dayops/dayops/internal/temporaltls"
)

// Variables of dev.env.
const (
	EnvKubeconfig      = "KUBECONFIG"
	EnvTemporalAddress = "TEMPORAL_ADDRESS"
	EnvTemporalUI      = "TEMPORAL_UI"
	EnvDatabaseURL     = "DATABASE_URL"
	EnvAPI             = "DAYOPS_API"
	EnvStateDir        = "DAYOPS_STATE_DIR"
	// EnvToken and EnvAuditorToken are the local API's operator and auditor
	// bearer tokens (the CLI reads DAYOPS_TOKEN).
	EnvToken        = "DAYOPS_TOKEN"
	EnvAuditorToken = "DAYOPS_AUDITOR_TOKEN"
)

// Tokens are the local API's bearer tokens.
type Tokens struct {
	Operator string
	Auditor  string
}

// APITokens returns the stack's API tokens, generating them on first use and
// keeping them (mode 0600) in the state directory, so a restarted stack keeps
// the tokens a user has already sourced.
func APITokens(c Config) (Tokens, error) {
	path := filepath.Join(c.StateDir, "api-tokens")
	if b, err := os.ReadFile(path); err == nil {
		op, au, ok := strings.Cut(strings.TrimSpace(string(b)), "\n")
		if ok && len(op) >= 32 && len(au) >= 32 {
			return Tokens{Operator: op, Auditor: au}, nil
		}
	}
	gen := func() (string, error) {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return hex.EncodeToString(b), nil
	}
	op, err := gen()
	if err != nil {
		return Tokens{}, err
	}
	au, err := gen()
	if err != nil {
		return Tokens{}, err
	}
	if err := atomicfile.Write(path, []byte(op+"\n"+au+"\n"), 0o600); err != nil {
		return Tokens{}, err
	}
	return Tokens{Operator: op, Auditor: au}, nil
}

// APITokensSpec is the DAYOPS_API_TOKENS value of the local API: the operator
// token for the local user, the auditor token read-only.
func (t Tokens) APITokensSpec() string {
	return t.Operator + "=local-operator:operator," + t.Auditor + "=local-auditor:auditor"
}

// writeEnvFile writes dev.env as `export KEY='value'` lines, readable by its
// owner only: a shell can source it and ReadEnvFile parses it.
func writeEnvFile(c Config) error {
	tok, err := APITokens(c)
	if err != nil {
		return fmt.Errorf("API tokens: %w", err)
	}
	vars := [][2]string{
		{EnvKubeconfig, c.KubeconfigPath()},
		{EnvTemporalAddress, c.TemporalAddr()},
		{EnvTemporalUI, c.TemporalUI()},
		{EnvDatabaseURL, c.DatabaseURL},
		{EnvAPI, c.APIURL},
		{EnvStateDir, c.StateDir},
		{EnvToken, tok.Operator},
		{EnvAuditorToken, tok.Auditor},
	}
	if t := c.TemporalTLS(); t.Enabled() {
		vars = append(vars, [2]string{temporaltls.EnvCert, t.Cert}, [2]string{temporaltls.EnvKey, t.Key},
			[2]string{temporaltls.EnvCA, t.CA}, [2]string{temporaltls.EnvServerName, t.ServerName})
	}
	var b strings.Builder
	b.WriteString("# Written by `dayops-dev dev up`; removed by `dayops-dev dev down`. Use: source this file.\n")
	for _, kv := range vars {
		if kv[1] == "" {
			continue // TEMPORAL_UI in server mode
		}
		fmt.Fprintf(&b, "export %s='%s'\n", kv[0], strings.ReplaceAll(kv[1], "'", `'\''`))
	}
	// 0600: the file holds the operator's bearer token.
	return atomicfile.Write(c.EnvPath(), []byte(b.String()), 0o600)
}

// ReadEnvFile parses a dev.env file into a map.
func ReadEnvFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			v = strings.ReplaceAll(v[1:len(v)-1], `'\''`, "'")
		}
		out[strings.TrimSpace(k)] = v
	}
	return out, nil
}
