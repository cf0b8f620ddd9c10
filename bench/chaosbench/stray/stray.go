// Package stray holds the chaos scenario of a former primary that comes
// back as a primary owning no slot, with its old keys: the state make
// test's audit-db-down left once (a lost primary's Pod back with a
// nodes.conf that gave its slots to the promoted replica while it stayed a
// primary). Redis sets every slot it holds keys of importing at load and
// never demotes it (it has no slot to lose), and CLUSTER REPLICATE refuses
// a node with keys: before the fix a slot closer finished one of those
// imports towards it, which split the shard between two primaries; after
// it, nothing brought it back, and the shard had no replica for good.
//
// The scenario makes that state from a replica of the shard: its nodes.conf
// (read and written through /proc/<pid>/root, the Pod's own file system)
// says it is a primary, and its redis-server is SIGKILLed at once; it
// restarts on its volume holding its copy of the shard (AOF), owning no
// slot. The guardian must find it and a recover make it the shard
// primary's replica again in place (guard.Lost.Rejoin), its old keys
// discarded, no Pod, volume or node ID touched.
package stray

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/bench/chaosbench"
)

// Scenario is stray-primary's label.
const Scenario = "a former primary comes back owning no slot, with its old keys (a replica's nodes.conf made a primary's, then SIGKILL)"

// Run runs stray-primary on shard (it needs a replica there).
func Run(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	return b.Measure(ctx, Scenario, shard, false, func(ctx context.Context, f *chaosbench.Figure) error {
		reps, err := b.ReplicasOf(ctx, shard)
		if err != nil {
			return err
		}
		if len(reps) == 0 {
			return fmt.Errorf("shard-%d has no replica", shard)
		}
		p := reps[0]
		creds, err := b.Credentials(ctx)
		if err != nil {
			return err
		}
		ip := p.Status.PodIP
		rc := benchkit.PodClient(ip, creds.Password, 2*time.Second)
		defer rc.Close()
		keys, err := rc.DBSize(ctx).Result()
		if err != nil {
			return fmt.Errorf("dbsize: %w", err)
		}
		conf, err := rc.ConfigGet(ctx, "cluster-config-file").Result()
		if err != nil {
			return fmt.Errorf("config get cluster-config-file: %w", err)
		}
		pids, err := benchkit.SignalRedis(ip, syscall.Signal(0))
		if err != nil {
			return err
		}
		path := fmt.Sprintf("/proc/%d/root%s", pids[0], conf["cluster-config-file"])
		if err := makePrimary(path); err != nil {
			return err
		}
		if _, err := benchkit.SignalRedis(ip, syscall.SIGKILL); err != nil {
			return err
		}
		f.Note = fmt.Sprintf("pod %s, a replica holding %d keys, restarted as a primary owning no slot", p.Name, keys)
		b.Log.Info("chaos: fault", "scenario", Scenario, "pod", p.Name, "keys", keys)
		return nil
	})
}

// makePrimary rewrites the nodes.conf at path so that its node is a
// primary (no slots, no primary of its own), by a rename in its directory.
func makePrimary(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := AsPrimary(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	tmp := filepath.Join(filepath.Dir(path), ".nodes.conf.stray")
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// AsPrimary returns nodes.conf text whose "myself" line, a replica's, is a
// primary's: flag slave replaced by master, its primary's ID by "-".
func AsPrimary(conf []byte) ([]byte, error) {
	lines := bytes.Split(conf, []byte("\n"))
	for i, l := range lines {
		f := strings.Fields(string(l))
		if len(f) < 8 || f[0] == "vars" || !strings.Contains(f[2], "myself") {
			continue
		}
		flags := strings.Split(f[2], ",")
		found := false
		for j, fl := range flags {
			if fl == "slave" {
				flags[j], found = "master", true
			}
		}
		if !found {
			return nil, fmt.Errorf("the myself line is not a replica's: %q", l)
		}
		f[2], f[3] = strings.Join(flags, ","), "-"
		lines[i] = []byte(strings.Join(f, " "))
		return bytes.Join(lines, []byte("\n")), nil
	}
	return nil, fmt.Errorf("no myself line")
}
