package podproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/podenv"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// Exec runs cmd in a pod's context: the container's environment, the
// same volume mounts (a new private mount namespace with the same bind
// mounts, which is the container's view of the file system) and the exec
// rules of the image map (redis-cli without -h talks to the pod IP). It
// returns the exit code.
func (r *Runner) Exec(ctx context.Context, t Target, cmd []string, in io.Reader, out, errw io.Writer) (int, error) {
	cmd, path, err := r.command(t, cmd)
	if err != nil {
		return 0, err
	}
	c, err := r.Cmd(ctx, Spec{Path: path, Args: cmd, Env: podenv.Environ(t.Env), Dir: t.Dir, Mounts: t.Mounts})
	if err != nil {
		return 0, err
	}
	c.Stdout, c.Stderr = out, errw
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	c.WaitDelay = 2 * time.Second
	// Stdin through our own pipe: exec.Cmd would otherwise wait for the
	// client's stdin to close even after the command exited (a command that
	// does not read stdin, under `kubectl exec -i`).
	var stdinW *os.File
	if in != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return 0, fmt.Errorf("exec in pod: %w", err)
		}
		c.Stdin, stdinW = r, w
		defer r.Close()
		defer w.Close()
	}
	if err := c.Start(); err != nil {
		return 0, fmt.Errorf("exec in pod: %w", err)
	}
	if stdinW != nil {
		c.Stdin.(*os.File).Close()
		go func() {
			_, _ = io.Copy(stdinW, in)
			stdinW.Close()
		}()
	}
	err = c.Wait()
	if errors.Is(err, exec.ErrWaitDelay) {
		// The command exited 0; something it started kept its output open.
		err = nil
	}
	return exitCode(ctx, err)
}

// ExecTTY is Exec with a pseudo-terminal (kubectl exec -t): the command
// leads a new session with the terminal as its controlling tty; window
// resizes from the client are applied to it.
func (r *Runner) ExecTTY(ctx context.Context, t Target, cmd []string, in io.Reader, out io.Writer, resize <-chan remotecommand.TerminalSize) (int, error) {
	cmd, path, err := r.command(t, cmd)
	if err != nil {
		return 0, err
	}
	env := t.Env
	if _, ok := podenv.Lookup(env)("TERM"); !ok {
		env = append(append([]podenv.Var{}, env...), podenv.Var{Name: "TERM", Value: "xterm"})
	}
	c, err := r.Cmd(ctx, Spec{Path: path, Args: cmd, Env: podenv.Environ(env), Dir: t.Dir, Mounts: t.Mounts})
	if err != nil {
		return 0, err
	}
	c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
	ptmx, err := pty.StartWithAttrs(c, nil, &syscall.SysProcAttr{Setsid: true, Setctty: true, Unshareflags: syscall.CLONE_NEWNS})
	if err != nil {
		return 0, fmt.Errorf("exec in pod with a terminal: %w", err)
	}
	defer ptmx.Close()
	go func() {
		for sz := range resize {
			_ = pty.Setsize(ptmx, &pty.Winsize{Rows: sz.Height, Cols: sz.Width})
		}
	}()
	if in != nil {
		go func() { _, _ = io.Copy(ptmx, in) }()
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		if out != nil {
			_, _ = io.Copy(out, ptmx) // ends with EIO once the command is gone
		} else {
			_, _ = io.Copy(io.Discard, ptmx)
		}
	}()
	err = c.Wait()
	select {
	case <-copied:
	case <-time.After(2 * time.Second):
	}
	return exitCode(ctx, err)
}

// Target is what exec and probes need from a running container.
type Target struct {
	Env    []podenv.Var
	Mounts []Mount
	PodIP  string
	Dir    string
}

// exitCode is what an exec returns once the command's Wait gave err: the
// command's exit code, or an error when it could not run or ctx ended it.
func exitCode(ctx context.Context, err error) (int, error) {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("exec in pod: %w", ctx.Err())
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("exec in pod: %w", err)
	}
	return 0, nil
}

// command applies the image map's exec rules to cmd and finds its binary.
func (r *Runner) command(t Target, cmd []string) ([]string, string, error) {
	if len(cmd) == 0 {
		return nil, "", errors.New("no command")
	}
	cmd = r.Images.RewriteExec(cmd, podenv.Lookup(t.Env))
	path, err := r.Images.LookPath(cmd[0])
	if err != nil {
		return nil, "", fmt.Errorf("exec in pod: %w", err)
	}
	return cmd, path, nil
}
