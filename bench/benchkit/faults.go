package benchkit

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sleep waits d or until ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// SignalRedis sends sig to the redis-server serving ip on this host: a
// process named redis-server whose command line binds ip (--bind ip, or the
// title Redis gives itself, "redis-server ip:port [cluster]"). Only that
// process: under the instance manager the container's first process is
// dayops, whose arguments name redis-server and the address too, and
// stopping it instead of Redis would be another fault.
func SignalRedis(ip string, sig syscall.Signal) ([]int, error) {
	out, err := exec.Command("pgrep", "-x", "redis-server").Output()
	if err != nil {
		return nil, fmt.Errorf("find redis-server of %s: %w", ip, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + f + "/cmdline")
		if err != nil {
			continue // gone meanwhile
		}
		cmdline := " " + strings.ReplaceAll(string(raw), "\x00", " ") + " "
		if !strings.Contains(cmdline, " --bind "+ip+" ") && !strings.Contains(cmdline, " "+ip+":") {
			continue
		}
		if err := syscall.Kill(pid, sig); err != nil {
			return pids, fmt.Errorf("signal %v to %d: %w", sig, pid, err)
		}
		pids = append(pids, pid)
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("no redis-server of %s", ip)
	}
	return pids, nil
}
