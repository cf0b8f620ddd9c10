// Package porthold keeps the ports of a killed test redis-server taken, so
// that no other test's redis-server is started on them.
//
// Tests run in parallel, in many processes, and pick free ports at random.
// A port freed by a SIGKILL is soon picked again elsewhere, and a replica
// whose primary was killed reconnects to the primary's address every
// second: when a stranger answers there (test nodes have no password), the
// replica's PSYNC is refused and it takes a full resync of the stranger's
// data, its own flushed (seen in make test: a takeover then served a shard of empty
// keys). Kubernetes reuses Pod IPs the same way, and the instance manager
// guards against it (internal/instance/linkguard); a test of Redis'
// own behaviour holds the port instead. A held port listens and resets
// every connection at once: to Redis, as dead as a closed one.
package porthold

import (
	"net"
	"strconv"
	"sync"
)

var (
	mu   sync.Mutex
	held = map[int]net.Listener{}
)

// Hold takes port on 127.0.0.1 until Release. A port that cannot be
// taken (another process has it already) is left alone.
func Hold(port int) {
	mu.Lock()
	defer mu.Unlock()
	if _, ok := held[port]; ok || port <= 0 {
		return
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return
	}
	held[port] = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // released
			}
			_ = c.(*net.TCPConn).SetLinger(0) // a reset, no TIME_WAIT
			_ = c.Close()
		}
	}()
}

// Release gives back a port Hold took (no-op for any other).
func Release(port int) {
	mu.Lock()
	defer mu.Unlock()
	if ln, ok := held[port]; ok {
		_ = ln.Close()
		delete(held, port)
	}
}
