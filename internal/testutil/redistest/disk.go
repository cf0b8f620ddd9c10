package redistest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrNoMount is returned by MoveToSmallDisk where this process may not
// mount a file system (not root, or no CAP_SYS_ADMIN).
var ErrNoMount = errors.New("redistest: cannot mount a tmpfs here (needs root)")

// MoveToSmallDisk restarts the node (SIGKILL, then the same arguments) with
// its directory on a tmpfs of size bytes holding a copy of what it had
// (nodes.conf, AOF): a volume that fills up for real once the node has
// written size bytes, the fault of a full disk. The restart takes well under
// the cluster's node timeout, so a primary stays one. The returned function
// unmounts it (lazily: the node may still run); call it once the node is
// killed or the test is over.
func (n *Node) MoveToSmallDisk(ctx context.Context, size int64) (unmount func(), err error) {
	n.kill()
	old := n.Dir + ".before-tmpfs"
	if err := os.Rename(n.Dir, old); err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	if err := os.Mkdir(n.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	if err := syscall.Mount("tmpfs", n.Dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		_ = os.Remove(n.Dir)
		_ = os.Rename(old, n.Dir)
		if errors.Is(err, syscall.EPERM) {
			return nil, ErrNoMount
		}
		return nil, fmt.Errorf("redistest: mount tmpfs on %s: %w", n.Dir, err)
	}
	unmount = func() { _ = syscall.Unmount(n.Dir, syscall.MNT_DETACH) }
	if err := os.CopyFS(n.Dir, os.DirFS(old)); err != nil {
		unmount()
		return nil, fmt.Errorf("redistest: copy %s to the tmpfs: %w", old, err)
	}
	_ = os.RemoveAll(old)
	if err := n.start(); err != nil {
		unmount()
		return nil, err
	}
	if err := n.waitPing(ctx); err != nil {
		unmount()
		return nil, err
	}
	return unmount, nil
}
