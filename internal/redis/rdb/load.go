package rdb

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dayops/dayops/internal/backupstore"
	"github.com/redis/go-redis/v9"
)

// ErrChecksum says a stored file's bytes do not match its manifest.
var ErrChecksum = errors.New("checksum mismatch")

// LoadRequest loads one RDB into a standalone redis-server.
type LoadRequest struct {
	// Client reaches the standalone redis-server to load.
	Client *redis.Client
	Store  backupstore.Store
	File   backupstore.ShardFile
	// ListenHost is the address this process serves the file on; empty means
	// the local address the route to the target uses.
	ListenHost string
	OnProgress func(bytes int64)
}

// LoadRDB makes a standalone redis-server load an RDB from the store,
// without exec into its pod and without a copy of the file anywhere but in
// that server: this process serves the file over the replication protocol
// (PSYNC answered with FULLRESYNC and the file as the bulk payload), the
// server is told REPLICAOF this process, loads the file as a replica does,
// and is then made a primary again (REPLICAOF NO ONE keeps the data). The
// bytes are checked against the manifest's SHA-256 as they pass; a mismatch
// aborts the transfer, and the server keeps its old (empty) data set.
//
// A server that is already a primary holding exactly the file's key count is
// taken as loaded (a retry after the load finished).
func LoadRDB(ctx context.Context, req LoadRequest) error {
	c := req.Client
	addr := c.Options().Addr
	if done, err := loaded(ctx, c, req.File.Keys); err != nil || done {
		return err
	}
	host := req.ListenHost
	if host == "" {
		var err error
		if host, err = localAddrTowards(addr); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return fmt.Errorf("serve the RDB: %w", err)
	}
	defer ln.Close()
	token := randomHex(20)
	srv := &rdbServer{store: req.Store, file: req.File, token: token, onProgress: req.OnProgress}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- srv.serve(sctx, ln) }()

	lhost, lport, _ := net.SplitHostPort(ln.Addr().String())
	if err := c.ConfigSet(ctx, "masterauth", token).Err(); err != nil {
		return fmt.Errorf("%s: config set masterauth: %w", addr, err)
	}
	defer func() {
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer ccancel()
		_ = c.Do(cctx, "replicaof", "no", "one").Err()
		_ = c.ConfigSet(cctx, "masterauth", "").Err()
	}()
	if err := c.Do(ctx, "replicaof", lhost, lport).Err(); err != nil {
		return fmt.Errorf("%s: replicaof %s:%s: %w", addr, lhost, lport, err)
	}
	if err := waitLoaded(ctx, req, srv, errc, lhost+":"+lport); err != nil {
		return err
	}
	if err := c.Do(ctx, "replicaof", "no", "one").Err(); err != nil {
		return fmt.Errorf("%s: replicaof no one: %w", addr, err)
	}
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		return fmt.Errorf("%s: dbsize: %w", addr, err)
	}
	if n != req.File.Keys {
		return fmt.Errorf("%s: loaded %s holds %d keys, the manifest says %d", addr, req.File.Key, n, req.File.Keys)
	}
	return nil
}

// waitLoaded waits until the server, told to replicate from (this
// process), has fetched the file and finished loading it; errc reports the
// serving's end.
func waitLoaded(ctx context.Context, req LoadRequest, srv *rdbServer, errc chan error, from string) error {
	c := req.Client
	addr := c.Options().Addr
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	began := time.Now()
	var sentAt time.Time
	// Loading takes about as long as sending; allow a generous margin.
	loadLimit := 2*time.Minute + time.Duration(req.File.Size/(10<<20))*time.Second
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			if err != nil {
				return err
			}
			errc = nil // served; wait for the load to finish
		case <-tick.C:
		}
		if !srv.connected.Load() && time.Since(began) > 2*time.Minute {
			return fmt.Errorf("%s did not connect to %s within 2m to fetch %s (is this worker reachable from the pod? see DAYOPS_BACKUP_SERVE_HOST)",
				addr, from, req.File.Key)
		}
		if !srv.sent.Load() {
			continue
		}
		if sentAt.IsZero() {
			sentAt = time.Now()
		}
		if time.Since(sentAt) > loadLimit {
			return fmt.Errorf("%s has not finished loading %s %s after it was sent", addr, req.File.Key, loadLimit)
		}
		info, err := infoMap(ctx, c, "replication", "persistence")
		if err != nil {
			return err
		}
		if info["master_link_status"] == "up" && info["master_sync_in_progress"] == "0" && info["loading"] == "0" {
			return nil
		}
	}
}

func loaded(ctx context.Context, c *redis.Client, keys int64) (bool, error) {
	info, err := infoMap(ctx, c, "replication")
	if err != nil {
		return false, err
	}
	if info["role"] != "master" || keys == 0 {
		return false, nil
	}
	n, err := c.DBSize(ctx).Result()
	if err != nil {
		return false, err
	}
	return n == keys, nil
}

// localAddrTowards is this host's address on the route to addr.
func localAddrTowards(addr string) (string, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return "", fmt.Errorf("route to %s: %w", addr, err)
	}
	defer c.Close()
	h, _, err := net.SplitHostPort(c.LocalAddr().String())
	return h, err
}

