package bench

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Measure is the median of one metric over the runs of a report, with
// the number of runs it came from. A zero N means it was not measured.
type Measure struct {
	V float64
	N int
}

// Measured reports whether the value comes from at least one run.
func (m Measure) Measured() bool { return m.N > 0 }

// MeasureOf is the median of vs.
func MeasureOf(vs []float64) Measure {
	v, ok := Median(vs)
	if !ok {
		return Measure{}
	}
	return Measure{V: v, N: len(vs)}
}

// TargetKind says what a Row's target bounds.
type TargetKind int

// Target kinds.
const (
	// NoTarget: the row is for information only.
	NoTarget TargetKind = iota
	// MaxRatio: vigil / keepalived must not exceed Target.Value.
	MaxRatio
	// MaxValue: vigil's value must not exceed Target.Value (in the
	// row's unit).
	MaxValue
	// BelowValue: vigil's value must be strictly less than
	// Target.Value (in the row's unit), for targets an issue states
	// with "<".
	BelowValue
)

// Target is the goal a Row is checked against.
type Target struct {
	Kind  TargetKind
	Value float64
}

// String is the target as the results table shows it.
func (t Target) String(unit string) string {
	switch t.Kind {
	case MaxRatio:
		return "≤ " + strconv.FormatFloat(t.Value, 'g', -1, 64) + "× keepalived"
	case MaxValue:
		return "≤ " + strconv.FormatFloat(t.Value, 'g', -1, 64) + " " + unit
	case BelowValue:
		return "< " + strconv.FormatFloat(t.Value, 'g', -1, 64) + " " + unit
	}
	return "—"
}

// Row is one line of bench/results.md.
type Row struct {
	Metric string
	Unit   string
	Vigil  Measure
	// Keepalived is the same measurement of keepalived 2.2.7 when there
	// is one (zero N otherwise).
	Keepalived Measure
	Target     Target
	// Note explains a missing value or a failure; it goes under the table.
	Note string
}

// Ratio is vigil / keepalived, false when either is missing or
// keepalived's is zero.
func (r Row) Ratio() (float64, bool) {
	if !r.Vigil.Measured() || !r.Keepalived.Measured() || r.Keepalived.V == 0 {
		return 0, false
	}
	return r.Vigil.V / r.Keepalived.V, true
}

// Met says whether the target is met: "yes", "no", "—" (no target) or
// "not measured".
func (r Row) Met() string {
	switch r.Target.Kind {
	case NoTarget:
		return "—"
	case MaxRatio:
		q, ok := r.Ratio()
		if !ok {
			return "not measured"
		}
		return yesNo(q <= r.Target.Value)
	case MaxValue, BelowValue:
		if !r.Vigil.Measured() {
			return "not measured"
		}
		if r.Target.Kind == BelowValue {
			return yesNo(r.Vigil.V < r.Target.Value)
		}
		return yesNo(r.Vigil.V <= r.Target.Value)
	}
	return "—"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "**no**"
}

// WriteTable writes rows as the Markdown table
//
//	metric | vigil | keepalived | ratio | target | met?
//
// followed by the rows' notes.
func WriteTable(w io.Writer, rows []Row) error {
	var b strings.Builder
	b.WriteString("| metric | vigil | keepalived | ratio | target | met? |\n")
	b.WriteString("|---|---:|---:|---:|---|---|\n")
	for _, r := range rows {
		ratio := "—"
		if q, ok := r.Ratio(); ok {
			ratio = fmtNum(q) + "×"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n",
			r.Metric, cell(r.Vigil, r.Unit), cell(r.Keepalived, r.Unit), ratio, r.Target.String(r.Unit), r.Met())
	}
	var notes []string
	for _, r := range rows {
		if r.Note != "" {
			notes = append(notes, fmt.Sprintf("- %s: %s", r.Metric, r.Note))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n" + strings.Join(notes, "\n") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func cell(m Measure, unit string) string {
	if !m.Measured() {
		return "—"
	}
	s := fmtNum(m.V)
	if unit != "" {
		s += " " + unit
	}
	if m.N > 1 {
		s += fmt.Sprintf(" (n=%d)", m.N)
	}
	return s
}

// fmtNum prints four significant digits without an exponent for the
// magnitudes of the table.
func fmtNum(v float64) string {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	digits := 3 - int(math.Floor(math.Log10(math.Abs(v))))
	if digits < 0 {
		digits = 0
	}
	return strconv.FormatFloat(v, 'f', digits, 64)
}
