package devcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/dayops/dayops/internal/devcluster/atomicfile"
	"github.com/dayops/dayops/internal/temporaltls"
)

// ensureRoute makes every address of cidr local (routed to the loopback
// device), so that each pod can bind an address of its own. It reports
// whether it added the route (false when it was already there).
func ensureRoute(ctx context.Context, cidr string) (bool, error) {
	out, err := exec.CommandContext(ctx, "ip", "route", "show", "table", "local", cidr).CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("ip route show table local %s: %w: %s (is iproute2 installed? scripts/ensure-deps.sh installs it)", cidr, err, strings.TrimSpace(string(out)))
	}
	if strings.Contains(string(out), cidr) {
		return false, nil
	}
	out, err = exec.CommandContext(ctx, "ip", "route", "add", "local", cidr, "dev", "lo", "table", "local").CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("ip route add local %s dev lo table local: %w: %s (needs root or CAP_NET_ADMIN)", cidr, err, strings.TrimSpace(string(out)))
	}
	return true, nil
}

func removeRoute(ctx context.Context, cidr string) error {
	if cidr == "" {
		return nil
	}
	out, err := exec.CommandContext(ctx, "ip", "route", "del", "local", cidr, "dev", "lo", "table", "local").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "No such process") {
		return fmt.Errorf("ip route del local %s: %w: %s", cidr, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ensureDatabase creates the database named in url if it does not exist,
// connecting to the server's `postgres` database to do so.
func ensureDatabase(ctx context.Context, url string) error {
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("parse database URL: %w", err)
	}
	name := cc.Database
	cc.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL at %s:%d (scripts/ensure-deps.sh installs and starts it): %w", cc.Host, cc.Port, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var found bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&found); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if found {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: created meanwhile
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// dropDatabase drops the database name on the server of url, if it exists.
func dropDatabase(ctx context.Context, url, name string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

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
		{EnvTemporalAddress, c.temporalAddr()},
		{EnvTemporalUI, c.temporalUI()},
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

// routeInUse reports whether some process still listens on an address of
// cidr: another stack on this machine shares the pod route (the route is one
// per machine, the address blocks are per stack: --subnet-offset), so the
// stack that added it must leave it while others use it.
func routeInUse(cidr string) (bool, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return false, err
	}
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "0A" { // 0A: LISTEN
			continue
		}
		host, _, ok := strings.Cut(f[1], ":")
		if !ok || len(host) != 8 {
			continue
		}
		v, err := strconv.ParseUint(host, 16, 32)
		if err != nil {
			continue
		}
		// /proc/net/tcp prints the address in host byte order (little endian here).
		ip := net.IPv4(byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
		if n.Contains(ip) {
			return true, nil
		}
	}
	return false, nil
}

// FreePortBlock finds n consecutive ports in [lo, hi) free on 127.0.0.1 and
// returns the first (tests and benchmarks start Temporal's server there: it
// takes a block of ports from its base).
func FreePortBlock(lo, hi, n int) (int, error) {
	for range 200 {
		first := lo + mrand.IntN(hi-lo-n)
		free := true
		for p := first; p < first+n && free; p++ {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err != nil {
				free = false
				continue
			}
			ln.Close()
		}
		if free {
			return first, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free ports in [%d, %d)", n, lo, hi)
}
