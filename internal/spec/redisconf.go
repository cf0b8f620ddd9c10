package spec

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The redis.conf a user may influence is an allowlist, not a blocklist: a
// blocklist loses to the next directive nobody thought of (`user default on
// nopass` disables the cluster's password, `include` and `loadmodule` run
// what a file says), to case and quoting tricks (`"dir"`, `DIR`, `dir\r`), and
// a value Redis refuses makes the Pod crash-loop while the operation waits.
// So every directive users may set is listed here with a check of its value
// that is never wider than what redis-server 7.0 accepts
// (TestAllowlistBootsRealRedis in internal/activities/kube boots one with the
// bounds), and the renderer writes nothing else.

// directiveKind is the type of a directive's value.
type directiveKind int

const (
	kindBool   directiveKind = iota // yes or no
	kindInt                         // a decimal integer within [min, max]
	kindMemory                      // bytes with an optional unit (b, k, kb, m, mb, g, gb) within [min, max]
	kindEnum                        // one of values
	kindCustom                      // checked by check
)

// directive is one redis.conf directive users may set.
type directive struct {
	kind     directiveKind
	min, max int64
	values   []string
	// check validates a custom value; it returns the reason it is refused.
	check func(v string) string
	// sample is a value the allowlist test boots redis-server with.
	sample string
	// note is why the range or values are what they are, when it is not obvious.
	note string
}

const maxInt32 = math.MaxInt32

func boolean(sample string) directive { return directive{kind: kindBool, sample: sample} }
func integer(lo, hi int64, sample string) directive {
	return directive{kind: kindInt, min: lo, max: hi, sample: sample}
}
func memory(lo, hi int64, sample string) directive {
	return directive{kind: kindMemory, min: lo, max: hi, sample: sample}
}
func enum(sample string, values ...string) directive {
	return directive{kind: kindEnum, values: values, sample: sample}
}

const (
	kib = int64(1) << 10
	mib = int64(1) << 20
	gib = int64(1) << 30
)

