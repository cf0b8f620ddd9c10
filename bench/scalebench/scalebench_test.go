package scalebench

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func sampleRows() []Row {
	return []Row{
		{Shards: 3, Operation: "create", Detail: "3x1", Wall: 12340 * time.Millisecond, Steps: 9, History: 80, Audit: 22, WorkerCPU: 1500 * time.Millisecond, PeakRSS: 60 << 20, RedisCalls: 400, ClusterNodes: 30, Setslot: 0, HistoryBytes: 20480},
		{Shards: 3, Operation: "delete", Wall: 2 * time.Second, Steps: 2, History: 20, Audit: 6, WorkerCPU: 100 * time.Millisecond, PeakRSS: 61 << 20, RedisCalls: -1},
		{Shards: 6, Operation: "create", Detail: "6x1", Wall: 20 * time.Second, Steps: 9, History: 90, Audit: 22, WorkerCPU: 2 * time.Second, PeakRSS: 62 << 20, RedisCalls: 900},
	}
}

func TestWriteCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, sampleRows()[:2]); err != nil {
		t.Fatal(err)
	}
	want := "shards,operation,detail,wall_s,steps,history_events,history_kib,audit_events,worker_cpu_s,worker_peak_rss_mib,redis_commands,cluster_nodes,cluster_setslot\n" +
		"3,create,3x1,12.34,9,80,20,22,1.50,60.0,400,30,0\n" +
		"3,delete,,2.00,2,20,-,6,0.10,61.0,-,-,-\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("csv (-want +got):\n%s", diff)
	}
}

func TestReadCSV(t *testing.T) {
	var b bytes.Buffer
	if err := WriteCSV(&b, sampleRows()); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCSV(&b)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleRows()
	for i := range want { // the CSV keeps 10 ms, 0.1 MiB and 1 KiB
		want[i].PeakRSS = int64(float64(want[i].PeakRSS)/(1<<20)*10+0.5) * (1 << 20) / 10
		want[i].HistoryBytes = want[i].HistoryBytes / 1024 * 1024
		if want[i].RedisCalls < 0 {
			want[i].ClusterNodes, want[i].Setslot = -1, -1
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	// An older CSV without the newer columns.
	old := "shards,operation,detail,wall_s,steps,history_events,audit_events,worker_cpu_s,worker_peak_rss_mib,redis_commands\n3,create,3x1,34.40,9,95,34,1.01,86.4,1377\n"
	rows, err := ReadCSV(strings.NewReader(old))
	if err != nil || len(rows) != 1 || rows[0].RedisCalls != 1377 || rows[0].ClusterNodes != -1 || rows[0].Wall != 34400*time.Millisecond {
		t.Errorf("old CSV: %+v, %v", rows, err)
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, sampleRows()[:1]); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), b.String())
	}
	// Right-aligned: the columns end at the same offsets.
	if len(lines[0]) != len(lines[1]) {
		t.Errorf("header and row differ in width:\n%s", b.String())
	}
	for _, f := range []string{"create", "3x1", "12.34", "1.50", "60.0", "400"} {
		if !strings.Contains(lines[1], f) {
			t.Errorf("row %q lacks %q", lines[1], f)
		}
	}
}

func TestSeries(t *testing.T) {
	rows := append(sampleRows(), Row{Shards: 4, Operation: "create", Wall: 15 * time.Second})
	ops, pts := Series(rows, func(r Row) float64 { return r.Wall.Seconds() })
	if diff := cmp.Diff([]string{"create", "delete"}, ops); diff != "" {
		t.Errorf("ops (-want +got):\n%s", diff)
	}
	var xs []float64
	for _, p := range pts["create"] {
		xs = append(xs, p.X)
	}
	if diff := cmp.Diff([]float64{3, 4, 6}, xs); diff != "" {
		t.Errorf("create x (-want +got):\n%s", diff)
	}
}

func TestScaleOutTarget(t *testing.T) {
	for s, want := range map[int]int{3: 4, 6: 8, 12: 16, 24: 32, 100: 133} {
		if got := ScaleOutTarget(s); got != want {
			t.Errorf("ScaleOutTarget(%d) = %d, want %d", s, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	err := Config{Shards: []int{2}, KeysPerShard: -1, Skip: []string{"create"}}.Validate()
	for _, f := range []string{"shards: 2", "keys-per-shard", "value-size", "dayops-bin", "skip", "temporal-address", "database-url", "kubeconfig", "image", "gate-max-latency"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("Validate: %v, want it to name %s", err, f)
		}
	}
}

func TestWritePNG(t *testing.T) {
	path := t.TempDir() + "/scale.png"
	if err := WritePNG(path, sampleRows()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("%s is not a PNG (%v)", path, err)
	}
}
