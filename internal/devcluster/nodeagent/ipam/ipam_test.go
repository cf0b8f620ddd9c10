package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIPAM(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.json")
	pools := map[string]netip.Prefix{
		"node-a1": netip.MustParsePrefix("10.244.1.0/24"),
		"node-a2": netip.MustParsePrefix("10.244.2.0/24"),
	}
	a, err := New(path, pools)
	if err != nil {
		t.Fatal(err)
	}
	alloc := func(a *IPAM, node, uid string) string {
		t.Helper()
		ip, err := a.Allocate(node, uid)
		if err != nil {
			t.Fatalf("Allocate(%s, %s): %v", node, uid, err)
		}
		return ip.String()
	}
	got := []string{
		alloc(a, "node-a1", "u1"),
		alloc(a, "node-a1", "u2"),
		alloc(a, "node-a1", "u1"), // idempotent
		alloc(a, "node-a2", "u3"),
	}
	if diff := cmp.Diff([]string{"10.244.1.2", "10.244.1.3", "10.244.1.2", "10.244.2.2"}, got); diff != "" {
		t.Errorf("allocations (-want +got):\n%s", diff)
	}
	if err := a.Release("u1"); err != nil {
		t.Fatal(err)
	}
	// A restarted agent sees u2 and u3 still allocated, and reuses u1's IP.
	b, err := New(path, pools)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"u2", "u3"}, b.Owners()); diff != "" {
		t.Errorf("owners after reload (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("10.244.1.2", alloc(b, "node-a1", "u4")); diff != "" {
		t.Errorf("reuse (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("10.244.1.4", alloc(b, "node-a1", "u5")); diff != "" {
		t.Errorf("next free (-want +got):\n%s", diff)
	}
	if _, err := b.Allocate("node-zz", "u6"); err == nil {
		t.Error("Allocate on an unknown node succeeded")
	}
	// .2-.254 is 253 addresses; u3 holds one.
	n := 0
	for ; n < 300; n++ {
		if _, err := b.Allocate("node-a2", fmt.Sprintf("fill-%d", n)); err != nil {
			if !errors.Is(err, ErrPoolExhausted) {
				t.Fatalf("Allocate: %v", err)
			}
			break
		}
	}
	if n != 252 {
		t.Errorf("allocated %d addresses before exhaustion, want 252", n)
	}
}