// allowedDirectives are the redis.conf directives users may set, with the
// check of their value. Ranges are within redis-server 7.0's own (often
// narrower, to keep values sane); names are the 7.0 ones (the old ziplist and
// slave aliases are not accepted, so one setting has one name).
var allowedDirectives = map[string]directive{
	// Memory and eviction. maxmemory itself comes from resources.maxMemory.
	"maxmemory-policy": enum("allkeys-lru", "volatile-lru", "allkeys-lru", "volatile-lfu", "allkeys-lfu",
		"volatile-random", "allkeys-random", "volatile-ttl", "noeviction"),
	"maxmemory-samples":           integer(1, 64, "5"),
	"maxmemory-eviction-tenacity": integer(0, 100, "10"),
	"lfu-log-factor":              integer(0, 255, "10"),
	"lfu-decay-time":              integer(0, 10080, "1"),
	"active-expire-effort":        integer(1, 10, "1"),
	"lazyfree-lazy-eviction":      boolean("yes"),
	"lazyfree-lazy-expire":        boolean("yes"),
	"lazyfree-lazy-server-del":    boolean("yes"),
	"lazyfree-lazy-user-del":      boolean("yes"),
	"lazyfree-lazy-user-flush":    boolean("yes"),
	"replica-lazy-flush":          boolean("yes"),
	"activedefrag": {kind: kindEnum, values: []string{"no"}, sample: "no",
		note: "only no: redis-server builds without Redis' own jemalloc (e.g. Debian's 7.0.15) refuse to start with activedefrag yes"},
	"active-defrag-ignore-bytes":        memory(1, 64*gib, "100mb"),
	"active-defrag-threshold-lower":     integer(0, 1000, "10"),
	"active-defrag-threshold-upper":     integer(0, 1000, "100"),
	"active-defrag-cycle-min":           integer(1, 99, "1"),
	"active-defrag-cycle-max":           integer(1, 99, "25"),
	"active-defrag-max-scan-fields":     integer(1, 1<<31-1, "1000"),
	"jemalloc-bg-thread":                boolean("yes"),
	"activerehashing":                   boolean("yes"),
	"hz":                                integer(1, 500, "10"),
	"dynamic-hz":                        boolean("yes"),
	"hash-max-listpack-entries":         integer(0, 1<<20, "128"),
	"hash-max-listpack-value":           integer(0, 1<<20, "64"),
	"list-max-listpack-size":            integer(-5, 1<<20, "-2"),
	"list-compress-depth":               integer(0, 1<<20, "0"),
	"set-max-intset-entries":            integer(0, 1<<20, "512"),
	"zset-max-listpack-entries":         integer(0, 1<<20, "128"),
	"zset-max-listpack-value":           integer(0, 1<<20, "64"),
	"hll-sparse-max-bytes":              memory(0, 16*kib, "3000"),
	"stream-node-max-bytes":             memory(0, 1*gib, "4kb"),
	"stream-node-max-entries":           integer(0, 1<<20, "100"),
	"tracking-table-max-keys":           integer(0, 1<<40, "1000000"),
	"busy-reply-threshold":              integer(0, 1<<40, "5000"),
	"notify-keyspace-events":            {kind: kindCustom, check: checkKeyspaceEvents, sample: "Ex"},
	"client-output-buffer-limit":        {kind: kindCustom, check: checkOutputBufferLimit, sample: "pubsub 32mb 8mb 60"},
	"client-query-buffer-limit":         memory(1*mib, 4*gib, "1gb"),
	"proto-max-bulk-len":                memory(1*mib, 4*gib, "512mb"),
	"maxclients":                        integer(1, 100000, "10000"),
	"timeout":                           integer(0, maxInt32, "0"),
	"tcp-keepalive":                     integer(0, maxInt32, "300"),
	"io-threads":                        integer(1, 128, "1"),
	"io-threads-do-reads":               boolean("no"),
	"loglevel":                          enum("notice", "debug", "verbose", "notice", "warning"),
	"slowlog-log-slower-than":           integer(-1, 1<<40, "10000"),
	"slowlog-max-len":                   integer(0, 1<<20, "128"),
	"latency-monitor-threshold":         integer(0, 1<<40, "0"),
	"latency-tracking":                  boolean("yes"),
	"latency-tracking-info-percentiles": {kind: kindCustom, check: checkPercentiles, sample: "50 99 99.9"},
	"shutdown-timeout":                  integer(0, 3600, "10"),
	"oom-score-adj":                     enum("no", "no", "yes", "relative", "absolute"),

	// Replication and persistence tuning (the mode itself is spec.persistence).
	"repl-backlog-size":               memory(1, 64*gib, "1mb"),
	"repl-backlog-ttl":                integer(0, maxInt32, "3600"),
	"repl-timeout":                    integer(1, maxInt32, "60"),
	"repl-ping-replica-period":        integer(1, maxInt32, "10"),
	"repl-diskless-sync":              boolean("yes"),
	"repl-diskless-sync-delay":        integer(0, maxInt32, "5"),
	"repl-diskless-sync-max-replicas": integer(0, maxInt32, "0"),
	"repl-diskless-load":              enum("disabled", "disabled", "on-empty-db", "swapdb"),
	"repl-disable-tcp-nodelay":        boolean("no"),
	"min-replicas-to-write":           integer(0, maxInt32, "0"),
	"min-replicas-max-lag":            integer(0, maxInt32, "10"),
	"appendfsync":                     enum("everysec", "always", "everysec", "no"),
	"no-appendfsync-on-rewrite":       boolean("no"),
	"auto-aof-rewrite-percentage":     integer(0, maxInt32, "100"),
	"auto-aof-rewrite-min-size":       memory(0, 64*gib, "64mb"),
	"aof-use-rdb-preamble":            boolean("yes"),
	"aof-timestamp-enabled":           boolean("no"),
	"aof-load-truncated":              boolean("yes"),
	"aof-rewrite-incremental-fsync":   boolean("yes"),
	"rdb-save-incremental-fsync":      boolean("yes"),
	"rdbcompression":                  boolean("yes"),
	"rdbchecksum":                     boolean("yes"),
	"stop-writes-on-bgsave-error":     boolean("yes"),

	// Cluster bus tuning. Every other cluster-* directive is dayops'.
	"cluster-node-timeout":                integer(500, 600000, "5000"),
	"cluster-replica-validity-factor":     integer(0, 1000, "10"),
	"cluster-allow-reads-when-down":       boolean("no"),
	"cluster-allow-pubsubshard-when-down": boolean("yes"),
	"cluster-link-sendbuf-limit":          memory(0, 4*gib, "0"),
}

