package audit_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/audit"
	"github.com/google/go-cmp/cmp"
)

func TestRedact(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"password":         {`{"name":"a","password":"hunter2"}`, `{"name":"a","password":"[REDACTED]"}`},
		"nested and list":  {`{"hooks":[{"headers":{"Authorization":"Bearer x"},"apiToken":"t"}]}`, `{"hooks":[{"apiToken":"[REDACTED]","headers":{"Authorization":"[REDACTED]"}}]}`},
		"secret name kept": {`{"passwordSecret":"orders-pw","clientSecret":"s"}`, `{"clientSecret":"[REDACTED]","passwordSecret":"orders-pw"}`},
		"url credentials":  {`{"url":"https://u:p@h.example/x?token=t&a=b"}`, `{"url":"https://u:REDACTED@h.example/x?a=b\u0026token=REDACTED"}`},
		"plain url kept":   {`{"url":"https://h.example/x?a=b"}`, `{"url":"https://h.example/x?a=b"}`},
		"numbers kept":     {`{"shards":3,"ratio":0.25}`, `{"ratio":0.25,"shards":3}`},
		"empty":            {``, ``},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, string(audit.Redact([]byte(tc.in)))); diff != "" {
				t.Errorf("Redact(%s) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
	if got := string(audit.Redact([]byte("password=hunter2"))); strings.Contains(got, "hunter2") || !strings.Contains(got, "sha256") {
		t.Errorf("non-JSON input: %s, want a digest", got)
	}
}

func TestRequestParamsBounded(t *testing.T) {
	big := `{"reason":"` + strings.Repeat("x", 70<<10) + `"}`
	got := string(audit.RequestParams(url.Values{"dryRun": {"true"}}, []byte(big)))
	if len(got) > audit.MaxParamsBytes || !strings.Contains(got, `"omitted":true`) {
		t.Errorf("70 KiB params recorded as %d bytes: %.200s", len(got), got)
	}
	got = string(audit.RequestParams(url.Values{"namespace": {"a"}}, []byte(`{"token":"t"}`)))
	if want := `{"body":{"token":"[REDACTED]"},"query":{"namespace":"a"}}`; got != want {
		t.Errorf("params %s, want %s", got, want)
	}
}
