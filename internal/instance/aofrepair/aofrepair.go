// Package aofrepair puts back a replica's append-only file that a crash
// left on its pre-sync data.
//
// After a full resync, a Redis 7.0 replica with appendonly yes loads the
// primary's snapshot (written to its dbfilename first, with the default
// repl-diskless-load disabled) and rewrites its AOF from it. Until that
// rewrite ends (the "initial AOF", AOF_WAIT_REWRITE) every write the replica
// takes goes to temp-<appendfilename>.incr, which the manifest does not
// list, and the manifest still names the AOF from before the sync. A replica
// killed in that window (SIGKILL, a lost Pod or node, or a SIGTERM: Redis
// refuses to exit then, "Writing initial AOF, can't exit", until the
// kubelet kills it) restarts on its old data: every write it took since the
// sync is gone, the keys hold older values, and nothing says so. Seen on
// 7.0.15 by hand and in dayops' suite: a lost shard brought back from its
// replica lacked acknowledged writes (each had been on the replica), and a
// restarted replica came back empty.
//
// Repair runs before redis-server starts. When the temporary incr file is
// there and the snapshot is the one the rewrite started from (written after
// every file of the manifest, and not after the temporary incr file), it
// makes the snapshot the AOF's base and the temporary file its incr: the
// data the replica held when it died (hard links: the snapshot keeps its
// name, and one on another file system than the AOF is not repaired). The
// files of the stale AOF stay in the manifest as history, which Redis
// deletes. When the snapshot cannot be
// vouched for, nothing changes and the result says the AOF is stale.
package aofrepair

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/atomicfile"
)

// Result says what Repair found and did.
type Result struct {
	// Stale: a rewrite after a sync was cut short, so the manifest names
	// the AOF from before the sync.
	Stale bool
	// Repaired: the AOF now holds the snapshot and the writes after it.
	Repaired bool
	// Reason says why a stale AOF was not repaired.
	Reason string
	// Base and Incr name the files of the repaired AOF.
	Base, Incr string
	// Snapshot is when the snapshot was written.
	Snapshot time.Time
}

// Paths names the files Repair reads: Redis' appenddirname, appendfilename
// and dbfilename, as absolute paths (Dir and Snapshot) and a name (File).
type Paths struct {
	Dir, File, Snapshot string
}

// TempIncr is where Redis 7.0 writes while its initial AOF is rewritten.
func (p Paths) TempIncr() string { return filepath.Join(p.Dir, "temp-"+p.File+".incr") }

func (p Paths) manifest() string { return filepath.Join(p.Dir, p.File+".manifest") }

type entry struct {
	name, kind string
	seq        int
}

// Repair looks for an AOF a cut-short rewrite left stale and repairs it from
// the snapshot (see the package doc).
func Repair(p Paths) (Result, error) {
	tmp, err := os.Stat(p.TempIncr())
	if errors.Is(err, os.ErrNotExist) {
		return Result{}, nil
	}
	if err != nil {
		return Result{}, err
	}
	res := Result{Stale: true}
	entries, manifestTime, err := readManifest(p.manifest())
	if err != nil {
		return res, err
	}
	if repairedBefore(p, entries, tmp) {
		return Result{}, os.Remove(p.TempIncr())
	}
	if len(entries) == 0 {
		// Redis 7 writes a manifest when it starts with appendonly yes:
		// without one the AOF was turned on at runtime, not by a sync.
		res.Reason = "no AOF manifest: not a rewrite after a sync"
		return res, nil
	}
	snap, why := checkSnapshot(p, entries, manifestTime, tmp.ModTime())
	if why != "" {
		res.Reason = why
		return res, nil
	}
	seq := 0
	for _, e := range entries {
		seq = max(seq, e.seq)
	}
	seq++
	res.Base = fmt.Sprintf("%s.%d.base.rdb", p.File, seq)
	res.Incr = fmt.Sprintf("%s.%d.incr.aof", p.File, seq)
	res.Snapshot = snap
	// Every step leaves a state the next start repairs again: new names
	// first (left-overs of a cut-short repair go), then the manifest, and
	// the temporary file last.
	base, incr := filepath.Join(p.Dir, res.Base), filepath.Join(p.Dir, res.Incr)
	for _, f := range []string{base, incr} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return res, err
		}
	}
	if err := os.Link(p.Snapshot, base); err != nil {
		return res, err
	}
	if err := os.Link(p.TempIncr(), incr); err != nil {
		return res, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "file %s seq %d type b\n", res.Base, seq)
	for _, e := range entries {
		fmt.Fprintf(&b, "file %s seq %d type h\n", e.name, e.seq)
	}
	fmt.Fprintf(&b, "file %s seq %d type i\n", res.Incr, seq)
	// The manifest keeps the time of the last write to the AOF (the
	// instance manager's fence reads it).
	if err := atomicfile.WriteAt(p.manifest(), []byte(b.String()), 0o644, tmp.ModTime()); err != nil {
		return res, err
	}
	if err := syncDir(p.Dir); err != nil {
		return res, err
	}
	res.Repaired = true
	return res, os.Remove(p.TempIncr())
}