// managedDirectiveNames are refused by name, with the reason: dayops sets
// them itself, or they would hand a user what only dayops or the platform
// may do (files, ports, users, modules, commands).
var managedDirectiveNames = map[string]string{
	"port":                     "dayops sets the port",
	"tls-port":                 "dayops sets the ports",
	"bind":                     "dayops binds to the Pod's IP",
	"bind-source-addr":         "dayops sets the addresses",
	"protected-mode":           "dayops sets protected-mode",
	"unixsocket":               "dayops sets the listeners",
	"unixsocketperm":           "dayops sets the listeners",
	"dir":                      "dayops sets the data directory",
	"dbfilename":               "dayops names the data files",
	"appendfilename":           "dayops names the data files",
	"appenddirname":            "dayops names the data files",
	"logfile":                  "dayops logs to standard output",
	"pidfile":                  "dayops runs redis-server in the foreground",
	"daemonize":                "dayops runs redis-server in the foreground",
	"supervised":               "dayops runs redis-server in the foreground",
	"include":                  "a file include would bypass this allowlist",
	"loadmodule":               "modules run arbitrary code in redis-server",
	"enable-module-command":    "modules run arbitrary code in redis-server",
	"enable-debug-command":     "DEBUG can crash or corrupt an instance",
	"enable-protected-configs": "protected configs are files and paths",
	"rename-command":           "dayops and its hooks need the commands by their names",
	"user":                     "ACL users would bypass the cluster's password",
	"aclfile":                  "ACL users would bypass the cluster's password",
	"acl-pubsub-default":       "ACL settings are dayops'",
	"requirepass":              "use passwordSecret: dayops sets the password",
	"masterauth":               "use passwordSecret: dayops sets the password",
	"masteruser":               "dayops sets replication authentication",
	"replicaof":                "dayops attaches replicas",
	"slaveof":                  "dayops attaches replicas",
	"replica-announce-ip":      "dayops sets the announced addresses",
	"replica-announce-port":    "dayops sets the announced addresses",
	"replica-read-only":        "dayops relies on read-only replicas",
	"replica-priority":         "dayops chooses which replica is promoted",
	"replica-serve-stale-data": "dayops relies on Redis' default",
	"appendonly":               "use persistence.mode",
	"save":                     "use persistence.mode",
	"maxmemory":                "use resources.maxMemory",
	"databases":                "Redis Cluster has one database",
}

// userConfigKey is what a directive name must look like: lowercase letters,
// digits and dashes (redis.conf names are case-insensitive, so one spelling).
var userConfigKey = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)

// AllowedConfigDirectives lists the directives users may set, sorted.
func AllowedConfigDirectives() []string { return slices.Sorted(maps.Keys(allowedDirectives)) }

// ConfigDirectiveAllowed reports whether users may set the directive name.
func ConfigDirectiveAllowed(name string) bool {
	_, ok := allowedDirectives[name]
	return ok
}

// SampleConfig is every allowed directive at a value redis-server accepts;
// tests boot redis-server with it.
func SampleConfig() map[string]string {
	out := make(map[string]string, len(allowedDirectives))
	for k, d := range allowedDirectives {
		out[k] = d.sample
	}
	return out
}

