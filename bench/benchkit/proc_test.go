package benchkit

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with a space and a parenthesis; utime 250, stime 130.
	stat := "4242 (day ops) w) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 130 0 0 20 0 12 0 100 2000000 3000 18446744073709551615\n"
	got, err := ParseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3800 * time.Millisecond; got != want {
		t.Errorf("cpu = %s, want %s", got, want)
	}
	for _, bad := range []string{"4242 dayops S 1", "4242 (dayops) S 1 2 3", "4242 (dayops) S 1 1 1 0 -1 0 0 0 0 0 x 1 0"} {
		if _, err := ParseStatCPU(bad); err == nil {
			t.Errorf("ParseStatCPU(%q): no error", bad)
		}
	}
}

func TestParseStatusKB(t *testing.T) {
	status := "Name:\tdayops\nVmPeak:\t  900000 kB\nVmHWM:\t   51234 kB\nVmRSS:\t   40000 kB\nThreads:\t12\n"
	got, err := ParseStatusKB(status, "VmHWM")
	if err != nil || got != 51234 {
		t.Errorf("VmHWM = %d, %v; want 51234", got, err)
	}
	if _, err := ParseStatusKB(status, "VmSwap"); err == nil || !strings.Contains(err.Error(), "VmSwap") {
		t.Errorf("missing key: %v", err)
	}
	if _, err := ParseStatusKB(status, "Threads"); err == nil {
		t.Error("a value without kB: no error")
	}
}

func TestCommandCalls(t *testing.T) {
	info := "# Commandstats\r\ncmdstat_get:calls=10,usec=5,usec_per_call=0.50,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_cluster|nodes:calls=32,usec=900,usec_per_call=28.1,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_info:calls=3,usec=100,usec_per_call=33.3,rejected_calls=0,failed_calls=0\r\n"
	got, err := CommandCalls(info)
	if err != nil || got != 45 {
		t.Errorf("calls = %d, %v; want 45", got, err)
	}
	if _, err := CommandCalls("cmdstat_get:usec=5\r\n"); err == nil {
		t.Error("a line without calls=: no error")
	}
	stats, err := CommandStats(info)
	if diff := cmp.Diff(map[string]int64{"get": 10, "cluster|nodes": 32, "info": 3}, stats); err != nil || diff != "" {
		t.Errorf("stats (-want +got):\n%s %v", diff, err)
	}
}
