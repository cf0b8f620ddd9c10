// Package hostsetup prepares the machine for the local stack: the pod
// route to the loopback device, the PostgreSQL databases, and free ports.
package hostsetup

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnsureRoute makes every address of cidr local (routed to the loopback
// device), so that each pod can bind an address of its own. It reports
// whether it added the route (false when it was already there).
func EnsureRoute(ctx context.Context, cidr string) (bool, error) {
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

// RemoveRoute removes the route EnsureRoute added (a missing one is no error).
func RemoveRoute(ctx context.Context, cidr string) error {
	if cidr == "" {
		return nil
	}
	out, err := exec.CommandContext(ctx, "ip", "route", "del", "local", cidr, "dev", "lo", "table", "local").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "No such process") {
		return fmt.Errorf("ip route del local %s: %w: %s", cidr, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// EnsureDatabase creates the database named in url if it does not exist,
// connecting to the server's `postgres` database to do so.
func EnsureDatabase(ctx context.Context, url string) error {
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

// DropDatabase drops the database name on the server of url, if it exists.
func DropDatabase(ctx context.Context, url, name string) error {
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

// RouteInUse reports whether some process still listens on an address of
// cidr: another stack on this machine shares the pod route (the route is one
// per machine, the address blocks are per stack: --subnet-offset), so the
// stack that added it must leave it while others use it.
func RouteInUse(cidr string) (bool, error) {
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
