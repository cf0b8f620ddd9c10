package noaddr

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestCheck(t *testing.T) {
	for addr, want := range map[string]bool{":6379": true, "10.244.1.2:6379": false, "[::1]:6379": false, "host:6379": false, ":0": true} {
		if err := Check("tcp", addr); errors.Is(err, ErrNoHost) != want {
			t.Errorf("Check(%q) = %v, want ErrNoHost %v", addr, err, want)
		}
	}
	if err := Check("unix", "/tmp/redis.sock"); err != nil {
		t.Errorf("unix socket: %v", err)
	}
}

// A node named without a host is not dialed on the local host, where a
// listener waits; a node with a host is.
func TestGuardNeverDialsTheLocalHostInPlaceOfAnEmptyHost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	o := Guard(&redis.ClusterOptions{DialTimeout: time.Second})
	ctx := context.Background()
	if _, err := o.Dialer(ctx, "tcp", ":"+port); !errors.Is(err, ErrNoHost) {
		t.Fatalf("dial :%s = %v, want ErrNoHost", port, err)
	}
	select {
	case <-accepted:
		t.Fatal("the local listener was dialed for an address without a host")
	case <-time.After(100 * time.Millisecond):
	}
	c, err := o.Dialer(ctx, "tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatalf("dial with a host: %v", err)
	}
	c.Close()
	<-accepted
}