// BoundaryConfigs are the allowed directives at their lowest and at their
// highest accepted value (integer and size directives only), so a test can
// prove redis-server accepts the bounds.
func BoundaryConfigs() (low, high map[string]string) {
	low, high = map[string]string{}, map[string]string{}
	for k, d := range allowedDirectives {
		if d.kind == kindInt || d.kind == kindMemory {
			low[k], high[k] = strconv.FormatInt(d.min, 10), strconv.FormatInt(d.max, 10)
		}
	}
	return low, high
}

// validateConfigEntry checks one directive and its value; remove is true
// for an upgrade that removes the directive (its value is not checked then).
func validateConfigEntry(p *field.Path, k, v string, remove bool) field.ErrorList {
	if reason := unsafeText(k); reason != "" {
		return field.ErrorList{field.Invalid(p, k, "directive name "+reason)}
	}
	if !userConfigKey.MatchString(k) {
		return field.ErrorList{field.Invalid(p, k, "must be one redis.conf directive name in lowercase (letters, digits, dashes)")}
	}
	if why, ok := managedDirectiveNames[k]; ok {
		return field.ErrorList{field.Forbidden(p, "directive is managed by dayops: "+why)}
	}
	d, ok := allowedDirectives[k]
	if !ok {
		if strings.HasPrefix(k, "cluster-") {
			return field.ErrorList{field.Forbidden(p, "cluster-* directives are managed by dayops (allowed: cluster-node-timeout, cluster-replica-validity-factor, cluster-allow-reads-when-down, cluster-allow-pubsubshard-when-down, cluster-link-sendbuf-limit)")}
		}
		if strings.HasPrefix(k, "tls-") {
			return field.ErrorList{field.Forbidden(p, "tls-* directives are managed by dayops")}
		}
		return field.ErrorList{field.NotSupported(p, k, AllowedConfigDirectives())}
	}
	if remove {
		return nil
	}
	if reason := d.validate(v); reason != "" {
		return field.ErrorList{field.Invalid(p, v, reason)}
	}
	return nil
}

// unsafeText says why s cannot appear in redis.conf as it is: Redis' line
// parser honours quotes and backslash escapes, so a value could smuggle a
// second directive or a path; control characters end lines or hide text.
func unsafeText(s string) string {
	for _, r := range s {
		switch {
		case r == '"' || r == '\'' || r == '\\':
			return "must not contain quotes or backslashes"
		case r == '#':
			return "must not contain #"
		case unicode.IsControl(r) || r == unicode.ReplacementChar:
			return fmt.Sprintf("must not contain control characters (found %q)", r)
		case r > unicode.MaxASCII:
			return "must be ASCII"
		}
	}
	return ""
}

// validate returns why v is refused, or "".
func (d directive) validate(v string) string {
	if v == "" {
		return "must not be empty"
	}
	if reason := unsafeText(v); reason != "" {
		return reason
	}
	if d.kind != kindCustom && strings.ContainsAny(v, " \t") {
		return "must be a single value without spaces"
	}
	switch d.kind {
	case kindBool:
		if v != "yes" && v != "no" {
			return "must be yes or no"
		}
	case kindEnum:
		if !slices.Contains(d.values, v) {
			vs := slices.Clone(d.values)
			slices.Sort(vs)
			vs = slices.Compact(vs)
			if d.note != "" {
				return fmt.Sprintf("must be one of %s (%s)", strings.Join(vs, ", "), d.note)
			}
			return "must be one of " + strings.Join(vs, ", ")
		}
	case kindInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || (len(v) > 1 && (v[0] == '0' || v[0] == '+' || strings.HasPrefix(v, "-0"))) {
			return "must be a decimal integer"
		}
		if n < d.min || n > d.max {
			return fmt.Sprintf("must be between %d and %d", d.min, d.max)
		}
	case kindMemory:
		n, ok := ParseRedisMemory(v)
		if !ok {
			return "must be a size in bytes, optionally with a unit: b, k, kb, m, mb, g, gb (e.g. 64mb)"
		}
		if n < d.min || n > d.max {
			return fmt.Sprintf("must be between %d and %d bytes", d.min, d.max)
		}
	case kindCustom:
		return d.check(v)
	}
	return ""
}