// repairedBefore: the manifest's incr file is the temporary file under
// another name (a repair ended before it removed the temporary file).
func repairedBefore(p Paths, entries []entry, tmp os.FileInfo) bool {
	for _, e := range entries {
		if fi, err := os.Stat(filepath.Join(p.Dir, e.name)); err == nil && e.kind == "i" && os.SameFile(fi, tmp) {
			return true
		}
	}
	return false
}

// Files lists the files of the AOF directory dir with their sizes and
// modification times, for the instance manager's log: what redis-server
// loads, and what it left behind.
func Files(dir string) []string {
	entries, _ := os.ReadDir(dir)
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			out = append(out, fmt.Sprintf("%s %dB %s", e.Name(), fi.Size(), fi.ModTime().UTC().Format("15:04:05.000")))
		}
	}
	return out
}

// checkSnapshot vouches for the snapshot as the rewrite's start: an RDB file
// written after the stale AOF's files and not after the temporary incr
// file. It returns the snapshot's time, or why not.
func checkSnapshot(p Paths, entries []entry, manifestTime, tmpTime time.Time) (time.Time, string) {
	fi, err := os.Stat(p.Snapshot)
	if err != nil || !fi.Mode().IsRegular() {
		return time.Time{}, "no snapshot at " + p.Snapshot + " (the sync was loaded without one: repl-diskless-load)"
	}
	if !isRDB(p.Snapshot) {
		return time.Time{}, p.Snapshot + " is not an RDB file"
	}
	t := fi.ModTime()
	if t.After(tmpTime) {
		return time.Time{}, p.Snapshot + " was written after the rewrite started"
	}
	newest := manifestTime
	for _, e := range entries {
		if ei, err := os.Stat(filepath.Join(p.Dir, e.name)); err == nil && ei.ModTime().After(newest) {
			newest = ei.ModTime()
		}
	}
	if t.Before(newest) {
		return time.Time{}, p.Snapshot + " is older than the AOF: not the sync's snapshot"
	}
	return t, ""
}

func isRDB(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 5)
	_, err = io.ReadFull(f, head)
	return err == nil && string(head) == "REDIS"
}

// readManifest reads Redis 7's multi-part AOF manifest ("file NAME seq N
// type b|h|i" lines); a missing one is empty.
func readManifest(path string) ([]entry, time.Time, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	var out []entry
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		var e entry
		for i := 0; i+1 < len(f); i += 2 {
			switch f[i] {
			case "file":
				e.name = f[i+1]
			case "seq":
				e.seq, err = strconv.Atoi(f[i+1])
			case "type":
				e.kind = f[i+1]
			}
		}
		if e.name == "" || err != nil || strings.ContainsAny(e.name, `"'/`) {
			return nil, time.Time{}, fmt.Errorf("%s: cannot read line %q", path, sc.Text())
		}
		out = append(out, e)
	}
	return out, fi.ModTime(), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
