package memguard

import (
	"bufio"
	"bytes"
	"io/fs"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
)

// maxSaneLimit: a limit at or above 4 EiB means "no limit". cgroup v1 reports an unset
// memory.limit_in_bytes as 0x7FFFFFFFFFFFF000 (PAGE_COUNTER_MAX pages), and no machine has
// 2^62 bytes of memory, so anything this large is the kernel's way of saying unlimited.
const maxSaneLimit = 1 << 62

// maxNotes bounds the problems DefaultLimitFS lists in its source string.
const maxNotes = 4

// physNum/physDen is the share of physical memory taken as the budget when no cgroup limits the
// process: 90%, leaving the rest to the kernel (page tables, socket buffers, which at 100,000
// connections are tens of MiB), the page cache and the few other processes of an appliance.
const (
	physNum = 9
	physDen = 10
)

// cgroup files, relative to the root of the fs.FS given to [DefaultLimitFS]. The hierarchies
// are looked for where systemd, Docker and Kubernetes mount them: v2 at /sys/fs/cgroup (pure
// "unified" mode) or /sys/fs/cgroup/unified (systemd's hybrid mode), v1's memory controller at
// /sys/fs/cgroup/memory.
var (
	cgroupV2Roots  = []string{"sys/fs/cgroup", "sys/fs/cgroup/unified"}
	cgroupV2Files  = []string{"memory.max", "memory.high"}
	cgroupV1Root   = "sys/fs/cgroup/memory"
	cgroupV1File   = "memory.limit_in_bytes"
	procSelfCgroup = "proc/self/cgroup"
	procMeminfo    = "proc/meminfo"
)

// DefaultLimit returns the memory budget used when none is configured, and says where it came
// from, reading the real /proc and /sys: see [DefaultLimitFS]. It reads a few small files and
// is meant for start-up and configuration changes, not for a hot path.
func DefaultLimit() (bytes int64, source string) {
	return DefaultLimitFS(os.DirFS("/"))
}

// DefaultLimitFS computes the default memory budget from the files of fsys, whose root stands
// for the machine's "/" (it reads proc/self/cgroup, proc/meminfo and files under sys/fs/cgroup).
//
// The budget is the smallest cgroup limit that applies to the process, if there is one and it is
// below physical memory; otherwise 90% of MemTotal from /proc/meminfo. cgroup limits are read
// for the process's own cgroup (from /proc/self/cgroup) and every ancestor up to the mount
// point, because a limit on a parent (a systemd slice, a Kubernetes pod) binds its children as
// tightly as their own:
//
//   - cgroup v2: memory.max (above it the kernel OOM-kills) and memory.high (above it the kernel
//     throttles the process and reclaims hard, which for a latency-bound proxy is as bad);
//   - cgroup v1: memory.limit_in_bytes of the memory controller.
//
// "max", 0 and values of 4 EiB or more mean no limit; a file that is missing does not count,
// so a container without a cgroup namespace, whose /proc/self/cgroup names a path its /sys does
// not show, falls back to the limit of the hierarchy's root, which is then the container's own.
// A limit of at least MemTotal is ignored: physical memory is then the tighter bound.
//
// source names the file and rule that decided, e.g. "cgroup v2 /sys/fs/cgroup/memory.max" or
// "90% of MemTotal (/proc/meminfo)", and mentions files that could not be parsed. If neither a
// cgroup limit nor MemTotal can be read (not Linux, /proc not mounted), bytes is 0 and source
// says why.
func DefaultLimitFS(fsys fs.FS) (bytes int64, source string) {
	var notes []string
	cg, cgSource, cgNotes := cgroupLimit(fsys)
	notes = append(notes, cgNotes...)

	memTotal, err := readMemTotal(fsys)
	if err != nil {
		notes = append(notes, err.Error())
	}
	withNotes := func(s string) string {
		if len(notes) == 0 {
			return s
		}
		if len(notes) > maxNotes { // one per unparsable file: bounded for a log line
			notes = append(notes[:maxNotes], strconv.Itoa(len(notes)-maxNotes)+" more")
		}
		return s + "; " + strings.Join(notes, "; ")
	}
	switch {
	case cg > 0 && (memTotal == 0 || cg < memTotal):
		return cg, withNotes(cgSource)
	case memTotal > 0:
		if cg > 0 {
			notes = append([]string{cgSource + " = " + strconv.FormatInt(cg, 10) + " is not below MemTotal"}, notes...)
		}
		return memTotal / physDen * physNum, withNotes("90% of MemTotal (/" + procMeminfo + ")")
	}
	return 0, withNotes("unknown: no cgroup memory limit and no MemTotal")
}

