// Package podlog writes and serves the node agent's container logs.
package podlog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Container logs are stored the way the kubelet's CRI runtimes store them,
// one line per record: "<RFC3339Nano time> <stdout|stderr> <F|P> <text>",
// P marking a partial line (a line longer than the read buffer). Each run of
// a container writes its own file (<restartCount>.log) in the container's
// directory; the previous run's file is kept for `kubectl logs --previous`,
// older ones are removed. A file that grows past maxLogBytes is rotated to
// <file>.1 (one rotated copy is kept).

const maxLogLine = 16 * 1024

// Log is the writer side of one container run's log.
type Log struct {
	path     string
	maxBytes int64

	mu      sync.Mutex
	f       *os.File
	size    int64
	closed  bool
	closeCh chan struct{}
}

func Open(path string, maxBytes int64) (*Log, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open container log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat container log: %w", err)
	}
	return &Log{path: path, maxBytes: maxBytes, f: f, size: fi.Size(), closeCh: make(chan struct{})}, nil
}

// CopyFrom reads r line by line into the log until r ends.
func (l *Log) CopyFrom(stream string, r io.Reader) {
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			tag := "P"
			if line[len(line)-1] == '\n' {
				tag = "F"
				line = line[:len(line)-1]
			}
			l.write(stream, tag, line)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func (l *Log) write(stream, tag string, line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	var b bytes.Buffer
	b.WriteString(time.Now().UTC().Format(time.RFC3339Nano))
	b.WriteByte(' ')
	b.WriteString(stream)
	b.WriteByte(' ')
	b.WriteString(tag)
	b.WriteByte(' ')
	b.Write(line)
	b.WriteByte('\n')
	if l.maxBytes > 0 && l.size+int64(b.Len()) > l.maxBytes {
		l.rotateLocked()
	}
	n, _ := l.f.Write(b.Bytes())
	l.size += int64(n)
}

func (l *Log) rotateLocked() {
	l.f.Close()
	_ = os.Rename(l.path, l.path+".1")
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		l.closed = true
		close(l.closeCh)
		return
	}
	l.f, l.size = f, 0
}

// Close ends this run's log: followers stop at its end.
func (l *Log) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	l.f.Close()
	close(l.closeCh)
}

// Options are the kubelet's containerLogs query parameters.
type Options struct {
	Follow     bool
	Timestamps bool
	TailLines  int64 // <0: all
	Since      time.Time
	LimitBytes int64 // <=0: no limit
}

type logRecord struct {
	ts     time.Time
	stream string
	full   bool
	text   string
}

func parseLogLine(s string) (logRecord, bool) {
	parts := strings.SplitN(s, " ", 4)
	if len(parts) < 3 {
		return logRecord{}, false
	}
	ts, err := time.Parse(time.RFC3339Nano, parts[0])
	if err != nil {
		return logRecord{}, false
	}
	r := logRecord{ts: ts, stream: parts[1], full: parts[2] == "F"}
	if len(parts) == 4 {
		r.text = parts[3]
	}
	return r, true
}

// limitWriter stops after n bytes.
type limitWriter struct {
	w io.Writer
	n int64
}

var errLimit = errors.New("log byte limit reached")

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errLimit
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
		n, _ := l.w.Write(p)
		l.n -= int64(n)
		return n, errLimit
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	return n, err
}

// Serve writes the records of the log file at path to w. With Follow it
// keeps reading new records until done is closed (the run ended) and the
// file is drained, or ctx ends.
func Serve(ctx context.Context, path string, done <-chan struct{}, opts Options, w io.Writer, flush func()) error {
	if opts.LimitBytes > 0 {
		w = &limitWriter{w: w, n: opts.LimitBytes}
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer f.Close()
	emit := func(r logRecord) error { return writeRecord(w, opts, r) }
	br := bufio.NewReader(f)
	// Initial content: read it whole to apply tailLines.
	records, pending := readRecords(br)
	if opts.TailLines >= 0 && int64(len(records)) > opts.TailLines {
		records = records[int64(len(records))-opts.TailLines:]
	}
	for _, r := range records {
		if err := emit(r); err != nil {
			return ignoreLimit(err)
		}
	}
	if flush != nil {
		flush()
	}
	if !opts.Follow {
		return nil
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		finished := false
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			finished = true
		case <-tick.C:
		}
		for {
			line, err := br.ReadString('\n')
			pending += line
			if err != nil {
				break
			}
			if r, ok := parseLogLine(strings.TrimSuffix(pending, "\n")); ok {
				if err := emit(r); err != nil {
					return ignoreLimit(err)
				}
			}
			pending = ""
		}
		if flush != nil {
			flush()
		}
		if finished {
			return nil
		}
	}
}

// writeRecord writes one record as `kubectl logs` shows it, unless it is
// older than opts.Since.
func writeRecord(w io.Writer, opts Options, r logRecord) error {
	if !opts.Since.IsZero() && r.ts.Before(opts.Since) {
		return nil
	}
	var b strings.Builder
	if opts.Timestamps {
		b.WriteString(r.ts.Format(time.RFC3339Nano))
		b.WriteByte(' ')
	}
	b.WriteString(r.text)
	if r.full {
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// readRecords reads the complete lines of br and returns the records and
// the partial last line.
func readRecords(br *bufio.Reader) (records []logRecord, pending string) {
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return records, line
		}
		if r, ok := parseLogLine(strings.TrimSuffix(line, "\n")); ok {
			records = append(records, r)
		}
	}
}

func ignoreLimit(err error) error {
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

// Closed is closed once the log is closed: its container run has ended.
func (l *Log) Closed() <-chan struct{} { return l.closeCh }
