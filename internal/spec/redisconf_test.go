package spec

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestConfigAllowlist(t *testing.T) {
	tests := map[string]struct {
		key, value string
		// want is "" for accepted, else a fragment of the error's field and
		// message.
		want string
	}{
		"policy":                {"maxmemory-policy", "allkeys-lfu", ""},
		"bad policy":            {"maxmemory-policy", "bogus", "config[maxmemory-policy]: Invalid value: \"bogus\": must be one of"},
		"hz":                    {"hz", "100", ""},
		"hz too high":           {"hz", "501", "must be between 1 and 500"},
		"hz leading zero":       {"hz", "010", "decimal integer"},
		"hz with space":         {"hz", "10 20", "single value"},
		"size with unit":        {"repl-backlog-size", "64mb", ""},
		"size upper unit":       {"repl-backlog-size", "1GB", ""},
		"size bogus unit":       {"repl-backlog-size", "1tb", "size in bytes"},
		"size below min":        {"client-query-buffer-limit", "1k", "between 1048576"},
		"bool":                  {"lazyfree-lazy-eviction", "yes", ""},
		"bool bad":              {"lazyfree-lazy-eviction", "true", "yes or no"},
		"activedefrag yes":      {"activedefrag", "yes", "jemalloc"},
		"activedefrag no":       {"activedefrag", "no", ""},
		"events":                {"notify-keyspace-events", "KEA", ""},
		"events bad":            {"notify-keyspace-events", "KEQ", "letters"},
		"output buffer":         {"client-output-buffer-limit", "replica 256mb 64mb 60 pubsub 32mb 8mb 60", ""},
		"output buffer twice":   {"client-output-buffer-limit", "pubsub 1mb 1mb 1 pubsub 1mb 1mb 1", "twice"},
		"output buffer spaces":  {"client-output-buffer-limit", "pubsub  1mb 1mb 1", "single spaces"},
		"output buffer class":   {"client-output-buffer-limit", "master 1mb 1mb 1", "class"},
		"percentiles":           {"latency-tracking-info-percentiles", "50 99 99.9", ""},
		"percentiles nan":       {"latency-tracking-info-percentiles", "NaN", "percentiles"},
		"percentiles exp":       {"latency-tracking-info-percentiles", "1e2", "percentiles"},
		"empty value":           {"hz", "", "must not be empty"},
		"quoted value":          {"maxmemory-policy", `"noeviction"`, "quotes"},
		"value newline":         {"hz", "10\ndir /tmp", "control characters"},
		"value cr":              {"hz", "10\r", "control characters"},
		"value backslash":       {"notify-keyspace-events", `\x41`, "backslashes"},
		"value unicode":         {"maxmemory-policy", "noevictión", "ASCII"},
		"quoted key":            {`"dir"`, "/tmp", "quotes"},
		"key control char":      {"dir\x00", "/tmp", "control characters"},
		"key trailing cr":       {"dbfilename\r", "x.rdb", "control characters"},
		"key with space":        {"dir x", "/tmp", "lowercase"},
		"key upper case":        {"DIR", "/tmp", "lowercase"},
		"key leading space":     {" dir", "/tmp", "lowercase"},
		"key empty":             {"", "x", "lowercase"},
		"dir":                   {"dir", "/tmp", "managed by dayops"},
		"dbfilename":            {"dbfilename", "x.rdb", "managed by dayops"},
		"user":                  {"user", "default on nopass ~* +@all", "managed by dayops"},
		"rename-command":        {"rename-command", "FLUSHALL x", "managed by dayops"},
		"loadmodule":            {"loadmodule", "/tmp/x.so", "managed by dayops"},
		"include":               {"include", "/tmp/x.conf", "managed by dayops"},
		"requirepass":           {"requirepass", "x", "passwordSecret"},
		"port":                  {"port", "7000", "managed by dayops"},
		"cluster-enabled":       {"cluster-enabled", "no", "cluster-* directives are managed"},
		"cluster-announce-ip":   {"cluster-announce-ip", "1.2.3.4", "cluster-* directives are managed"},
		"cluster-node-timeout":  {"cluster-node-timeout", "15000", ""},
		"tls":                   {"tls-cert-file", "/x", "tls-*"},
		"unknown":               {"no-such-directive", "1", "Unsupported value"},
		"old alias":             {"hash-max-ziplist-entries", "1", "Unsupported value"},
		"maxmemory in config":   {"maxmemory", "1gb", "resources.maxMemory"},
		"enable-debug-command":  {"enable-debug-command", "yes", "managed by dayops"},
		"min replicas to write": {"min-replicas-to-write", "1", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := valid()
			c.Config = map[string]string{tc.key: tc.value}
			c.Default()
			errs := c.Validate(DefaultLimits)
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatalf("refused: %v", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("want one error containing %q, got %v", tc.want, errs)
			}
			if !strings.HasPrefix(errs[0].Field, "config[") || !strings.Contains(errs[0].Error(), tc.want) {
				t.Fatalf("error %q does not name config[...] and %q", errs[0].Error(), tc.want)
			}
		})
	}
}

func TestSampleConfigAccepted(t *testing.T) {
	c := valid()
	c.Config = SampleConfig()
	c.Default()
	if errs := c.Validate(DefaultLimits); len(errs) > 0 {
		t.Fatalf("the sample config is refused: %v", errs)
	}
	low, high := BoundaryConfigs()
	for _, cfg := range []map[string]string{low, high} {
		c.Config = cfg
		if errs := c.Validate(DefaultLimits); len(errs) > 0 {
			t.Fatalf("a boundary config is refused: %v", errs)
		}
	}
}

