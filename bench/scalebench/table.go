package scalebench

import (
	"encoding/csv"
	"fmt"
	"io"
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
		strconv.FormatFloat(float64(r.HistoryBytes)/1024, 'f', 0, 64),
		strconv.Itoa(r.Audit),
		strconv.FormatFloat(r.WorkerCPU.Seconds(), 'f', 2, 64),
		strconv.FormatFloat(float64(r.PeakRSS)/(1<<20), 'f', 1, 64),
		count(r.RedisCalls), count(r.ClusterNodes), count(r.Setslot),
	}
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
