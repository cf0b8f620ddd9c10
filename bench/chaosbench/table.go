package chaosbench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// WriteTable prints one row per scenario; "-" marks what did not happen (no
// promotion after a replica's loss or a restarted process).
func WriteTable(w io.Writer, figs []Figure) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tfault→promoted s\tpromoted→Service s\tfault→Service s\tfault→redundant s\tacked writes\tacked lost\tfailed (unknown)\tlongest gap s\tkeys lost\t")
	for _, f := range figs {
		keys := "-"
		if f.KeysBefore > 0 {
			keys = fmt.Sprintf("%d of %d", f.KeysLost, f.KeysBefore)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t\n", f.Scenario, secs(f.Promoted), secs(f.ServiceAfterPromotion),
			secs(f.Service), secs(f.Redundancy), f.Acked, f.AckedLost, f.Failed, secs(f.Gap), keys)
	}
	return tw.Flush()
}

// WriteNotes prints each scenario's note (what else happened).
func WriteNotes(w io.Writer, figs []Figure) {
	for _, f := range figs {
		if f.Note != "" {
			fmt.Fprintf(w, "- %s: %s\n", f.Scenario, f.Note)
		}
	}
}

func secs(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", d.Seconds())
}