func TestUpgradeConfigChange(t *testing.T) {
	u := Upgrade{Config: map[string]string{"hz": "", "dir": "", "maxmemory-policy": "bogus"}}
	u.Default()
	got := map[string]bool{}
	for _, e := range u.Validate() {
		got[e.Field] = true
	}
	if !got["config[dir]"] || !got["config[maxmemory-policy]"] || got["config[hz]"] {
		t.Fatalf("want config[dir] and config[maxmemory-policy] refused, hz removal accepted; got %v", u.Validate())
	}
}

func TestBounds(t *testing.T) {
	d := func(s string) Duration { v, _ := time.ParseDuration(s); return Duration{v} }
	tests := map[string]struct {
		errs field.ErrorList
		want string
	}{
		"reason ok":             {ValidateReason(field.NewPath("reason"), "rotating\tnodes\nfor maintenance"), ""},
		"reason 1 KiB":          {ValidateReason(field.NewPath("reason"), strings.Repeat("a", 1024)), ""},
		"reason too long":       {ValidateReason(field.NewPath("reason"), strings.Repeat("a", 1025)), "reason: Too long"},
		"reason control":        {ValidateReason(field.NewPath("reason"), "a\x1b[2J"), "control"},
		"reason not utf8":       {ValidateReason(field.NewPath("reason"), "\xff"), "UTF-8"},
		"image ok":              {ValidateImage(field.NewPath("image"), "redis:7.2"), ""},
		"image digest":          {ValidateImage(field.NewPath("image"), "registry.example.com:5000/team/redis@sha256:"+strings.Repeat("a", 64)), ""},
		"image upper":           {ValidateImage(field.NewPath("image"), "Redis:7"), "image: Invalid value"},
		"image spaces":          {ValidateImage(field.NewPath("image"), "redis 7"), "image: Invalid value"},
		"image bad tag":         {ValidateImage(field.NewPath("image"), "redis:"), "image: Invalid value"},
		"cron ok":               {ValidateCron(field.NewPath("cron"), "0 3 * * *"), ""},
		"cron descriptor":       {ValidateCron(field.NewPath("cron"), "@daily"), ""},
		"cron bad":              {ValidateCron(field.NewPath("cron"), "61 3 * * *"), "cron: Invalid value"},
		"cron words":            {ValidateCron(field.NewPath("cron"), "every day"), "cron: Invalid value"},
		"namespace bad":         {ValidateNamespace(field.NewPath("namespace"), "Bad_NS"), "namespace: Invalid value"},
		"backup id ok":          {ValidateBackupID(field.NewPath("id"), "0190f1c2-7a1b-7c3d-8e4f-123456789abc"), ""},
		"backup id traversal":   {ValidateBackupID(field.NewPath("id"), "../etc"), "id: Invalid value"},
		"backup id braces uuid": {ValidateBackupID(field.NewPath("id"), "{0190f1c2-7a1b-7c3d-8e4f-123456789abc}"), "id: Invalid value"},
		"gate interval 1ms": {func() field.ErrorList {
			u := Upgrade{Image: "redis:7.2", Bake: d("24h"), Gate: Gate{Interval: d("1ms")}}
			u.Default()
			return u.Validate()
		}(), "gate.interval: Invalid value: \"1ms\": must be between 5s"},
		"24h bake every 5s (continues as new)": {func() field.ErrorList {
			u := Upgrade{Image: "redis:7.2", Bake: d("24h"), Gate: Gate{Interval: d("5s")}}
			u.Default()
			return u.Validate()
		}(), ""},
		"bake over 24h": {func() field.ErrorList {
			u := Upgrade{Image: "redis:7.2", Bake: d("25h")}
			u.Default()
			return u.Validate()
		}(), "bake: Invalid value: \"25h0m0s\": must be between 0s and 24h0m0s"},
		"approval timeout 30s": {func() field.ErrorList {
			u := Upgrade{Image: "redis:7.2", ApprovalTimeout: d("30s")}
			u.Default()
			return u.Validate()
		}(), "approvalTimeout: Invalid value: \"30s\": must be between 1m0s"},
		"approval timeout 31 days": {func() field.ErrorList {
			u := Upgrade{Image: "redis:7.2", ApprovalTimeout: d("744h")}
			u.Default()
			return u.Validate()
		}(), "approvalTimeout: Invalid value"},
		"approval timeout default": {func() field.ErrorList {
			u := Upgrade{Image: "redis:7.2"}
			u.Default()
			if u.ApprovalTimeout.Duration != DefaultApprovalTimeout {
				return field.ErrorList{field.Invalid(field.NewPath("approvalTimeout"), u.ApprovalTimeout.String(), "not defaulted")}
			}
			return u.Validate()
		}(), ""},
		"long bake long interval": {func() field.ErrorList {
			u := Upgrade{Image: "redis:7.2", Bake: d("24h"), Gate: Gate{Interval: d("3m")}}
			u.Default()
			return u.Validate()
		}(), ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.want == "" {
				if len(tc.errs) > 0 {
					t.Fatalf("refused: %v", tc.errs)
				}
				return
			}
			if len(tc.errs) != 1 || !strings.Contains(tc.errs[0].Error(), tc.want) {
				t.Fatalf("want one error containing %q, got %v", tc.want, tc.errs)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:s3cret@hooks.example.com/x?token=abc&a=1": "https://REDACTED@hooks.example.com/x?a=REDACTED&token=REDACTED",
		"http://127.0.0.1:8080/ok":                              "http://127.0.0.1:8080/ok",
		"http://%zz":                                            "(unparseable URL)",
	} {
		if got := RedactURL(in); got != want || strings.Contains(got, "s3cret") {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
