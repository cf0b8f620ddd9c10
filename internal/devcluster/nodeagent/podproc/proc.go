package podproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dayops/dayops/internal/devcluster/nodeagent/imagemap"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/podlog"
)

// Proc is one running container process. Its PID is the helper's, which
// becomes the real binary through execve; the process leads its own process
// group so that signals reach anything it forks.
type Proc struct {
	PID       int
	StartedAt time.Time
	done      chan struct{} // closed when the process has exited
	// ExitCode, Signal and EndedAt are set once Done is closed.
	ExitCode int
	Signal   string
	EndedAt  time.Time
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Runner starts container processes and commands in a pod through the
// pod-exec helper.
type Runner struct {
	// Helper is the pod-exec helper command (Config.Helper).
	Helper []string
	// Images gives the exec rules of commands run in a pod.
	Images imagemap.Map
}

// Cmd builds the command that runs spec through the pod-exec helper in
// a private mount namespace.
func (r *Runner) Cmd(ctx context.Context, spec Spec) (*exec.Cmd, error) {
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode helper spec: %w", err)
	}
	var cmd *exec.Cmd
	if ctx != nil {
		cmd = exec.CommandContext(ctx, r.Helper[0], r.Helper[1:]...)
	} else {
		cmd = exec.Command(r.Helper[0], r.Helper[1:]...)
	}
	cmd.Env = []string{HelperEnv + "=" + string(raw)}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:      true,
		Unshareflags: syscall.CLONE_NEWNS,
	}
	return cmd, nil
}

// Start starts a container process whose stdout and stderr go to log.
// The container ends when its process ends, as with a real runtime: the rest
// of its process group is killed then, and the log is closed once drained
// (a straggler that escaped the group cannot hold the exit back).
func (r *Runner) Start(spec Spec, log *podlog.Log) (*Proc, error) {
	cmd, err := r.Cmd(nil, spec)
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("start %s: %w", spec.Path, err)
	}
	p := &Proc{PID: cmd.Process.Pid, StartedAt: time.Now(), done: make(chan struct{})}
	copied := make(chan struct{}, 2)
	go func() { log.CopyFrom("stdout", outR); copied <- struct{}{} }()
	go func() { log.CopyFrom("stderr", errR); copied <- struct{}{} }()
	go func() {
		err := cmd.Wait()
		p.EndedAt = time.Now()
		p.ExitCode = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.Signal = ws.Signal().String()
				p.ExitCode = 128 + int(ws.Signal())
			} else {
				p.ExitCode = ee.ExitCode()
			}
		} else if err != nil {
			p.ExitCode = 255
		}
		// Kill what is left of the container's process group.
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
		drain := time.NewTimer(2 * time.Second)
		for n := 0; n < 2; {
			select {
			case <-copied:
				n++
			case <-drain.C:
				outR.Close() // unblocks the copies
				errR.Close()
			}
		}
		drain.Stop()
		outR.Close()
		errR.Close()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// Stop sends SIGTERM to the container's process, as a container runtime
// does (not to what it forked: dayops' instance manager steps a primary
// aside before it relays the SIGTERM to its redis-server, which would
// otherwise start shutting down at once and race the handover), waits up
// to grace, then sends SIGKILL to the whole process group and waits for the
// exit; a negative grace sends SIGKILL at once.
func (p *Proc) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	if grace < 0 { // killed, not stopped: no SIGTERM
		_ = syscall.Kill(-p.PID, syscall.SIGKILL)
		<-p.done
		return
	}
	_ = syscall.Kill(p.PID, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return
	case <-t.C:
	}
	_ = syscall.Kill(-p.PID, syscall.SIGKILL)
	<-p.done
}

func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// StartTime reads a process's start time (clock ticks since boot) from
// /proc, which together with the PID identifies a process across agent
// restarts.
func StartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is state (field 3); starttime is field 22.
	if len(fields) < 20 {
		return 0, errors.New("short stat")
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// KillRecorded stops a process recorded by a previous agent run if it is
// still the same process (same PID and start time), gracefully then by
// force. It returns whether something was killed.
func KillRecorded(pid int, start uint64, grace time.Duration) bool {
	if pid <= 0 {
		return false
	}
	got, err := StartTime(pid)
	if err != nil || got != start {
		return false
	}
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if got, err := StartTime(pid); err != nil || got != start || IsZombie(pid) {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	return true
}

// IsZombie says whether pid has exited and waits to be reaped (or is gone).
func IsZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && len(s) > i+2 && s[i+2] == 'Z'
}
