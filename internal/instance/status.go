package instance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/dayops/dayops/internal/instance/gonenotice"
)

// StatusPath is the instance manager's status endpoint (GET): whether
// redis-server is fenced now and the marker of the last fenced start. The
// guardian reads it from Pods whose redis-server restarted recently and
// records each new marker as a Fenced audit event. It carries no secret
// (offsets, node IDs, the decision), so it needs no password; the one
// thing the endpoint takes, a notice of gone members (gonenotice.Path),
// does.
const StatusPath = "/v1/fence"

// Status is what StatusPath answers.
type Status struct {
	// Fenced: redis-server runs fenced now (nobody can reach it).
	Fenced bool `json:"fenced"`
	// Marker is the last fenced start's record (nil: this data directory
	// has never been fenced).
	Marker *Marker `json:"marker,omitempty"`
	// Gone are the members the recover said are gone with their data
	// (gonenotice) since the manager started: the fence does not wait for
	// them.
	Gone []string `json:"gone,omitempty"`
}

type statusServer struct {
	mu  sync.Mutex
	st  Status
	srv *http.Server
}

// serveStatus listens on addr and answers StatusPath until stop. A listen
// error is returned: the caller logs it and runs redis-server anyway (the
// status is for the audit log, never a reason not to serve).
func serveStatus(addr string, st Status, password string, log *slog.Logger) (*statusServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("status endpoint: %w", err)
	}
	s := &statusServer{st: st}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+gonenotice.Path, func(w http.ResponseWriter, r *http.Request) {
		ids, code, msg := gonenotice.Check(r, password)
		if code != http.StatusOK {
			http.Error(w, msg, code)
			return
		}
		log.Warn("told of shard members gone with their data: the fence does not wait for them", "node_ids", ids)
		s.set(func(st *Status) {
			for _, id := range ids {
				if !slices.Contains(st.Gone, id) {
					st.Gone = append(st.Gone, id)
				}
			}
		})
		s.answer(w, r) // the status, as GET answers it
	})
	mux.HandleFunc("GET "+StatusPath, s.answer)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second,
		WriteTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("status endpoint stopped", "err", err)
		}
	}()
	log.Info("status endpoint listening", "addr", ln.Addr().String(), "path", StatusPath)
	return s, nil
}

func (s *statusServer) answer(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	b, err := json.Marshal(s.st)
	s.mu.Unlock()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

// gone is what gonenotice told the manager (nil without an endpoint).
func (s *statusServer) gone() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.Gone)
}

func (s *statusServer) set(f func(*Status)) {
	if s == nil {
		return
	}
	s.mu.Lock()
	f(&s.st)
	s.mu.Unlock()
}

func (s *statusServer) stop() {
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
}

// FetchStatus asks the instance manager at addr (host:port) for its Status.
func FetchStatus(ctx context.Context, c *http.Client, addr string) (Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+StatusPath, nil)
	if err != nil {
		return Status{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return Status{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Status{}, fmt.Errorf("instance status %s: %s", addr, resp.Status)
	}
	var st Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil {
		return Status{}, fmt.Errorf("instance status %s: %w", addr, err)
	}
	return st, nil
}
