package track

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"testing"
)

// step is one script result and the status expected after it.
type step struct {
	ok      bool
	want    Status
	changed bool
}

func s(ok bool, want Status, changed bool) step { return step{ok, want, changed} }

const (
	U = StatusUp
	D = StatusDown
	I = StatusInit
)

// keepalived vrrp/vrrp_scheduler.c vrrp_script_child_thread.
func TestCounterRiseFall(t *testing.T) {
	tests := []struct {
		name       string
		rise, fall int
		initFail   bool
		steps      []step
	}{
		{"first success reports UP", 1, 1, false, []step{s(true, U, true), s(true, U, false), s(false, D, true), s(false, D, false), s(true, U, true)}},
		{"first failure reports DOWN", 3, 3, false, []step{s(false, D, true)}},
		{"one success is enough at startup even with rise 3", 3, 2, false, []step{s(true, U, true)}},
		{"fall 3 needs three failures", 1, 3, false, []step{
			s(true, U, true), s(false, U, false), s(false, U, false), s(false, D, true), s(false, D, false)}},
		{"a success while UP forgets earlier failures", 1, 2, false, []step{
			s(true, U, true), s(false, U, false), s(true, U, false), s(false, U, false), s(false, D, true)}},
		{"rise 3 needs three successes after DOWN", 3, 1, false, []step{
			s(false, D, true), s(true, D, false), s(true, D, false), s(true, U, true)}},
		{"a failure while rising starts over", 2, 1, false, []step{
			s(false, D, true), s(true, D, false), s(false, D, false), s(true, D, false), s(true, U, true)}},
		{"init_fail starts DOWN and a failure says nothing", 2, 2, true, []step{
			s(false, D, false), s(true, D, false), s(true, U, true)}},
		{"init_fail with rise 1", 1, 1, true, []step{s(true, U, true)}},
		{"zero rise and fall mean 1", 0, 0, false, []step{s(true, U, true), s(false, D, true)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCounter(tt.rise, tt.fall, tt.initFail)
			wantStart := I
			if tt.initFail {
				wantStart = D
			}
			if c.Status() != wantStart {
				t.Fatalf("initial status %v, want %v", c.Status(), wantStart)
			}
			for i, st := range tt.steps {
				changed := c.Record(st.ok)
				if c.Status() != st.want || changed != st.changed {
					t.Fatalf("step %d (ok=%v): status %v changed %v, want %v changed %v", i, st.ok, c.Status(), changed, st.want, st.changed)
				}
			}
		})
	}
}

