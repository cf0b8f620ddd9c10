package benchkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
)

// ProcWorker runs `dayops server --roles worker` as a process of its own, so
// that it can be SIGKILLed and its CPU read; each start logs to
// Dir/worker-N.log.
type ProcWorker struct {
	Bin string
	Env []string
	Dir string
	cmd *exec.Cmd
	n   int
}

// PID of the running process.
func (w *ProcWorker) PID() int {
	if w.cmd == nil {
		return 0
	}
	return w.cmd.Process.Pid
}

// Start starts a fresh worker process.
func (w *ProcWorker) Start() error {
	w.n++
	f, err := os.Create(filepath.Join(w.Dir, "worker-"+strconv.Itoa(w.n)+".log"))
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.Command(w.Bin, "server", "--roles", "worker")
	cmd.Env, cmd.Stdout, cmd.Stderr = w.Env, f, f
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start worker %s: %w", w.Bin, err)
	}
	w.cmd = cmd
	return nil
}

// Kill SIGKILLs the worker and waits for it.
func (w *ProcWorker) Kill() error { return w.signal(syscall.SIGKILL) }

// Stop asks the worker to stop (SIGTERM) and waits for it.
func (w *ProcWorker) Stop() error { return w.signal(syscall.SIGTERM) }

func (w *ProcWorker) signal(sig syscall.Signal) error {
	if w.cmd == nil || w.cmd.ProcessState != nil {
		return nil
	}
	if err := w.cmd.Process.Signal(sig); err != nil {
		return err
	}
	_ = w.cmd.Wait()
	return nil
}
