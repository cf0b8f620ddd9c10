package benchkit

import (
	"bufio"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// Linux exports 100 on every architecture Go supports.
const clockTicks = 100

// ProcSample is what the bench reads of the worker process.
type ProcSample struct {
	CPU     time.Duration // user + system time since the process started
	PeakRSS int64         // VmHWM in bytes: the resident set's high-water mark
}

// ReadProc reads /proc/<pid>/stat and /proc/<pid>/status.
func ReadProc(pid int) (ProcSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcSample{}, err
	}
	cpu, err := ParseStatCPU(string(stat))
	if err != nil {
		return ProcSample{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcSample{}, err
	}
	hwm, err := ParseStatusKB(string(status), "VmHWM")
	if err != nil {
		return ProcSample{}, fmt.Errorf("/proc/%d/status: %w", pid, err)
	}
	return ProcSample{CPU: cpu, PeakRSS: hwm * 1024}, nil
}

// ResetPeakRSS resets the process's VmHWM to its current RSS (Linux 4.0+),
// so that the next read gives the peak of one operation.
func ResetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// ParseStatCPU returns utime+stime of a /proc/<pid>/stat line. The command
// name (field 2) is in parentheses and may hold spaces and parentheses, so
// the fields are counted from the last ')'.
func ParseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no ')' after the command name")
	}
	// After ") ": field 3 (state) is index 0, so utime (14) is 11, stime (15) 12.
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("utime/stime %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// ParseStatusKB returns the value in kB of a "Key:   N kB" line of
// /proc/<pid>/status.
func ParseStatusKB(status, key string) (int64, error) {
	sc := bufio.NewScanner(strings.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != key {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%s: %q is not \"N kB\"", key, strings.TrimSpace(v))
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("no %s line", key)
}

// CommandStats returns the calls= of each cmdstat_* line of INFO
// commandstats by command name ("get", "cluster|nodes": Redis 7 counts
// subcommands apart).
func CommandStats(info string) (map[string]int64, error) {
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		name, fields, _ := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		found := false
		for _, kv := range strings.Split(fields, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("%s: calls %q: %w", line, v, err)
				}
				out[name] += n
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("%s: no calls=", line)
		}
	}
	return out, nil
}

// CommandCalls sums the calls= of the cmdstat_* lines of INFO commandstats,
// leaving out the commands named in except (and their subcommands).
func CommandCalls(info string, except ...string) (int64, error) {
	m, err := CommandStats(info)
	if err != nil {
		return 0, err
	}
	var total int64
	for name, n := range m {
		skip := false
		for _, e := range except {
			if name == e || strings.HasPrefix(name, e+"|") {
				skip = true
			}
		}
		if !skip {
			total += n
		}
	}
	return total, nil
}

// ProcCPU is the user+system CPU time of a process (/proc/<pid>/stat).
func ProcCPU(pid int) (time.Duration, error) {
	p, err := ReadProc(pid)
	return p.CPU, err
}

// StartCPUProfile writes this process' CPU profile to path until stop
// (the benchmarks' --cpuprofile).
func StartCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