// keepalived vrrp/vrrp_track.c process_script_update_priority: the
// delta from DOWN to UP must equal what keepalived adds on the way up.
func TestScriptEffect(t *testing.T) {
	tests := []struct {
		st        Status
		weight    int
		reverse   bool
		wantDelta int
		wantFault bool
	}{
		{U, 0, false, 0, false},
		{D, 0, false, 0, true},
		{U, 0, true, 0, true},
		{D, 0, true, 0, false},
		{I, 0, false, 0, false},
		{U, 20, false, 20, false},
		{D, 20, false, 0, false},
		{U, -20, false, 0, false},
		{D, -20, false, -20, false},
		{U, 20, true, -20, false},
		{D, 20, true, 0, false},
		{U, -20, true, 0, false},
		{D, -20, true, 20, false},
		{I, 20, false, 0, false},
		{I, -20, false, 0, false},
	}
	for _, tt := range tests {
		d, f := ScriptEffect(tt.st, tt.weight, tt.reverse)
		if d != tt.wantDelta || f != tt.wantFault {
			t.Errorf("ScriptEffect(%v, %d, reverse=%v) = %d, %v; want %d, %v", tt.st, tt.weight, tt.reverse, d, f, tt.wantDelta, tt.wantFault)
		}
	}
	// keepalived changes total_priority by ±|weight|×multiplier on each
	// transition; the steady-state effects must differ by exactly that.
	for _, w := range []int{-253, -5, 5, 253} {
		for _, rev := range []bool{false, true} {
			m := 1
			if rev {
				m = -1
			}
			up, _ := ScriptEffect(U, w, rev)
			down, _ := ScriptEffect(D, w, rev)
			if got, want := up-down, abs(w)*m; got != want {
				t.Errorf("weight %d reverse %v: UP-DOWN = %d, keepalived moves by %d", w, rev, got, want)
			}
		}
	}
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// keepalived trackers/track_file.c update_track_file_status and
// keepalived.conf(5) "Track files".
func TestFileEffect(t *testing.T) {
	tests := []struct {
		value     int64
		weight    int
		reverse   bool
		wantDelta int
		wantFault bool
	}{
		{0, 0, false, 0, false},
		{1, 0, false, 0, true},
		{-7, 0, false, 0, true},
		{0, 0, true, 0, true},
		{3, 0, true, 0, false},
		{10, 1, false, 10, false},
		{10, -2, false, -20, false},
		{10, 2, true, -20, false},
		{-253, 1, false, -253, false},
		{-254, 1, false, 0, true},
		{-127, 2, false, 0, true}, // -254
		{-300, 1, false, 0, true},
		{300, 1, false, 253, false},
		{254, 1, false, 253, false},
		{math.MaxInt32 + 1, 254, false, 253, false},
		{math.MinInt32, 254, false, 0, true},
	}
	for _, tt := range tests {
		d, f := FileEffect(tt.value, tt.weight, tt.reverse)
		if d != tt.wantDelta || f != tt.wantFault {
			t.Errorf("FileEffect(%d, %d, reverse=%v) = %d, %v; want %d, %v", tt.value, tt.weight, tt.reverse, d, f, tt.wantDelta, tt.wantFault)
		}
	}
}

// keepalived reads track files with strtol(buf, NULL, 0).
func TestParseFileValue(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"", 0, false},
		{"0\n", 0, false},
		{"42\n", 42, false},
		{"  -17 trailing", -17, false},
		{"+5", 5, false},
		{"0x1f", 31, false},
		{"0X1F\n", 31, false},
		{"010", 8, false},
		{"09", 0, false}, // octal stops at 9
		{"0x", 0, false},
		{"0xg", 0, false},
		{"abc", 0, false},
		{"\t\n 7", 7, false},
		{"2147483648", 2147483648, false}, // INT32_MAX+1 allowed
		{"2147483649", 0, true},
		{"-2147483648", -2147483648, false},
		{"-2147483649", 0, true},
		{"99999999999999999999999", 0, true}, // ERANGE
		{"12\x0034", 12, false},
	}
	for _, tt := range tests {
		got, err := ParseFileValue([]byte(tt.in))
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("ParseFileValue(%q) = %d, %v; want %d, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrBadFileValue) {
			t.Errorf("ParseFileValue(%q) error %v is not ErrBadFileValue", tt.in, err)
		}
	}
	// Only the first 127 bytes count.
	long := make([]byte, 200)
	for i := range long {
		long[i] = '1'
	}
	if _, err := ParseFileValue(long); err == nil {
		t.Errorf("200 digits parsed without error")
	}
	pad := append(make([]byte, 0, 130), []byte(fmt.Sprintf("%127s", "5"))...)
	pad = append(pad, '9', '9')
	if got, err := ParseFileValue(pad); err != nil || got != 5 {
		t.Errorf("value after 127 bytes was read: %d, %v", got, err)
	}
}

// FuzzParseFileValue: never panics, and decimal numbers in range read
// back as themselves.
func FuzzParseFileValue(f *testing.F) {
	for _, s := range []string{"0", "-1", "0x7fffffff", "077", " 12 ", "2147483648", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseFileValue([]byte(s))
		if err == nil && (v < math.MinInt32 || v > math.MaxInt32+1) {
			t.Fatalf("ParseFileValue(%q) = %d out of range", s, v)
		}
		if n, perr := strconv.ParseInt(s, 10, 32); perr == nil && (len(s) < 2 || s[0] != '0') && (len(s) < 3 || s[1] != '0') {
			if err != nil || v != n {
				t.Fatalf("ParseFileValue(%q) = %d, %v; want %d", s, v, err, n)
			}
		}
	})
}
