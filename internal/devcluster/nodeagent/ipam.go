package nodeagent

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// ErrPoolExhausted is returned when a node has no free pod IP left.
var ErrPoolExhausted = errors.New("pod IP pool exhausted")

// ipam hands out pod IPs from each node's /24 (10.244.(i+1).2..254) and
// persists every change to a JSON file in the state directory before it
// returns, so that a restarted agent never hands out an IP that a live pod
// still uses. Allocation is keyed by pod UID, which makes it idempotent.
type ipam struct {
	mu    sync.Mutex
	path  string
	pools map[string]netip.Prefix      // node -> its /24
	used  map[string]map[string]string // node -> ip -> pod UID
}

type ipamFile struct {
	Allocations map[string]map[string]string `json:"allocations"`
}

// newIPAM loads the allocations stored at path (a missing file is an empty
// state). pools gives each node's subnet.
func newIPAM(path string, pools map[string]netip.Prefix) (*ipam, error) {
	a := &ipam{path: path, pools: pools, used: map[string]map[string]string{}}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read ipam state: %w", err)
	default:
		var f ipamFile
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
func (a *ipam) Allocate(node, uid string) (netip.Addr, error) {
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
func (a *ipam) Release(uid string) error {
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
func (a *ipam) Owners() []string {
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

func (a *ipam) saveLocked() error {
	b, err := json.MarshalIndent(ipamFile{Allocations: a.used}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode ipam state: %w", err)
	}
	if err := writeFileAtomic(a.path, b, 0o600); err != nil {
		return fmt.Errorf("save ipam state: %w", err)
	}
	return nil
}

// writeFileAtomic writes b to path through a temporary file and a rename,
// so a crash never leaves a half-written file behind.
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
