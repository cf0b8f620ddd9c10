package aofrepair_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/instance/aofrepair"
)

// A stale AOF whose snapshot cannot be vouched for is reported and left
// as it is; no temporary incr file means nothing to do.
func TestRepairLeavesWhatItCannotVouchFor(t *testing.T) {
	const manifest = "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
	now := time.Now()
	for _, c := range []struct {
		name                     string
		snapshot, temp, manifest string
		snapAt                   time.Time
		want                     string
	}{
		{name: "no temporary incr", snapshot: "REDIS0010", manifest: manifest, snapAt: now},
		{name: "no snapshot", temp: "*1\r\n", manifest: manifest, want: "no snapshot"},
		{name: "older snapshot", snapshot: "REDIS0010", temp: "*1\r\n", manifest: manifest, snapAt: now.Add(-time.Hour), want: "older than the AOF"},
		{name: "newer snapshot", snapshot: "REDIS0010", temp: "*1\r\n", manifest: manifest, snapAt: now.Add(time.Hour), want: "after the rewrite started"},
		{name: "not an RDB", snapshot: "hello", temp: "*1\r\n", manifest: manifest, snapAt: now, want: "not an RDB"},
		{name: "no manifest", snapshot: "REDIS0010", temp: "*1\r\n", snapAt: now, want: "no AOF manifest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := aofrepair.Paths{Dir: filepath.Join(dir, "appendonlydir"), File: "appendonly.aof", Snapshot: filepath.Join(dir, "dump.rdb")}
			must(t, os.Mkdir(p.Dir, 0o755))
			old := now.Add(-time.Minute)
			write := func(path, s string, at time.Time) {
				must(t, os.WriteFile(path, []byte(s), 0o644))
				must(t, os.Chtimes(path, at, at))
			}
			if c.manifest != "" {
				write(filepath.Join(p.Dir, "appendonly.aof.manifest"), c.manifest, old)
				write(filepath.Join(p.Dir, "appendonly.aof.2.base.rdb"), "REDIS0010", old)
				write(filepath.Join(p.Dir, "appendonly.aof.2.incr.aof"), "", old)
			}
			if c.snapshot != "" {
				write(p.Snapshot, c.snapshot, c.snapAt)
			}
			if c.temp != "" {
				write(p.TempIncr(), c.temp, now.Add(time.Second))
			}
			res, err := aofrepair.Repair(p)
			if err != nil || res.Repaired || res.Stale != (c.temp != "") || !strings.Contains(res.Reason, c.want) {
				t.Fatalf("Repair = %+v, %v; want stale %v, reason with %q", res, err, c.temp != "", c.want)
			}
			if c.manifest != "" {
				if b, _ := os.ReadFile(filepath.Join(p.Dir, "appendonly.aof.manifest")); string(b) != c.manifest {
					t.Errorf("manifest changed:\n%s", b)
				}
			}
		})
	}
}

// The repaired manifest lists the snapshot as base, the old files as
// history and the temporary file as incr, with the temporary file's mtime;
// a repair cut short after the manifest is finished on the next start.
func TestRepairWritesTheManifest(t *testing.T) {
	dir := t.TempDir()
	p := aofrepair.Paths{Dir: filepath.Join(dir, "appendonlydir"), File: "appendonly.aof", Snapshot: filepath.Join(dir, "dump.rdb")}
	must(t, os.Mkdir(p.Dir, 0o755))
	now := time.Now()
	for _, f := range []struct {
		path, s string
		at      time.Time
	}{
		{filepath.Join(p.Dir, "appendonly.aof.manifest"), "file appendonly.aof.3.base.rdb seq 3 type b\nfile appendonly.aof.4.incr.aof seq 4 type i\n", now.Add(-time.Hour)},
		{filepath.Join(p.Dir, "appendonly.aof.3.base.rdb"), "REDIS0010", now.Add(-time.Hour)},
		{filepath.Join(p.Dir, "appendonly.aof.4.incr.aof"), "*1\r\n", now.Add(-time.Minute)},
		{p.Snapshot, "REDIS0010", now.Add(-time.Second)},
		{p.TempIncr(), "*2\r\n", now},
	} {
		must(t, os.WriteFile(f.path, []byte(f.s), 0o644))
		must(t, os.Chtimes(f.path, f.at, f.at))
	}
	res, err := aofrepair.Repair(p)
	if err != nil || !res.Repaired || res.Base != "appendonly.aof.5.base.rdb" || res.Incr != "appendonly.aof.5.incr.aof" {
		t.Fatalf("Repair = %+v, %v", res, err)
	}
	want := "file appendonly.aof.5.base.rdb seq 5 type b\nfile appendonly.aof.3.base.rdb seq 3 type h\n" +
		"file appendonly.aof.4.incr.aof seq 4 type h\nfile appendonly.aof.5.incr.aof seq 5 type i\n"
	manifest := filepath.Join(p.Dir, "appendonly.aof.manifest")
	if b, _ := os.ReadFile(manifest); string(b) != want {
		t.Errorf("manifest:\n%s\nwant\n%s", b, want)
	}
	if fi, err := os.Stat(manifest); err != nil || !fi.ModTime().Equal(now) {
		t.Errorf("manifest mtime %v, want the temporary file's %v", fi.ModTime(), now)
	}
	if b, _ := os.ReadFile(filepath.Join(p.Dir, res.Incr)); string(b) != "*2\r\n" {
		t.Errorf("incr holds %q", b)
	}
	if files := strings.Join(aofrepair.Files(p.Dir), "; "); !strings.Contains(files, "appendonly.aof.5.incr.aof 4B ") {
		t.Errorf("Files = %s", files)
	}
	must(t, os.Link(filepath.Join(p.Dir, res.Incr), p.TempIncr()))
	if again, err := aofrepair.Repair(p); err != nil || again.Stale {
		t.Errorf("after a cut-short repair: %+v, %v", again, err)
	}
	if _, err := os.Stat(p.TempIncr()); !os.IsNotExist(err) {
		t.Errorf("the temporary file is still there: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
