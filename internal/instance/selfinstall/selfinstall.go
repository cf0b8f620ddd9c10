// Package selfinstall puts the dayops binary where a Redis Pod's containers
// run it: the init container of every Redis Pod installs it into a shared
// volume, and the redis container starts redis-server through it (the
// instance manager).
package selfinstall

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// BinaryName is the name Install gives the binary in its target directory.
const BinaryName = "dayops"

// Install puts the running executable into dir as dayops (mode 0755): a hard
// link when dir is on the same file system, else a copy, written under a
// temporary name and renamed so a reader never sees half a binary.
func Install(dir string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	dst := filepath.Join(dir, BinaryName)
	tmp := dst + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Link(exe, tmp); err != nil {
		if err := copyFile(exe, tmp); err != nil {
			return "", fmt.Errorf("install: %w", err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", fmt.Errorf("install: %w", err)
	}
	return dst, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
