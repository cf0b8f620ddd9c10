// Package podproc runs container processes and commands in a pod: the
// pod-exec helper (a private mount namespace with the pod's bind mounts),
// process start, stop and exit, and the recorded processes of a previous
// agent run.
package podproc

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// HelperEnv is the environment variable that carries a Spec (JSON) to
// the pod-exec helper. A process started with it set must call
// RunHelper before anything else (the `dayops-dev dev agent pod-exec`
// command does; tests that run the agent in-process do it in TestMain).
const HelperEnv = "DAYOPS_NODEAGENT_POD_EXEC"

// Spec is what the helper needs to turn itself into a pod process.
type Spec struct {
	Path   string   `json:"path"`
	Args   []string `json:"args"`
	Env    []string `json:"env"`
	Dir    string   `json:"dir,omitempty"`
	Mounts []Mount  `json:"mounts,omitempty"`
}

// Mount is a volume seen by a pod process at Target.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// RunHelper is the pod-exec helper: the agent starts it in a new
// private mount namespace (CLONE_NEWNS, with / made private by the Go
// runtime before exec), so every bind mount it makes is seen by this pod
// process only. It bind-mounts each volume at its mountPath (creating the
// mount point on the host file system if needed), then replaces itself with
// the real binary through execve, keeping its PID: the agent's PID is the
// container's PID. It returns only on error.
func RunHelper() error {
	raw := os.Getenv(HelperEnv)
	if raw == "" {
		return errors.New("pod-exec: " + HelperEnv + " is not set")
	}
	var s Spec
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return fmt.Errorf("pod-exec: decode spec: %w", err)
	}
	for _, m := range s.Mounts {
		if err := bind(m); err != nil {
			return fmt.Errorf("pod-exec: mount %s at %s: %w", m.Source, m.Target, err)
		}
	}
	dir := s.Dir
	if dir == "" {
		dir = "/"
	}
	if err := os.Chdir(dir); err != nil {
		return fmt.Errorf("pod-exec: chdir %s: %w", dir, err)
	}
	if err := syscall.Exec(s.Path, s.Args, s.Env); err != nil {
		return fmt.Errorf("pod-exec: exec %s: %w", s.Path, err)
	}
	return nil
}

func bind(m Mount) error {
	fi, err := os.Stat(m.Source)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		if err := os.MkdirAll(m.Target, 0o755); err != nil {
			return err
		}
	} else {
		if err := os.MkdirAll(filepath.Dir(m.Target), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(m.Target, os.O_CREATE|os.O_RDONLY, 0o644)
		if err != nil {
			return err
		}
		f.Close()
	}
	if err := syscall.Mount(m.Source, m.Target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return err
	}
	if m.ReadOnly {
		if err := syscall.Mount("", m.Target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_REC, ""); err != nil {
			return err
		}
	}
	return nil
}
