// Package ipam hands out the node agent's pod IPs and persists them.
package ipam

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"sync"

	"github.com/dayops/dayops/internal/atomicfile"
)

// ErrPoolExhausted is returned when a node has no free pod IP left.
var ErrPoolExhausted = errors.New("pod IP pool exhausted")

// IPAM hands out pod IPs from each node's /24 (10.244.(i+1).2..254) and
// persists every change to a JSON file in the state directory before it
// returns, so that a restarted agent never hands out an IP that a live pod
// still uses. Allocation is keyed by pod UID, which makes it idempotent.
type IPAM struct {
	mu    sync.Mutex
	path  string
	pools map[string]netip.Prefix      // node -> its /24
	used  map[string]map[string]string // node -> ip -> pod UID
}

type stateFile struct {
	Allocations map[string]map[string]string `json:"allocations"`
}

// New loads the allocations stored at path (a missing file is an empty
// state). pools gives each node's subnet.
func New(path string, pools map[string]netip.Prefix) (*IPAM, error) {
	a := &IPAM{path: path, pools: pools, used: map[string]map[string]string{}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read ipam state: %w", err)
	default:
		var f stateFile
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("decode ipam state %s: %w", path, err)
		}
		for node, m := range f.Allocations {
			if _, ok := pools[node]; !ok {
				continue // a node this agent no longer runs
			}
			a.used[node] = m
		}
	}
	return a, nil
}

// Allocate returns the IP held by uid on node, or the lowest free one.
func (a *IPAM) Allocate(node, uid string) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	pool, ok := a.pools[node]
	if !ok {
		return netip.Addr{}, fmt.Errorf("allocate pod IP: unknown node %q", node)
	}
	m := a.used[node]
	if m == nil {
		m = map[string]string{}
		a.used[node] = m
	}
	for ip, owner := range m {
		if owner == uid {
			return netip.ParseAddr(ip)
		}
	}
	base := pool.Addr().As4()
	for host := 2; host <= 254; host++ {
		ip := netip.AddrFrom4([4]byte{base[0], base[1], base[2], byte(host)})
		if _, taken := m[ip.String()]; taken {
			continue
		}
		m[ip.String()] = uid
		if err := a.saveLocked(); err != nil {
			delete(m, ip.String())
			return netip.Addr{}, err
		}
		return ip, nil
	}
	return netip.Addr{}, fmt.Errorf("node %s: %w", node, ErrPoolExhausted)
}

// Release frees every IP held by uid. Releasing an unknown UID is a no-op.
func (a *IPAM) Release(uid string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	changed := false
	for _, m := range a.used {
		for ip, owner := range m {
			if owner == uid {
				delete(m, ip)
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	return a.saveLocked()
}

// Owners returns the set of UIDs holding an IP.
func (a *IPAM) Owners() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, m := range a.used {
		for _, owner := range m {
			out = append(out, owner)
		}
	}
	sort.Strings(out)
	return out
}

func (a *IPAM) saveLocked() error {
	b, err := json.MarshalIndent(stateFile{Allocations: a.used}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode ipam state: %w", err)
	}
	if err := atomicfile.Write(a.path, b, 0o600); err != nil {
		return fmt.Errorf("save ipam state: %w", err)
	}
	return nil
}
