package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/dayops/dayops/internal/apiv1"
)

func TestProgressPicksBarOnlyOnTerminal(t *testing.T) {
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptm.Close()
	defer tty.Close()
	file, err := os.Create(t.TempDir() + "/log")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, tc := range []struct {
		name string
		w    io.Writer
		bar  bool
	}{{"terminal", tty, true}, {"file", file, false}, {"buffer", &bytes.Buffer{}, false}} {
		_, isBar := newProgress(tc.w).(*barProgress)
		if isBar != tc.bar {
			t.Errorf("%s: bar %v, want %v", tc.name, isBar, tc.bar)
		}
	}

	// On the terminal, the bar redraws in place.
	read := make(chan string)
	go func() {
		var b bytes.Buffer
		buf := make([]byte, 4096)
		for !strings.Contains(b.String(), "(3/4)") { // 4/4 finishes the bar, which then clears itself
			n, err := ptm.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		read <- b.String()
	}()
	p := newProgress(tty)
	for i := int64(1); i <= 4; i++ {
		p.Update("migrating", "", i, 4)
	}
	select {
	case got := <-read:
		if !strings.Contains(got, "\r") {
			t.Errorf("terminal output has no carriage return: %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no bar drawn on the terminal")
	}
	p.Finish()
}

func TestLineProgress(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b)
	steps := []struct {
		step, detail string
		done, total  int64
	}{
		{"creating-instances", "", 0, 5},
		{"creating-instances", "", 0, 5}, // no change: no line
		{"creating-instances", "", 1, 5},
		{"migrating slots", "10 keys/s", 0, 1000},
		{"migrating slots", "12 keys/s", 10, 1000}, // same twentieth: no line
		{"migrating slots", "15 keys/s", 60, 1000},
		{"migrating slots", "9 keys/s", 1000, 1000},
		{"done", "", 5, 5},
	}
	for _, s := range steps {
		p.Update(s.step, s.detail, s.done, s.total)
	}
	p.Finish()
	out := b.String()
	if strings.ContainsAny(out, "\r\x1b") {
		t.Errorf("plain output holds carriage returns or escapes: %q", out)
	}
	want := "[0/5] creating-instances\n[1/5] creating-instances\n[0/1000] migrating slots 10 keys/s\n[60/1000] migrating slots 15 keys/s\n[1000/1000] migrating slots 9 keys/s\n[5/5] done\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

// TestWaitPrintsPlainLines follows an operation (op watch / --wait) whose
// status is scripted by an HTTP handler, writing to a buffer: one line per
// step, no carriage return, then the final status.
func TestWaitPrintsPlainLines(t *testing.T) {
	pollInterval = time.Millisecond
	t.Cleanup(func() { pollInterval = time.Second })
	var mu sync.Mutex
	polls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		polls++
		done := min(polls/3, 4) // every state is seen about three times
		op := apiv1.Operation{OperationID: "op-1", Type: "scale-shards", Status: apiv1.StatusRunning,
			Progress: apiv1.Progress{Phase: "migrating", Step: "step", StepsDone: done, StepsTotal: 4}}
		if done == 4 {
			op.Status, op.Progress.Outcome = apiv1.StatusCompleted, apiv1.OutcomeSucceeded
		}
		_ = json.NewEncoder(w).Encode(op)
	}))
	defer srv.Close()
	var status, out bytes.Buffer
	if err := watch(t.Context(), &Client{Base: srv.URL, HTTP: srv.Client()}, "op-1", "table", &status, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(status.String(), "\r") {
		t.Errorf("status has carriage returns: %q", status.String())
	}
	lines := strings.Split(strings.TrimSpace(status.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "[0/4] migrating") || !strings.HasPrefix(lines[4], "[4/4] migrating") {
		t.Errorf("status lines:\n%s\nwant [0/4] … [4/4], one each", status.String())
	}
	if !strings.Contains(out.String(), "Completed") {
		t.Errorf("final status: %s", out.String())
	}
}
