// Package gonenotice is how the recover tells an instance manager which
// members of its shard are gone with their data.
//
// A former primary that restarts in place runs fenced: it serves only once
// none of its replicas can have been promoted past it, and it waits up to
// --unreachable-timeout (60 s) for one that does not answer. A replica
// whose Pod and volume are gone will never answer and holds nothing to
// protect, and the shard takes no write while its primary waits for it.
// The recover knows the replica is gone (the guardian sees no Pod and no
// volume): it POSTs a Notice to the manager's status endpoint (Path), and
// the fence drops those members from its rules (instance.Observation.Gone)
// and serves at once.
//
// A forged notice could make a stale former primary serve, so it carries
// the cluster's password as a bearer token; a manager of a cluster
// without a password takes none (403).
package gonenotice

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Path is the manager's endpoint (POST, JSON Notice).
const Path = "/v1/fence/gone"

// Notice is Path's request body.
type Notice struct {
	NodeIDs []string `json:"nodeIds"`
}

// Check authenticates and reads a Path request against the cluster's
// password: the node IDs it names, or an HTTP status and a message saying
// why it is refused (code is http.StatusOK when accepted).
func Check(r *http.Request, password string) (ids []string, code int, msg string) {
	if password == "" {
		return nil, http.StatusForbidden, "this instance has no password, so it takes no notice of gone members"
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(password)) != 1 {
		return nil, http.StatusUnauthorized, "Authorization: want Bearer and the cluster's password"
	}
	var n Notice
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&n); err != nil {
		return nil, http.StatusBadRequest, "body: " + err.Error()
	}
	if len(n.NodeIDs) == 0 {
		return nil, http.StatusBadRequest, "nodeIds: empty"
	}
	for _, id := range n.NodeIDs {
		if len(id) != 40 || strings.Trim(id, "0123456789abcdef") != "" {
			return nil, http.StatusBadRequest, fmt.Sprintf("nodeIds: %q is not a node ID (40 lowercase hex digits)", id)
		}
	}
	return n.NodeIDs, http.StatusOK, ""
}

// Tell POSTs a Notice of ids to the manager at addr (host:port) and
// returns its answer's body (the manager's status) when it took it.
func Tell(ctx context.Context, c *http.Client, addr, password string, ids []string) ([]byte, error) {
	body, _ := json.Marshal(Notice{NodeIDs: ids})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+Path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+password)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("notice to %s: %s: %s", addr, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}
