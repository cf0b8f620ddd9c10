// Package atomicfile writes files through a temporary file and a rename.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Write writes b to path through a temporary file and a rename, so a crash
// (or a killed `dev up`) never leaves a half-written file behind. The
// directory is created if needed.
func Write(path string, b []byte, mode os.FileMode) error {
	return WriteAt(path, b, mode, time.Time{})
}

// WriteAt is Write with the file's modification time set to mtime (unless
// zero) before the rename: the file never shows the time of the write.
func WriteAt(path string, b []byte, mode os.FileMode, mtime time.Time) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(tmp.Name(), mtime, mtime); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
