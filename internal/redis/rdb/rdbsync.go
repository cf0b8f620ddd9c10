package rdb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// syncConn is a replication connection that asks a primary for an RDB
// snapshot, as `redis-cli --rdb` does: AUTH, REPLCONF rdb-only (the primary
// then sends the snapshot and no replication stream), SYNC. The primary forks
// when it processes SYNC (disk-based, since we announce no EOF capability),
// and sends "$<length>\r\n" and the file once its child has written it.
type syncConn struct {
	addr string
	conn net.Conn
	rd   *bufio.Reader
}

// dialSync connects and authenticates; SYNC is sent later by start, so that
// everything slow happens before writes are paused.
func dialSync(ctx context.Context, addr, password string) (*syncConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	s := &syncConn{addr: addr, conn: c, rd: bufio.NewReaderSize(c, 1<<20)}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if password != "" {
		if err := s.command("AUTH", password); err != nil {
			return nil, fmt.Errorf("%s: auth: %w", addr, err)
		}
	}
	// Redis 7 knows rdb-only; older servers refuse it and stream as usual.
	_ = s.command("REPLCONF", "rdb-only", "1")
	_ = c.SetDeadline(time.Time{})
	ok = true
	return s, nil
}

// command sends a command and expects a status reply.
func (s *syncConn) command(args ...string) error {
	if _, err := s.conn.Write(encodeCommand(args...)); err != nil {
		return err
	}
	line, err := s.rd.ReadString('\n')
	if err != nil {
		return err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") {
		return errors.New(line[1:])
	}
	return nil
}

// start sends SYNC: the primary forks while handling it.
func (s *syncConn) start() error {
	_, err := s.conn.Write([]byte("SYNC\r\n"))
	return err
}

// header waits for the snapshot's length, skipping the newlines a primary
// sends as keep-alives while its child writes the file.
func (s *syncConn) header(ctx context.Context) (int64, error) {
	stop := context.AfterFunc(ctx, func() { _ = s.conn.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		_ = s.conn.SetReadDeadline(time.Now().Add(2 * time.Minute)) // a primary sends a newline every second while it saves
		line, err := s.rd.ReadString('\n')
		if err != nil {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			return 0, fmt.Errorf("%s: waiting for the snapshot: %w", s.addr, err)
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			continue // keep-alive
		case strings.HasPrefix(line, "-"):
			return 0, fmt.Errorf("%s: SYNC refused: %s", s.addr, line[1:])
		case strings.HasPrefix(line, "$EOF:"):
			return 0, fmt.Errorf("%s: the primary sent a diskless (EOF-marked) snapshot, which was not asked for", s.addr)
		case strings.HasPrefix(line, "$"):
			n, err := strconv.ParseInt(line[1:], 10, 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("%s: bad snapshot header %q", s.addr, line)
			}
			_ = s.conn.SetReadDeadline(time.Time{})
			return n, nil
		default:
			return 0, fmt.Errorf("%s: unexpected reply to SYNC %q", s.addr, line)
		}
	}
}

// body returns a reader of the n snapshot bytes; a read stalled for a minute
// fails.
func (s *syncConn) body(n int64) io.Reader {
	return io.LimitReader(deadlineReader{conn: s.conn, r: s.rd, idle: time.Minute}, n)
}

func (s *syncConn) Close() error { return s.conn.Close() }

type deadlineReader struct {
	conn net.Conn
	r    io.Reader
	idle time.Duration
}

func (d deadlineReader) Read(p []byte) (int, error) {
	_ = d.conn.SetReadDeadline(time.Now().Add(d.idle))
	return d.r.Read(p)
}

func encodeCommand(args ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return []byte(b.String())
}
