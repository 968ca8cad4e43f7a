package status

import (
	"bytes"
	"testing"
	"time"
)

func TestFormatTableGolden(t *testing.T) {
	r := Report{Time: reportT, Instances: fixture(), RealServers: []RealServerStatus{
		{VirtualServer: "10.99.57.100:80/tcp", RealServer: "10.99.58.10:80", Weight: 1, Up: true, Checker: "HTTP_GET", Since: reportT.Add(-2 * time.Hour)},
		{VirtualServer: "10.99.57.100:80/tcp", RealServer: "10.99.58.11:80", Weight: 0, Up: false, Checker: "TCP_CHECK", Reason: "connection refused", Since: reportT.Add(-5 * time.Second)},
	}}
	var b bytes.Buffer
	if err := FormatTable(&b, r); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", b.Bytes())
}

func TestFormatExplanationGolden(t *testing.T) {
	var b bytes.Buffer
	for _, st := range fixture() {
		if err := FormatExplanation(&b, Diagnose(st, fixtureTrackers()[st.Name])); err != nil {
			t.Fatal(err)
		}
		b.WriteString("\n")
	}
	golden(t, "explain.golden", b.Bytes())
}

func TestSince(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{time.Time{}, "-"},
		{reportT, "0s"},
		{reportT.Add(-1500 * time.Millisecond), "1s"},
		{reportT.Add(-26*time.Hour - 3*time.Minute), "26h3m0s"},
		{reportT.Add(time.Second), "0s"}, // clock skew between daemon and report
	} {
		if got := since(reportT, tc.t); got != tc.want {
			t.Errorf("since(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}
