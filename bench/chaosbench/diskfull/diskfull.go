// Package diskfull holds the chaos scenario of a primary whose volume fills
// up: its AOF directory, inside the Pod's own mount namespace, is swapped
// for a tmpfs with room for about 1 MiB more (a copy of what it held), the
// primary starts a new AOF file there (BGREWRITEAOF), and writes to its
// slots fill it. Redis then refuses every write to the shard (and PINGs)
// with "MISCONF Errors writing to the AOF file: No space left on device"
// and stays the primary: nothing fails over by itself, and the Pod stays
// Ready. The guardian's sweep must find it and hand the shard to its
// replica (a switchover: no acknowledged write lost). The former primary,
// a replica now, stops on the first write it cannot persist (Redis 7.0
// panics rather than replicate what it cannot write); its container
// restarts in a new mount namespace, without the tmpfs, as on a volume that
// has room again, and comes back as a replica. (A volume that stays full
// would keep it failing: the shard keeps its writes, not its redundancy.)
// The scenario unmounts the tmpfs itself when the process still runs in
// the namespace that has it.
package diskfull

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/bench/chaosbench"
	"github.com/dayops/dayops/internal/redis/misconf"
)

// Scenario is disk-full's label.
const Scenario = "a primary's volume fills up (AOF: No space left on device)"

// HandOverLimit bounds the wait for writes to the shard to be taken again
// (the guardian sweeps every 15 s and acts on two sweeps in a row).
const HandOverLimit = 3 * time.Minute

// room is what the tmpfs holds beyond the AOF directory's files.
const room = 1 << 20

// Run runs disk-full on shard.
func Run(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	return b.Measure(ctx, Scenario, shard, true, func(ctx context.Context, f *chaosbench.Figure) error {
		p, err := b.PrimaryOf(ctx, shard)
		if err != nil {
			return err
		}
		creds, err := b.Credentials(ctx)
		if err != nil {
			return err
		}
		ip := p.Status.PodIP
		rc := benchkit.PodClient(ip, creds.Password, 2*time.Second)
		defer rc.Close()
		aofDir, err := fillVolume(ctx, rc, ip)
		if err != nil {
			return err
		}
		defer func() {
			if err := free(ip, aofDir); err != nil {
				f.Note = join(f.Note, "free the volume: "+err.Error())
			}
		}()
		key, n, err := fillUntilRefused(ctx, rc)
		if err != nil {
			return err
		}
		refusedAt := time.Now()
		b.Log.Info("chaos: the primary refuses writes", "scenario", Scenario, "pod", p.Name, "fill_writes", n)
		took, err := awaitWritable(ctx, b, key, refusedAt)
		if err != nil {
			return err
		}
		f.Note = join(f.Note, fmt.Sprintf("%s refused writes (MISCONF) after %d 64 KB fill writes; the shard took writes again %s later",
			p.Name, n, took.Round(100*time.Millisecond)))
		return nil
	})
}

// fillVolume mounts a tmpfs over the primary's AOF directory inside its
// Pod's mount namespace (a copy of the files, about room bytes to spare)
// and has the primary start a new AOF file there. It returns the AOF
// directory's path in the Pod.
func fillVolume(ctx context.Context, rc *redis.Client, ip string) (string, error) {
	cfg, err := rc.ConfigGet(ctx, "dir").Result()
	if err != nil {
		return "", fmt.Errorf("config get dir: %w", err)
	}
	name, err := rc.ConfigGet(ctx, "appenddirname").Result()
	if err != nil {
		return "", fmt.Errorf("config get appenddirname: %w", err)
	}
	aofDir := filepath.Join(cfg["dir"], name["appenddirname"])
	pid, err := redisPID(ip)
	if err != nil {
		return "", err
	}
	used, err := dirSize(fmt.Sprintf("/proc/%d/root%s", pid, aofDir))
	if err != nil {
		return "", err
	}
	script := fmt.Sprintf(`set -e; t=$(mktemp -d /tmp/dayops-diskfull-XXXXXX); mount -t tmpfs -o size=%d tmpfs "$t"; cp -a %q/. "$t"/; mount --move "$t" %q; rmdir "$t"`,
		used+room, aofDir, aofDir)
	if out, err := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(pid), "-m", "--", "sh", "-c", script).CombinedOutput(); err != nil {
		return "", fmt.Errorf("mount a tmpfs over %s in the Pod: %v: %s", aofDir, err, out)
	}
	// A new AOF file opens in the directory now on the tmpfs; the rewrite
	// itself fails (its base file cannot be renamed across file systems),
	// which changes nothing for the writes.
	if err := rc.BgRewriteAOF(ctx).Err(); err != nil {
		return aofDir, fmt.Errorf("bgrewriteaof: %w", err)
	}
	for deadline := time.Now().Add(time.Minute); ; {
		info, err := rc.Info(ctx, "persistence").Result()
		if err == nil && strings.Contains(info, "aof_rewrite_in_progress:0") {
			return aofDir, nil
		}
		if time.Now().After(deadline) {
			return aofDir, errors.New("the AOF rewrite did not end within 1m")
		}
		if err := benchkit.Sleep(ctx, 100*time.Millisecond); err != nil {
			return aofDir, err
		}
	}
}