// cgroupLimit returns the smallest sane limit among the v2 and v1 files that apply to the
// process, the source naming it, and notes about files that exist but could not be parsed.
func cgroupLimit(fsys fs.FS) (limit int64, source string, notes []string) {
	data, err := fs.ReadFile(fsys, procSelfCgroup)
	if err != nil {
		return 0, "", nil // not Linux, or /proc not mounted: no cgroup, and nothing to report
	}
	v2Path, v1Path := parseProcCgroup(data)
	consider := func(version, root, rel string, files []string) {
		for _, dir := range cgroupDirs(root, rel) {
			for _, name := range files {
				file := path.Join(dir, name)
				b, err := fs.ReadFile(fsys, file)
				if err != nil {
					continue // missing: this level sets no limit through this file
				}
				v, ok, perr := parseLimitValue(b)
				if perr != nil {
					notes = append(notes, "ignored /"+file+": "+perr.Error())
					continue
				}
				if ok && (limit == 0 || v < limit) {
					limit, source = v, "cgroup "+version+" /"+file
				}
			}
		}
	}
	if v2Path != "" {
		for _, root := range cgroupV2Roots {
			consider("v2", root, v2Path, cgroupV2Files)
		}
	}
	if v1Path != "" {
		consider("v1", cgroupV1Root, v1Path, []string{cgroupV1File})
	}
	return limit, source, notes
}

// parseProcCgroup extracts the process's cgroup v2 path (the "0::" line) and its cgroup v1
// memory controller path from /proc/self/cgroup, whose lines are
// "hierarchy-ID:controller-list:cgroup-path" (cgroups(7)). A path is "" when absent.
func parseProcCgroup(data []byte) (v2Path, v1Path string) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<10) // a cgroup path is at most PATH_MAX; longer lines end the scan
	for sc.Scan() {
		id, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		controllers, p, ok := strings.Cut(rest, ":") // the path itself may contain ':'
		if !ok || !strings.HasPrefix(p, "/") {
			continue
		}
		switch {
		case id == "0" && controllers == "":
			v2Path = p
		case hasController(controllers, "memory"):
			v1Path = p
		}
	}
	return v2Path, v1Path
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// cgroupDirs lists root+rel and each of its ancestors up to root, innermost first, as fs.FS
// paths. A path with ".." elements (a cgroup outside this cgroup namespace, shown by the kernel
// as "/../..") names nothing visible here, so only root is listed for it; so is a path more
// than 64 levels deep, which keeps the number of files read bounded (real trees are a handful
// of levels: kubepods/burstable/pod/container, or a few nested systemd slices).
func cgroupDirs(root, rel string) []string {
	const maxDepth = 64
	rel = strings.Trim(rel, "/")
	if rel == "" || strings.Count(rel, "/") >= maxDepth || !fs.ValidPath(rel) {
		return []string{root}
	}
	dirs := make([]string, 0, strings.Count(rel, "/")+2)
	for {
		dirs = append(dirs, root+"/"+rel)
		i := strings.LastIndexByte(rel, '/')
		if i < 0 {
			break
		}
		rel = rel[:i]
	}
	return append(dirs, root)
}

// parseLimitValue parses the content of memory.max, memory.high or memory.limit_in_bytes. ok is
// false for the values that mean no limit: "max", 0, and 4 EiB or more.
func parseLimitValue(b []byte) (v int64, ok bool, err error) {
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, false, nil
	}
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, &parseError{what: "value", text: s}
	}
	if u == 0 || u >= maxSaneLimit {
		return 0, false, nil
	}
	return int64(u), true, nil
}

// readMemTotal returns MemTotal from /proc/meminfo in bytes.
func readMemTotal(fsys fs.FS) (int64, error) {
	data, err := fs.ReadFile(fsys, procMeminfo)
	if err != nil {
		return 0, &parseError{what: "file", file: procMeminfo, text: "cannot be read"}
	}
	return parseMemTotal(data)
}

// parseMemTotal finds the "MemTotal:   16384000 kB" line of /proc/meminfo (proc(5): the unit
// is always kB, meaning KiB) and returns it in bytes.
func parseMemTotal(data []byte) (int64, error) {
	for line := range strings.SplitSeq(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "MemTotal:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, &parseError{what: "MemTotal line", file: procMeminfo, text: strings.TrimSpace(line)}
		}
		kib, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kib <= 0 || kib > math.MaxInt64>>10 {
			return 0, &parseError{what: "MemTotal line", file: procMeminfo, text: strings.TrimSpace(line)}
		}
		return kib << 10, nil
	}
	return 0, &parseError{what: "file", file: procMeminfo, text: "has no MemTotal line"}
}

// parseError names the file and what in it could not be understood.
type parseError struct {
	what, file, text string
}

func (e *parseError) Error() string {
	const maxText = 80 // the text comes from a file: keep messages one line and bounded
	t := e.text
	if len(t) > maxText {
		t = t[:maxText] + "..."
	}
	switch {
	case e.what == "file":
		return "/" + e.file + " " + t
	case e.file == "":
		return "bad " + e.what + " " + strconv.Quote(t)
	}
	return "/" + e.file + ": bad " + e.what + " " + strconv.Quote(t)
}
