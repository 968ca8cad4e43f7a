package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat.
// Linux fixes it at 100 on every architecture Debian ships.
const clockTick = 10 * time.Millisecond

// Usage is what ProcUsage reads of a process tree.
type Usage struct {
	// PIDs are the processes summed: the root and its descendants.
	PIDs []int
	// CPU is the time every thread of every process spent on a CPU, in
	// nanoseconds (the first field of /proc/PID/task/TID/schedstat,
	// summed): utime+stime counts in 10 ms ticks, too coarse for a
	// daemon that uses a few ms per second. Threads that have exited
	// are not counted (neither daemon ends threads while measured).
	CPU time.Duration
	// Ticks is utime+stime of every process (/proc/PID/stat), for a
	// cross-check of CPU at 10 ms resolution.
	Ticks time.Duration
	// RSS is the sum of VmRSS, in bytes: pages shared between a parent
	// and its forked child count twice, as `ps` shows them.
	RSS int64
	// PSS is the sum of Pss (smaps_rollup), in bytes: shared pages are
	// split between their users, so the sum is the tree's real share.
	PSS int64
}

// ProcUsage reads the CPU time and memory of pid and all its descendants
// (keepalived's parent and its VRRP child; vigil's single process).
func ProcUsage(pid int) (Usage, error) {
	pids, err := Tree(pid)
	if err != nil {
		return Usage{}, err
	}
	u := Usage{PIDs: pids}
	for _, p := range pids {
		ticks, err := procCPU(p)
		if err != nil {
			return u, err
		}
		u.Ticks += ticks
		cpu, err := onCPU(p)
		if err != nil {
			return u, err
		}
		u.CPU += cpu
		rss, err := statusKB(fmt.Sprintf("/proc/%d/status", p), "VmRSS:")
		if err != nil {
			return u, err
		}
		u.RSS += rss * 1024
		pss, err := statusKB(fmt.Sprintf("/proc/%d/smaps_rollup", p), "Pss:")
		if err != nil {
			return u, err
		}
		u.PSS += pss * 1024
	}
	return u, nil
}

// Tree returns pid followed by its descendants, found through the ppid
// field of every /proc/N/stat.
func Tree(pid int) ([]int, error) {
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, d := range dirs {
		p, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		f, err := statFields(p)
		if err != nil {
			continue // exited meanwhile
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		children[ppid] = append(children[ppid], p)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out, nil
}

// statFields returns the fields of /proc/PID/stat after the command name
// (which may hold spaces and parentheses): [0] is the state, [1] the
// ppid, [11] utime and [12] stime (fields 14 and 15 of proc(5)).
func statFields(pid int) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return nil, fmt.Errorf("/proc/%d/stat: %d fields after the name, want at least 13", pid, len(f))
	}
	return f, nil
}

func procCPU(pid int) (time.Duration, error) {
	f, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * clockTick, nil
}

// onCPU sums the on-CPU nanoseconds of pid's threads from their
// schedstat files.
func onCPU(pid int) (time.Duration, error) {
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil {
		return 0, err
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("process %d: no /proc/%d/task/*/schedstat", pid, pid)
	}
	var sum time.Duration
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			if os.IsNotExist(err) {
				continue // thread exited meanwhile
			}
			return 0, err
		}
		fs := strings.Fields(string(b))
		if len(fs) == 0 {
			return 0, fmt.Errorf("%s: empty", f)
		}
		ns, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", f, fs[0], err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// statusKB reads a "Key:   123 kB" line of a /proc status-like file.
func statusKB(path, key string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), key)
		if !ok {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) == 0 {
			break
		}
		v, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %s %q: %w", path, key, fs[0], err)
		}
		return v, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return 0, fmt.Errorf("%s: no %s line", path, key)
}
