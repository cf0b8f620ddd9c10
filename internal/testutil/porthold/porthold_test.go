package porthold_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/dayops/dayops/internal/testutil/porthold"
)

func TestHoldRefusesEveryone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))

	porthold.Hold(port)
	if other, err := net.Listen("tcp", addr); err == nil {
		_ = other.Close()
		t.Fatal("another listener took a held port")
	}
	c, err := net.Dial("tcp", addr)
	if err == nil {
		_, err = c.Read(make([]byte, 1))
		_ = c.Close()
	}
	if err == nil {
		t.Fatalf("a connection to a held port read without an error")
	}

	porthold.Release(port)
	again, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the released port: %v", err)
	}
	_ = again.Close()
}
