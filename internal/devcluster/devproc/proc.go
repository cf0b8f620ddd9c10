// Package devproc starts, records, probes and stops the local stack's
// processes (identified by PID and start time) and locks the stack.
package devproc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dayops/dayops/internal/atomicfile"
)

// Record identifies a process `up` started. StartTicks (field 22 of
// /proc/PID/stat) guards against a recycled PID: a process is ours only if
// both match.
type Record struct {
	PID        int      `json:"pid"`
	StartTicks uint64   `json:"start_ticks"`
	Args       []string `json:"args"`
	Log        string   `json:"log"`
	// StartedAt is when `up` started it (for probes that must tell this
	// run's reports from an earlier run's).
	StartedAt time.Time `json:"started_at"`
}

// State is STATE/stack.json: what `up` started, so that `down` stops
// exactly that.
type State struct {
	Procs map[string]Record `json:"procs"`
	// RouteAdded is true when `up` added the pod CIDR route (so `down`
	// removes it); a route that was there before is left alone.
	RouteAdded bool   `json:"route_added,omitempty"`
	RouteCIDR  string `json:"route_cidr,omitempty"`
}

func ReadState(path string) (State, error) {
	st := State{Procs: map[string]Record{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read stack state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		// A torn or foreign file: treat it as empty rather than refuse to
		// start; the processes it named are found dead or alive by pid.
		return State{Procs: map[string]Record{}}, nil
	}
	if st.Procs == nil {
		st.Procs = map[string]Record{}
	}
	return st, nil
}

func WriteState(path string, st State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode stack state: %w", err)
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}

// Stat reads the state letter and start time of pid.
func Stat(pid int) (state byte, startTicks uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: parse
	// after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), f[19] is field 22 (starttime).
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	ticks, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat: %w", pid, err)
	}
	return f[0][0], ticks, nil
}

// Alive reports whether the recorded process still runs (not a zombie, not
// a recycled pid).
func (r Record) Alive() bool {
	if r.PID <= 0 {
		return false
	}
	state, ticks, err := Stat(r.PID)
	if err != nil {
		return false
	}
	if state == 'Z' || state == 'X' {
		return false
	}
	return r.StartTicks == 0 || ticks == r.StartTicks
}

// Start starts a detached process: its own session (so that it
// survives the caller and a Ctrl-C to the caller's terminal), stdin from
// /dev/null, stdout and stderr appended to logPath.
func Start(dir, logPath string, env []string, args []string) (Record, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Record{}, fmt.Errorf("open log: %w", err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "\n==== %s dayops-dev: starting %s\n", time.Now().UTC().Format(time.RFC3339), strings.Join(args, " "))
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return Record{}, fmt.Errorf("start %s: %w", args[0], err)
	}
	rec := Record{PID: cmd.Process.Pid, Args: args, Log: logPath, StartedAt: time.Now()}
	if _, ticks, err := Stat(rec.PID); err == nil {
		rec.StartTicks = ticks
	}
	// Reap the child if it exits while we still run (else it lingers as a
	// zombie and looks alive to kill(pid, 0)). When we exit first, init
	// adopts it.
	go func() { _ = cmd.Wait() }()
	return rec, nil
}

// Stop sends SIGTERM (to the process only when group is false, else
// to its whole process group), waits up to grace, then SIGKILLs the group
// and waits a little more. A process already gone is success.
func Stop(ctx context.Context, r Record, group bool, grace time.Duration) error {
	if !r.Alive() {
		return nil
	}
	target := r.PID
	if group {
		target = -r.PID
	}
	if err := syscall.Kill(target, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGTERM pid %d: %w", r.PID, err)
	}
	if WaitGone(ctx, r, grace) {
		return nil
	}
	if err := syscall.Kill(-r.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		// Not a group leader (should not happen): kill the process itself.
		_ = syscall.Kill(r.PID, syscall.SIGKILL)
	}
	if WaitGone(ctx, r, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("pid %d survived SIGKILL", r.PID)
}

// WaitGone waits up to d for the recorded process to be gone and says whether it is.
func WaitGone(ctx context.Context, r Record, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for r.Alive() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return !r.Alive()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// Tail returns the last n lines of a file, for error messages.
func Tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const max = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Lock takes an flock on path (exclusive or shared) and returns the
// function that releases it. The kernel drops the lock when the holder
// dies, so a killed run never leaves a stale lock.
func Lock(ctx context.Context, path string, exclusive bool) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for lock %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
