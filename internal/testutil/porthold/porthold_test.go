package porthold_test

import (
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/dayops/dayops/internal/testutil/porthold"
)

func TestHold(t *testing.T) {
	const port = 29999
	porthold.Release(port)
	if porthold.Held(port) {
		t.Skip("another process holds the test's port")
	}
	porthold.Hold(port)
	if !porthold.Held(port) {
		t.Fatal("a held port is not held")
	}
	porthold.Release(port)
	if porthold.Held(port) {
		t.Fatal("a released port is still held")
	}
}

// A marker left by a process that is gone does not hold the port.
func TestHoldOfAGoneProcess(t *testing.T) {
	const port = 29998
	if porthold.Held(port) {
		t.Skip("another process holds the test's port")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	porthold.Hold(port) // marked by this process, then rewritten as the gone one's
	if err := os.WriteFile(porthold.MarkerForTest(port), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if porthold.Held(port) {
		t.Fatal("a gone process's marker holds the port")
	}
}
