// Package porthold keeps the ports of a killed test redis-server from
// being picked for another test's redis-server.
//
// Tests run in parallel, in many processes, and pick free ports at random
// (redistest: in [20000, 30000), below the kernel's ephemeral range, so
// only they pick there). A port freed by a SIGKILL is soon picked again
// elsewhere, and a replica whose primary was killed reconnects to the
// primary's address every second: when a stranger answers there (test
// nodes have no password), the replica's PSYNC is refused and it takes a
// full resync of the stranger's data, its own flushed (seen in make test:
// a takeover then served a shard of empty keys). Kubernetes reuses Pod IPs
// the same way, and the instance manager guards against it
// (internal/instance/linkguard); a test of Redis' own behaviour has the
// port left alone instead.
//
// The hold is a marker file per port in a directory every test process
// shares, naming the holding process: a picker skips the port while that
// process lives (Held). Nothing listens on the port, so a connection to
// it is refused at once, as to any dead node.
package porthold

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// dir holds the markers.
var dir = filepath.Join(os.TempDir(), "dayops-redistest-held-ports")

func marker(port int) string { return filepath.Join(dir, strconv.Itoa(port)) }

// Hold marks port taken by this process until Release (best effort: a
// marker that cannot be written leaves the port free to pick).
func Hold(port int) {
	if port <= 0 || os.MkdirAll(dir, 0o777) != nil {
		return
	}
	_ = os.WriteFile(marker(port), []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// Release gives back a port this process holds (no-op otherwise).
func Release(port int) {
	if holder(port) == os.Getpid() {
		_ = os.Remove(marker(port))
	}
}

// Held says whether a live process holds port. A marker of a process that
// is gone is removed.
func Held(port int) bool {
	pid := holder(port)
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
		return true
	}
	_ = os.Remove(marker(port))
	return false
}

// holder is the process that marked port (0: none).
func holder(port int) int {
	b, err := os.ReadFile(marker(port))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
