package bench

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Result is one result line of `go test -bench`: the benchmark name
// without the -GOMAXPROCS suffix, the iteration count and every
// value/unit pair (ns/op, B/op, allocs/op, MB/s and ReportMetric units).
type Result struct {
	Name    string
	N       int
	Metrics map[string]float64
}

// benchLine matches a result line, possibly indented (the IPVS VM harness
// replays the guest's output under its subtests): name, iterations, then
// the value/unit pairs.
var benchLine = regexp.MustCompile(`^\s*(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$`)

// ParseGoBench reads `go test -bench` output and returns its result
// lines in order. Lines that are not results (logs, PASS, ok) are
// skipped; a result line whose pairs do not parse is an error naming it.
func ParseGoBench(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, err := strconv.Atoi(m[2])
		if err != nil {
			continue
		}
		f := strings.Fields(m[3])
		if len(f) == 0 || len(f)%2 != 0 {
			// "BenchmarkX 1 some log text" is not a result line.
			continue
		}
		res := Result{Name: m[1], N: n, Metrics: map[string]float64{}}
		ok := true
		for i := 0; i < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				ok = false
				break
			}
			res.Metrics[f[i+1]] = v
		}
		if !ok {
			continue
		}
		out = append(out, res)
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read benchmark output: %w", err)
	}
	return out, nil
}

// Values returns the values of unit in every result named name, in order:
// one per -count repetition.
func Values(rs []Result, name, unit string) []float64 {
	var vs []float64
	for _, r := range rs {
		if r.Name != name {
			continue
		}
		if v, ok := r.Metrics[unit]; ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// Median returns the median of vs and false when vs is empty. With an
// even count it is the mean of the two middle values.
func Median(vs []float64) (float64, bool) {
	if len(vs) == 0 {
		return 0, false
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}
