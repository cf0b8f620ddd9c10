package instance

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RedisConfig is what the manager needs to know of redis-server's
// configuration, read from its arguments the way redis-server reads them: an
// optional config file first, then "--name value..." directives that win
// over the file's.
type RedisConfig struct {
	Port        int
	Bind        string // first bind address ("" means 127.0.0.1)
	Dir         string
	NodesConf   string // cluster-config-file, absolute
	AppendOnly  bool
	AppendDir   string // appenddirname, absolute
	AppendFile  string // appendfilename
	DBFile      string // dbfilename, absolute
	Requirepass string
	Masterauth  string
}

// Addr is where the manager reaches its own redis-server.
func (c RedisConfig) Addr() string {
	host := c.Bind
	if host == "" || host == "*" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	host = strings.TrimPrefix(host, "-")
	return net.JoinHostPort(host, strconv.Itoa(c.Port))
}

// ParseRedisArgs reads the configuration from redis-server's arguments
// (without the program name). base is the directory relative paths start
// from (redis-server's working directory).
func ParseRedisArgs(args []string, base string) (RedisConfig, error) {
	kv := map[string][]string{}
	if len(args) > 0 && !strings.HasPrefix(args[0], "--") {
		b, err := os.ReadFile(args[0])
		if err != nil {
			return RedisConfig{}, fmt.Errorf("read redis config: %w", err)
		}
		parseConf(b, kv)
		args = args[1:]
	}
	var name string
	for _, a := range args {
		if strings.HasPrefix(a, "--") && len(a) > 2 {
			name = strings.ToLower(a[2:])
			kv[name] = nil
			continue
		}
		if name != "" {
			kv[name] = append(kv[name], a)
		}
	}
	get := func(k, def string) string {
		if v, ok := kv[k]; ok && len(v) > 0 {
			return unquote(v[0])
		} else if ok {
			return ""
		}
		return def
	}
	c := RedisConfig{
		Bind:        get("bind", ""),
		Dir:         get("dir", base),
		AppendOnly:  strings.EqualFold(get("appendonly", "no"), "yes"),
		AppendFile:  get("appendfilename", "appendonly.aof"),
		Requirepass: get("requirepass", ""),
		Masterauth:  get("masterauth", ""),
	}
	port, err := strconv.Atoi(get("port", "6379"))
	if err != nil {
		return RedisConfig{}, fmt.Errorf("redis config: port: %w", err)
	}
	c.Port = port
	if !filepath.IsAbs(c.Dir) {
		c.Dir = filepath.Join(base, c.Dir)
	}
	// redis-server chdir's into dir before it opens the cluster config and
	// the AOF, so relative names are relative to dir.
	c.NodesConf = get("cluster-config-file", "nodes.conf")
	if !filepath.IsAbs(c.NodesConf) {
		c.NodesConf = filepath.Join(c.Dir, c.NodesConf)
	}
	c.DBFile = filepath.Join(c.Dir, get("dbfilename", "dump.rdb"))
	c.AppendDir = get("appenddirname", "appendonlydir")
	if !filepath.IsAbs(c.AppendDir) {
		c.AppendDir = filepath.Join(c.Dir, c.AppendDir)
	}
	return c, nil
}

func parseConf(b []byte, kv map[string][]string) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		kv[strings.ToLower(f[0])] = f[1:]
	}
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

// AOFState says what the node's append-only file looked like before
// redis-server started.
type AOFState string

// AOF states.
const (
	AOFOff     AOFState = "off"     // appendonly no
	AOFPresent AOFState = "present" // appendonly yes and an AOF to load
	AOFMissing AOFState = "missing" // appendonly yes but nothing to load
)

// StatAOF looks for the AOF redis-server will load: the multi-part manifest
// of Redis 7, or a single appendonly.aof (Redis 6, or Redis 7's upgrade path).
func StatAOF(c RedisConfig) AOFState {
	if !c.AppendOnly {
		return AOFOff
	}
	for _, p := range []string{filepath.Join(c.AppendDir, c.AppendFile+".manifest"), filepath.Join(c.Dir, c.AppendFile)} {
		if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
			return AOFPresent
		}
	}
	return AOFMissing
}

// LastAOFWrite is when the node last wrote its AOF: the newest mtime of the
// files in the AOF directory (Redis 7's base, incr and manifest files) or
// of a single appendonly.aof; zero when there is none. Read it before
// redis-server starts: a fenced node still writes its AOF (expired keys).
func LastAOFWrite(c RedisConfig) time.Time {
	var last time.Time
	consider := func(p string) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.ModTime().After(last) {
			last = fi.ModTime()
		}
	}
	if entries, err := os.ReadDir(c.AppendDir); err == nil {
		for _, e := range entries {
			consider(filepath.Join(c.AppendDir, e.Name()))
		}
	}
	consider(filepath.Join(c.Dir, c.AppendFile))
	return last
}
