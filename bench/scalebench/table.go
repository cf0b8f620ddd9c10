package scalebench

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
	"time"
)

// Row is one operation on one cluster size.
type Row struct {
	Shards    int    // shards of the cluster the run is about (its size)
	Operation string // create, scale-out, scale-in, backup, upgrade, delete
	Detail    string // e.g. "3->4"
	Wall      time.Duration
	Steps     int // audit StepCompleted events of the operation
	History   int // Temporal history events of the operation's workflow (children included)
	Audit     int // audit events correlated to the operation
	WorkerCPU time.Duration
	PeakRSS   int64 // bytes
	// RedisCalls is the growth of INFO commandstats calls summed over the
	// instances that exist before and after; -1 when none outlives the
	// operation (delete).
	RedisCalls int64
	// ClusterNodes and Setslot are the parts of RedisCalls that were
	// CLUSTER NODES and CLUSTER SETSLOT (-1 with RedisCalls).
	ClusterNodes int64
	Setslot      int64
	// HistoryBytes is the size of the history events (protobuf encoding),
	// children included.
	HistoryBytes int64
}

var header = []string{"shards", "operation", "detail", "wall_s", "steps", "history_events", "history_kib", "audit_events", "worker_cpu_s", "worker_peak_rss_mib", "redis_commands", "cluster_nodes", "cluster_setslot"}

func (r Row) cells() []string {
	count := func(n int64) string {
		if r.RedisCalls < 0 || n < 0 {
			return "-"
		}
		return strconv.FormatInt(n, 10)
	}
	return []string{
		strconv.Itoa(r.Shards), r.Operation, r.Detail,
		strconv.FormatFloat(r.Wall.Seconds(), 'f', 2, 64),
		strconv.Itoa(r.Steps), strconv.Itoa(r.History),
		kib(r.HistoryBytes),
		strconv.Itoa(r.Audit),
		strconv.FormatFloat(r.WorkerCPU.Seconds(), 'f', 2, 64),
		strconv.FormatFloat(float64(r.PeakRSS)/(1<<20), 'f', 1, 64),
		count(r.RedisCalls), count(r.ClusterNodes), count(r.Setslot),
	}
}

// kib is bytes in KiB, "-" for none (a row of an older CSV, or no workflow).
func kib(b int64) string {
	if b <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(b)/1024, 'f', 0, 64)
}

// WriteTable prints rows as right-aligned columns.
func WriteTable(w io.Writer, rows []Row) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	line := func(c []string) {
		for _, s := range c {
			fmt.Fprint(tw, s, "\t")
		}
		fmt.Fprintln(tw)
	}
	line(header)
	for _, r := range rows {
		line(r.cells())
	}
	return tw.Flush()
}

// WriteCSV writes rows with a header line.
func WriteCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, r := range rows {
		if err := cw.Write(r.cells()); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ReadCSV reads rows WriteCSV wrote, by column name; a column an older CSV
// lacks reads as 0 (-1 for the Redis counts), "-" as -1.
func ReadCSV(r io.Reader) ([]Row, error) {
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, errors.New("empty CSV")
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	var rows []Row
	for n, rec := range recs[1:] {
		var errs []error
		get := func(name string) (string, bool) {
			i, ok := col[name]
			if !ok || i >= len(rec) {
				return "", false
			}
			return rec[i], true
		}
		num := func(name string, absent float64) float64 {
			v, ok := get(name)
			switch {
			case !ok:
				return absent
			case v == "-":
				return -1
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				errs = append(errs, fmt.Errorf("line %d, %s: %w", n+2, name, err))
			}
			return f
		}
		row := Row{
			Shards: int(num("shards", 0)), Steps: int(num("steps", 0)), History: int(num("history_events", 0)), Audit: int(num("audit_events", 0)),
			Wall:         time.Duration(math.Round(num("wall_s", 0)*1000)) * time.Millisecond,
			WorkerCPU:    time.Duration(math.Round(num("worker_cpu_s", 0)*1000)) * time.Millisecond,
			PeakRSS:      int64(math.Round(num("worker_peak_rss_mib", 0)*10)) * (1 << 20) / 10,
			HistoryBytes: max(0, int64(num("history_kib", 0))) * 1024,
			RedisCalls:   int64(num("redis_commands", -1)),
			ClusterNodes: int64(num("cluster_nodes", -1)),
			Setslot:      int64(num("cluster_setslot", -1)),
		}
		row.Operation, _ = get("operation")
		row.Detail, _ = get("detail")
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	return rows, nil
}
