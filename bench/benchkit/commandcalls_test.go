package benchkit

import "testing"

func TestCommandCallsExcept(t *testing.T) {
	info := "# Commandstats\r\ncmdstat_ping:calls=7,usec=1,usec_per_call=0.1\r\ncmdstat_replconf:calls=100,usec=5\r\n" +
		"cmdstat_cluster|nodes:calls=3,usec=9\r\ncmdstat_info:calls=2,usec=9\r\n"
	for _, tc := range []struct {
		except []string
		want   int64
	}{{nil, 112}, {[]string{"replconf", "psync", "sync"}, 12}, {[]string{"cluster"}, 109}} {
		got, err := CommandCalls(info, tc.except...)
		if err != nil || got != tc.want {
			t.Errorf("CommandCalls(except %v) = %d, %v; want %d", tc.except, got, err, tc.want)
		}
	}
	if _, err := CommandCalls("cmdstat_get:usec=1\n"); err == nil {
		t.Error("a line without calls= was accepted")
	}
}
