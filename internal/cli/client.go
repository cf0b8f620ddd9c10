// Package cli is dayops' command-line client of the REST API: cluster,
// operation and backup verbs with --wait progress (a bar on a
// terminal, plain lines elsewhere) and --output json. It finds the API and
// its token in DAYOPS_API / DAYOPS_TOKEN, else in the local stack's
// .dayops/dev.env (searched upwards from the working directory).
//
// It shares wire types with the server through package apiv1 only and links
// no Temporal SDK, client-go or pgx. The audit verbs are package
// cli/auditcli, built on this package's Client; their offline mode, which
// reads PostgreSQL, and the database and key verbs (checkpoint, project,
// signer, grant) are package cli/auditdb, reached through the Offline hooks.
package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Client talks to the dayops API.
type Client struct {
	Base  string
	Token string
	HTTP  *http.Client
}

// RequestTimeout bounds one API request. It matches the API server's write
// timeout: admitting a scale-in observes the cluster and measures every key
// of the shards it drains, which takes longer than a minute on a big cluster
// (or a busy machine), and the CLI must not give up on a request the server
// is still answering.
const RequestTimeout = 5 * time.Minute

// FromEnv finds the API and token.
func FromEnv() (*Client, error) {
	c := &Client{Base: os.Getenv("DAYOPS_API"), Token: os.Getenv("DAYOPS_TOKEN"), HTTP: &http.Client{Timeout: RequestTimeout}}
	if c.Base == "" || c.Token == "" {
		env, path := devEnv()
		if c.Base == "" {
			c.Base = env["DAYOPS_API"]
		}
		if c.Token == "" {
			c.Token = env["DAYOPS_TOKEN"]
		}
		if c.Base == "" {
			return nil, errors.New("no API: set DAYOPS_API (or run `make run`, which writes .dayops/dev.env)")
		}
		if c.Token == "" {
			return nil, fmt.Errorf("no token: set DAYOPS_TOKEN (none in %s)", path)
		}
	}
	c.Base = strings.TrimRight(c.Base, "/")
	return c, nil
}

// devEnv reads the nearest .dayops/dev.env above the working directory.
func devEnv() (map[string]string, string) {
	out := map[string]string{}
	dir, err := os.Getwd()
	if err != nil {
		return out, ""
	}
	for {
		p := filepath.Join(dir, ".dayops", "dev.env")
		if f, err := os.Open(p); err == nil {
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
				if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(k, "#") {
					out[k] = strings.Trim(v, `"'`)
				}
			}
			return out, p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return out, ""
		}
		dir = parent
	}
}

// APIError is a problem+json answer.
type APIError struct {
	Status int
	Title  string       `json:"title"`
	Detail string       `json:"detail"`
	Errors []FieldError `json:"errors"`
}

// FieldError names one problem of a request: where and why.
type FieldError struct {
	Location string `json:"location"`
	Message  string `json:"message"`
	Value    any    `json:"value"`
}

func (e *APIError) Error() string {
	var b strings.Builder
	msg := e.Detail
	if msg == "" {
		msg = e.Title
	}
	fmt.Fprintf(&b, "%s (HTTP %d)", msg, e.Status)
	for _, d := range e.Errors {
		loc := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(d.Location, "body."), "query."), "path.")
		fmt.Fprintf(&b, "\n  %s: %s", loc, d.Message)
	}
	return b.String()
}

// ExitCode makes API refusals exit 2 (bad request or conflict), other errors 1.
func (e *APIError) ExitCode() int {
	if e.Status >= 400 && e.Status < 500 {
		return 2
	}
	return 1
}

// Do sends a request and decodes a JSON answer into out.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := c.Base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		e := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || (e.Detail == "" && e.Title == "") {
			e.Detail = strings.TrimSpace(string(data))
		}
		return e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode %s answer: %w", path, err)
		}
	}
	return nil
}
