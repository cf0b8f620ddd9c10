package gonenotice_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/instance/gonenotice"
)

func TestCheck(t *testing.T) {
	id := strings.Repeat("ab", 20)
	for _, tc := range []struct {
		name, password, auth, body string
		code                       int
	}{
		{"the cluster's password", "pw", "Bearer pw", `{"nodeIds":["` + id + `"]}`, http.StatusOK},
		{"no password configured", "", "Bearer ", `{"nodeIds":["` + id + `"]}`, http.StatusForbidden},
		{"wrong password", "pw", "Bearer px", `{"nodeIds":["` + id + `"]}`, http.StatusUnauthorized},
		{"no Authorization", "pw", "", `{"nodeIds":["` + id + `"]}`, http.StatusUnauthorized},
		{"not JSON", "pw", "Bearer pw", `nodeIds`, http.StatusBadRequest},
		{"no IDs", "pw", "Bearer pw", `{"nodeIds":[]}`, http.StatusBadRequest},
		{"not a node ID", "pw", "Bearer pw", `{"nodeIds":["` + strings.ToUpper(id) + `"]}`, http.StatusBadRequest},
	} {
		r := httptest.NewRequest(http.MethodPost, gonenotice.Path, strings.NewReader(tc.body))
		if tc.auth != "" {
			r.Header.Set("Authorization", tc.auth)
		}
		ids, code, msg := gonenotice.Check(r, tc.password)
		if code != tc.code || (code == http.StatusOK) != slices.Equal(ids, []string{id}) || (code != http.StatusOK && msg == "") {
			t.Errorf("%s: %v, %d %q; want %d", tc.name, ids, code, msg, tc.code)
		}
	}
}
