package hostsetup

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestRouteInUse: a listener inside the range keeps the route; an empty
// range does not.
func TestRouteInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if busy, err := RouteInUse("127.0.0.0/8"); err != nil || !busy {
		t.Errorf("127.0.0.0/8 with a listener: busy %v, err %v", busy, err)
	}
	if busy, err := RouteInUse("10.253.252.0/24"); err != nil || busy {
		t.Errorf("an unused range: busy %v, err %v", busy, err)
	}
}

// TestRouteAddRemove checks EnsureRoute and RemoveRoute with the real `ip`
// tool inside a private network namespace (the machine's routes, which the
// shared stack uses, are never touched): the test re-runs itself under
// `unshare -n`.
func TestRouteAddRemove(t *testing.T) {
	const cidr = "10.244.0.0/16"
	if os.Getenv("DAYOPS_ROUTE_TEST_NETNS") == "" {
		cmd := exec.CommandContext(t.Context(), "unshare", "-n", os.Args[0], "-test.run=^TestRouteAddRemove$", "-test.v")
		cmd.Env = append(os.Environ(), "DAYOPS_ROUTE_TEST_NETNS=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("in a private network namespace (unshare -n needs root): %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "--- PASS: TestRouteAddRemove") {
			t.Fatalf("the test did not pass in the namespace:\n%s", out)
		}
		return
	}
	ctx := t.Context()
	if out, err := exec.CommandContext(ctx, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v\n%s", err, out)
	}
	added, err := EnsureRoute(ctx, cidr)
	if err != nil || !added {
		t.Fatalf("first EnsureRoute = %v, %v; want true, nil", added, err)
	}
	// An address of the range is now local: a listener can bind it.
	ln, err := net.Listen("tcp", "10.244.7.9:0")
	if err != nil {
		t.Fatalf("bind a pod address: %v", err)
	}
	ln.Close()
	added, err = EnsureRoute(ctx, cidr)
	if err != nil || added {
		t.Fatalf("second EnsureRoute = %v, %v; want false, nil", added, err)
	}
	if err := RemoveRoute(ctx, cidr); err != nil {
		t.Fatal(err)
	}
	if err := RemoveRoute(ctx, cidr); err != nil {
		t.Errorf("removing an absent route: %v", err)
	}
	if _, err := net.Listen("tcp", "10.244.7.9:0"); err == nil {
		t.Error("a pod address is still bindable after RemoveRoute")
	}
}
