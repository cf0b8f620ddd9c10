package devcluster

import (
	"net"
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
	if busy, err := routeInUse("127.0.0.0/8"); err != nil || !busy {
		t.Errorf("127.0.0.0/8 with a listener: busy %v, err %v", busy, err)
	}
	if busy, err := routeInUse("10.253.252.0/24"); err != nil || busy {
		t.Errorf("an unused range: busy %v, err %v", busy, err)
	}
}
