package chaosbench

import (
	"strings"
	"testing"
	"time"
)

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	err := WriteTable(&b, []Figure{
		{Scenario: "force-delete a primary Pod", Promoted: 1500 * time.Millisecond, Service: 1800 * time.Millisecond,
			ServiceAfterPromotion: 300 * time.Millisecond, Redundancy: 20 * time.Second, Gap: 2 * time.Second, Acked: 100, KeysBefore: 20000},
		{Scenario: "delete a replica Pod and its PVC", Redundancy: 30 * time.Second, AckedLost: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want a header and 2 rows:\n%s", b.String())
	}
	for _, want := range []string{"1.50", "0.30", "1.80", "20.00", "0 of 20000"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row 1 lacks %q: %s", want, lines[1])
		}
	}
	if f := strings.Fields(lines[2]); !strings.Contains(lines[2], "30.00") || !strings.HasSuffix(lines[2], "-") || len(f) < 10 {
		t.Errorf("row 2: %s", lines[2])
	}
}

// A primary with only open slots (a slotless primary's load-time imports,
// stray-primary) owns none: the promotion watch must not take it for a
// promoted replica.
func TestOwnsSlots(t *testing.T) {
	const other = "b000000000000000000000000000000000000000 10.0.0.2:6379@16379 master - 0 1 2 connected 0-8191\n"
	for _, c := range []struct {
		myself string
		want   bool
	}{
		{"a000000000000000000000000000000000000000 10.0.0.1:6379@16379 myself,master - 0 0 3 connected 8192-16383", true},
		{"a000000000000000000000000000000000000000 10.0.0.1:6379@16379 myself,master - 0 0 3 connected 5 [7-<-b000000000000000000000000000000000000000]", true},
		{"a000000000000000000000000000000000000000 10.0.0.1:6379@16379 myself,master - 0 0 3 connected [7-<-b000000000000000000000000000000000000000] [9-<-b000000000000000000000000000000000000000]", false},
		{"a000000000000000000000000000000000000000 10.0.0.1:6379@16379 myself,master - 0 0 3 connected", false},
		{"a000000000000000000000000000000000000000 10.0.0.1:6379@16379 myself,slave b000000000000000000000000000000000000000 0 0 3 connected", false},
	} {
		if got := ownsSlots(other+c.myself+"\n", "a000000000000000000000000000000000000000"); got != c.want {
			t.Errorf("ownsSlots(%q) = %v, want %v", c.myself, got, c.want)
		}
	}
	// Another node at the replica's address (a Pod recreated there).
	mine := "a000000000000000000000000000000000000000 10.0.0.1:6379@16379 myself,master - 0 0 3 connected 8192-16383\n"
	if ownsSlots(other+mine, "c000000000000000000000000000000000000000") {
		t.Error("another node at the address taken for the promoted replica")
	}
}