// ParseRedisMemory reads a redis.conf size: decimal digits and an optional
// case-insensitive unit (k=1000, kb=1024, m, mb, g, gb, b).
func ParseRedisMemory(v string) (int64, bool) {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i == 0 || i > 15 || (i > 1 && v[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:i], 10, 64)
	if err != nil {
		return 0, false
	}
	mul := map[string]int64{"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000 * 1000, "mb": 1024 * 1024,
		"g": 1000 * 1000 * 1000, "gb": 1024 * 1024 * 1024}
	m, ok := mul[strings.ToLower(v[i:])]
	if !ok || n > math.MaxInt64/m {
		return 0, false
	}
	return n * m, true
}

// checkKeyspaceEvents accepts the flag letters of notify-keyspace-events in
// Redis 7.0 (an empty value is not accepted: "" would be a quoted string).
func checkKeyspaceEvents(v string) string {
	for _, r := range v {
		if !strings.ContainsRune("KEg$lshzxetmdnA", r) {
			return fmt.Sprintf("must be letters of KEg$lshzxetmdnA (found %q)", r)
		}
	}
	return ""
}

// checkOutputBufferLimit accepts "<class> <hard> <soft> <seconds>" groups,
// single-space separated, class normal, replica or pubsub, each class once.
func checkOutputBufferLimit(v string) string {
	const usage = "must be groups of <class> <hard> <soft> <seconds> separated by single spaces, class one of normal, replica, pubsub"
	f := strings.Split(v, " ")
	if len(f) == 0 || len(f)%4 != 0 || len(f) > 12 {
		return usage
	}
	seen := map[string]bool{}
	for i := 0; i < len(f); i += 4 {
		class := f[i]
		if class != "normal" && class != "replica" && class != "pubsub" {
			return usage
		}
		if seen[class] {
			return "names class " + class + " twice"
		}
		seen[class] = true
		for _, sz := range f[i+1 : i+3] {
			if n, ok := ParseRedisMemory(sz); !ok || n > 64*gib {
				return usage + " (sizes up to 64gb)"
			}
		}
		if n, err := strconv.ParseInt(f[i+3], 10, 64); err != nil || n < 0 || n > maxInt32 || (len(f[i+3]) > 1 && f[i+3][0] == '0') {
			return usage + " (seconds 0 to 2147483647)"
		}
	}
	return ""
}

// percentile is one latency-tracking percentile as Redis reads it, without
// exponents, signs, NaN or Inf that strconv.ParseFloat would also accept.
var percentile = regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,6})?$`)

// checkPercentiles accepts up to 16 single-space separated percentiles in [0, 100].
func checkPercentiles(v string) string {
	const usage = "must be up to 16 percentiles between 0 and 100, separated by single spaces"
	f := strings.Split(v, " ")
	if len(f) > 16 {
		return usage
	}
	for _, s := range f {
		if !percentile.MatchString(s) {
			return usage
		}
		if x, err := strconv.ParseFloat(s, 64); err != nil || x > 100 {
			return usage
		}
	}
	return ""
}

// validateConfig checks the spec's config map: every key allowlisted, every
// value of its type.
func validateConfig(p *field.Path, cfg map[string]string) field.ErrorList {
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		errs = append(errs, validateConfigEntry(p.Key(k), k, cfg[k], false)...)
	}
	return errs
}

// ValidateConfigChange checks an upgrade's config map, where an empty value
// removes the directive.
func ValidateConfigChange(p *field.Path, cfg map[string]string) field.ErrorList {
	var errs field.ErrorList
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		errs = append(errs, validateConfigEntry(p.Key(k), k, cfg[k], cfg[k] == "")...)
	}
	return errs
}