// fillUntilRefused writes 64 KB values to keys of the primary's own slots
// until it answers MISCONF; it returns one of those keys and the writes.
func fillUntilRefused(ctx context.Context, rc *redis.Client) (string, int, error) {
	tag, err := ownTag(ctx, rc)
	if err != nil {
		return "", 0, err
	}
	big := strings.Repeat("f", 64<<10)
	for i := 0; i < 1000; i++ {
		key := fmt.Sprintf("{%s}diskfull:%d", tag, i)
		err := rc.Set(ctx, key, big, 0).Err()
		if misconf.Refuses(err) {
			return key, i + 1, nil
		}
		if err != nil {
			return "", i, fmt.Errorf("fill %s: %w", key, err)
		}
	}
	return "", 1000, errors.New("the primary took 1000 fill writes (64 MB) without refusing one")
}

// ownTag is a hash tag of a slot the node at rc owns.
func ownTag(ctx context.Context, rc *redis.Client) (string, error) {
	slots, err := rc.ClusterShards(ctx).Result()
	if err != nil {
		return "", err
	}
	myID, err := rc.Do(ctx, "cluster", "myid").Text()
	if err != nil {
		return "", err
	}
	for i := 0; i < 100000; i++ {
		tag := "d" + strconv.Itoa(i)
		s, err := rc.ClusterKeySlot(ctx, tag).Result()
		if err != nil {
			return "", err
		}
		for _, sh := range slots {
			for _, n := range sh.Nodes {
				if n.ID != myID {
					continue
				}
				for _, r := range sh.Slots {
					if s >= r.Start && s <= r.End {
						return tag, nil
					}
				}
			}
		}
	}
	return "", errors.New("no hash tag of the primary's slots")
}

// awaitWritable waits until a write of key through the cluster succeeds
// again and returns how long after since that took.
func awaitWritable(ctx context.Context, b *chaosbench.Bench, key string, since time.Time) (time.Duration, error) {
	cc, err := b.Client(ctx)
	if err != nil {
		return 0, err
	}
	defer cc.Close()
	for {
		err := cc.Set(ctx, key, "after", 0).Err()
		if err == nil {
			return time.Since(since), cc.Del(ctx, key).Err()
		}
		if time.Since(since) > HandOverLimit {
			return 0, fmt.Errorf("writes to the shard still refused %s after the disk filled: %v", HandOverLimit, err)
		}
		if err := benchkit.Sleep(ctx, 200*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// free unmounts the tmpfs in the namespace of the instance's redis-server
// (lazily; nothing to do when its container restarted, which made a new
// namespace).
func free(ip, aofDir string) error {
	pid, err := redisPID(ip)
	if err != nil {
		return nil // restarting: its new namespace has no tmpfs
	}
	out, err := exec.Command("nsenter", "-t", strconv.Itoa(pid), "-m", "--", "sh", "-c",
		fmt.Sprintf(`if grep -q " %s tmpfs " /proc/self/mounts; then umount -l %q; fi`, aofDir, aofDir)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// redisPID is the PID of the redis-server serving ip.
func redisPID(ip string) (int, error) {
	pids, err := benchkit.SignalRedis(ip, syscall.Signal(0))
	if err != nil {
		return 0, err
	}
	return pids[0], nil
}

// dirSize is the bytes of the regular files below dir.
func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", dir, err)
	}
	return n, nil
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