// rdbServer answers one replica's handshake and sends it the file.
type rdbServer struct {
	store      backupstore.Store
	file       backupstore.ShardFile
	token      string
	onProgress func(int64)
	connected  atomic.Bool
	sent       atomic.Bool
}

// serve accepts replicas until one has received the whole file, then keeps
// that connection open (reading its ACKs) until ctx ends.
func (s *rdbServer) serve(ctx context.Context, ln net.Listener) error {
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("serve the RDB: accept: %w", err)
		}
		s.connected.Store(true)
		err = s.handle(ctx, conn)
		if errors.Is(err, ErrChecksum) {
			conn.Close()
			return err
		}
		if err == nil {
			// Keep the link up (and drain ACKs) until the load is seen.
			go func() { <-ctx.Done(); conn.Close() }()
			go func() { _, _ = io.Copy(io.Discard, conn) }()
			return nil
		}
		conn.Close() // the replica reconnects and we serve it again
	}
}

func (s *rdbServer) handle(ctx context.Context, conn net.Conn) error {
	rd := bufio.NewReader(conn)
	authed := false
	for {
		_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
		args, err := readCommand(rd)
		if err != nil {
			return err
		}
		if len(args) == 0 {
			continue
		}
		switch strings.ToUpper(args[0]) {
		case "PING":
			_, err = conn.Write([]byte("+PONG\r\n"))
		case "AUTH":
			if args[len(args)-1] != s.token {
				_, _ = conn.Write([]byte("-WRONGPASS invalid password\r\n"))
				return errors.New("a replica sent the wrong password")
			}
			authed = true
			_, err = conn.Write([]byte("+OK\r\n"))
		case "REPLCONF":
			_, err = conn.Write([]byte("+OK\r\n"))
		case "PSYNC", "SYNC":
			if !authed {
				_, _ = conn.Write([]byte("-NOAUTH Authentication required.\r\n"))
				return errors.New("a replica asked to sync without authenticating")
			}
			_ = conn.SetReadDeadline(time.Time{})
			return s.send(ctx, conn, strings.ToUpper(args[0]) == "PSYNC")
		default:
			_, err = conn.Write([]byte("-ERR unknown command\r\n"))
		}
		if err != nil {
			return err
		}
	}
}

func (s *rdbServer) send(ctx context.Context, conn net.Conn, psync bool) error {
	r, err := s.store.Get(ctx, s.file.Key)
	if err != nil {
		return err
	}
	defer r.Close()
	w := bufio.NewWriterSize(conn, 1<<20)
	if psync {
		fmt.Fprintf(w, "+FULLRESYNC %s 0\r\n", randomHex(20))
	}
	fmt.Fprintf(w, "$%d\r\n", s.file.Size)
	var n atomic.Int64
	hr := &verifyingReader{r: io.LimitReader(r, s.file.Size+1), want: s.file.SHA256, size: s.file.Size, key: s.file.Key}
	if s.onProgress != nil {
		defer everySecond(func() { s.onProgress(n.Load()) })()
	}
	_ = conn.SetWriteDeadline(time.Time{})
	if _, err := io.Copy(w, &countingReader{r: hr, n: &n}); err != nil {
		return err
	}
	if err := hr.check(); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	s.sent.Store(true)
	if s.onProgress != nil {
		s.onProgress(n.Load())
	}
	return nil
}

// verifyingReader hashes what it reads; check compares with the manifest.
type verifyingReader struct {
	r    io.Reader
	h    *hashState
	want string
	size int64
	key  string
	n    int64
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.h == nil {
		v.h = newHashState()
	}
	n, err := v.r.Read(p)
	if n > 0 {
		v.h.Write(p[:n])
		v.n += int64(n)
		if v.n > v.size {
			return n, fmt.Errorf("%s: longer than its manifest size %d: %w", v.key, v.size, ErrChecksum)
		}
	}
	return n, err
}

func (v *verifyingReader) check() error {
	if v.h == nil {
		v.h = newHashState()
	}
	if v.n != v.size {
		return fmt.Errorf("%s: %d bytes, the manifest says %d: %w", v.key, v.n, v.size, ErrChecksum)
	}
	if got := v.h.hex(); got != v.want {
		return fmt.Errorf("%s: sha256 %s, the manifest says %s: %w", v.key, got, v.want, ErrChecksum)
	}
	return nil
}

// readCommand reads one RESP array of bulk strings (or an inline command).
func readCommand(rd *bufio.Reader) ([]string, error) {
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "*") {
		return strings.Fields(line), nil
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 || n > 64 {
		return nil, fmt.Errorf("bad command header %q", line)
	}
	args := make([]string, 0, n)
	for range n {
		h, err := rd.ReadString('\n')
		if err != nil {
			return nil, err
		}
		h = strings.TrimRight(h, "\r\n")
		if !strings.HasPrefix(h, "$") {
			return nil, fmt.Errorf("bad bulk header %q", h)
		}
		l, err := strconv.Atoi(h[1:])
		if err != nil || l < 0 || l > 1<<20 {
			return nil, fmt.Errorf("bad bulk length %q", h)
		}
		b := make([]byte, l+2)
		if _, err := io.ReadFull(rd, b); err != nil {
			return nil, err
		}
		args = append(args, string(b[:l]))
	}
	return args, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
