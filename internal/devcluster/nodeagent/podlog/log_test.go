package podlog

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/testutil/syncbuf"
	"github.com/google/go-cmp/cmp"
)

func TestContainerLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	l, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	l.CopyFrom("stdout", strings.NewReader("one\ntwo\nthree\npartial"))
	l.CopyFrom("stderr", strings.NewReader("err line\n"))
	l.Close()

	tests := map[string]struct {
		opts Options
		want string
	}{
		"all":          {Options{TailLines: -1}, "one\ntwo\nthree\npartialerr line\n"},
		"tail 2":       {Options{TailLines: 2}, "partialerr line\n"},
		"tail 0":       {Options{TailLines: 0}, ""},
		"limit bytes":  {Options{TailLines: -1, LimitBytes: 6}, "one\ntw"},
		"since future": {Options{TailLines: -1, Since: time.Now().Add(time.Hour)}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Serve(context.Background(), path, l.Closed(), tc.opts, &b, nil); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("timestamps", func(t *testing.T) {
		var b bytes.Buffer
		if err := Serve(context.Background(), path, l.Closed(), Options{TailLines: 1, Timestamps: true}, &b, nil); err != nil {
			t.Fatal(err)
		}
		ts, rest, _ := strings.Cut(b.String(), " ")
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || rest != "err line\n" {
			t.Errorf("got %q", b.String())
		}
	})
}

func TestContainerLogFollow(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	l, err := Open(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go l.CopyFrom("stdout", pr)
	_, _ = io.WriteString(pw, "before\n")
	out := &syncbuf.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- Serve(context.Background(), path, l.Closed(), Options{TailLines: -1, Follow: true}, out, nil)
	}()
	_, _ = io.WriteString(pw, "after\n")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "after\n") {
		if time.Now().After(deadline) {
			t.Fatalf("follow did not deliver the new line: %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	pw.Close()
	// Let the copier drain before closing, as the process wait does.
	for !strings.Contains(readAll(t, path), "after") {
		time.Sleep(10 * time.Millisecond)
	}
	l.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end when the run's log closed")
	}
	if diff := cmp.Diff("before\nafter\n", out.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func readAll(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
