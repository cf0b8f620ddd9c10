package noaddr_test

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/noaddr"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// A primary's address taken by another node (a recreated Pod given the IP
// of one that is gone): the nodes that ping it there forget the primary's
// address, and their CLUSTER SLOTS names its slots with an empty host and
// port 0. go-redis takes port 0 for the port of the node it asked
// (replaceZeroPort, for TLS-only clusters) and the empty host for the local
// host: where every node listens on 6379, as in Kubernetes, it sends the
// slots' commands to whatever listens on localhost:6379. A guarded client's
// commands fail with ErrNoHost instead.
func TestAPrimaryWhoseAddressWasTakenIsNamedWithoutAHost(t *testing.T) {
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 2})
	a, b := c.Nodes()[0], c.Nodes()[1]
	aID, err := c.NodeID(ctx, a.Addr)
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.View(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bc := redis.NewClient(&redis.Options{Addr: b.Addr, Protocol: 2, DisableIdentity: true})
	defer bc.Close()
	key, slot := "", 0
	for i := 0; key == ""; i++ {
		k := "k" + strconv.Itoa(i)
		n, err := bc.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if v.Owner(int(n)) == aID {
			key, slot = k, int(n)
		}
	}
	a.Kill()
	redistest.StartAgain(t, t.TempDir(), a.Port, a.BusPort) // a stranger, with no nodes.conf
	var host string
	redistest.WaitFor(t, 20*time.Second, b.Addr+" to name "+aID[:8]+"'s slots without a host", func() bool {
		slots, err := bc.ClusterSlots(ctx).Result()
		if err != nil {
			return false
		}
		for _, s := range slots {
			if s.Start <= slot && slot <= s.End && len(s.Nodes) > 0 {
				host, _, _ = strings.Cut(s.Nodes[0].Addr, ":")
				return s.Nodes[0].ID == aID && host == ""
			}
		}
		return false
	})
	cc := redis.NewClusterClient(noaddr.Guard(&redis.ClusterOptions{Addrs: []string{b.Addr}, Protocol: 2, DisableIdentity: true,
		MaxRedirects: 2, DialTimeout: time.Second}))
	defer cc.Close()
	err = cc.Set(ctx, key, "v", 0).Err()
	if err == nil || !(errors.Is(err, noaddr.ErrNoHost) || strings.Contains(err.Error(), noaddr.ErrNoHost.Error())) {
		t.Fatalf("SET %s (slot %d, its owner named without a host) = %v, want ErrNoHost", key, slot, err)
	}
	if want := fmt.Sprintf("dial \":%d\"", b.Port); !strings.Contains(err.Error(), want) {
		t.Errorf("SET %s = %v, want the dial of %s refused (the empty host with the asked node's port)", key, err, want)
	}
	t.Logf("SET %s: %v", key, err)
}
