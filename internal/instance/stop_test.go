package instance

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// A fence that fails stops redis-server (stop): a process that ignores the
// first SIGTERM, as Redis does while it writes the first AOF of a sync
// ("Writing initial AOF, can't exit"), is sent it again until it exits.
// Before, the manager sent one and waited for the exit for ever, relaying
// no signal: the Pod stayed fenced and running.
func TestStopRepeatsSIGTERMUntilTheProcessExits(t *testing.T) {
	// The shell exits on its second SIGTERM (a trap runs once the
	// foreground sleep ends).
	cmd, exited := startTrapping(t, `n=0; trap 'n=$((n+1)); if [ "$n" -ge 2 ]; then exit 0; fi' TERM`)
	done := make(chan error, 1)
	go func() { done <- stop(t.Context(), make(chan os.Signal), &relay{cmd: cmd}, exited) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stop: %v (want the clean exit of the second SIGTERM)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the process still runs 10 s after stop: SIGTERM was not sent again")
	}
}

// The first SIGTERM from the container runtime waits for beforeTerm (the
// serving primary stepping aside) before redis-server gets it; a second
// SIGTERM does not run it again.
func TestFirstSIGTERMRunsBeforeTermFirst(t *testing.T) {
	cmd, exited := startTrapping(t, `trap 'exit 0' TERM`)
	calls, aliveThen := 0, false
	r := &relay{cmd: cmd, beforeTerm: func() {
		calls++
		time.Sleep(200 * time.Millisecond) // a handover takes a while
		aliveThen = syscall.Kill(cmd.Process.Pid, 0) == nil
	}}
	sigs := make(chan os.Signal, 2)
	sigs <- syscall.SIGTERM
	sigs <- syscall.SIGTERM
	if err := forward(t.Context(), sigs, r, exited); err != nil {
		t.Fatalf("forward: %v (want the clean exit of the SIGTERM)", err)
	}
	if calls != 1 || !aliveThen {
		t.Errorf("beforeTerm ran %d times, the process running at its end: %v; want once, running", calls, aliveThen)
	}
}

// startTrapping starts a shell that sets trap, says so, and sleeps in a
// loop; exited gets its exit.
func startTrapping(t *testing.T, trap string) (*exec.Cmd, <-chan error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", trap+"; echo ready; while :; do sleep 0.05; done")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	if _, err := out.Read(make([]byte, 6)); err != nil { // the trap is set
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return cmd, exited
}
