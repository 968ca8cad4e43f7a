package lvs

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-ha/vigil/internal/ipvs"
)

// changedCases returns the shared cases that carry a "changed.conf"
// section: a second configuration to reload into, with "changed.ops" (the
// netlink ops the reload must take, one Op.String per line, in order) and
// "changed: ipvsadm -Ln" (the kernel table afterwards, checked in the VM).
func changedCases(tb testing.TB) []confCase {
	tb.Helper()
	var out []confCase
	for _, c := range loadCases(tb) {
		if _, ok := c.sec["changed.conf"]; ok {
			out = append(out, c)
		}
	}
	if len(out) < 12 {
		tb.Fatalf("%d cases with a changed.conf section; want at least 12", len(out))
	}
	return out
}

// wantOps returns the case's changed.ops lines.
func wantOps(tb testing.TB, c confCase) []string {
	tb.Helper()
	text, ok := c.sec["changed.ops"]
	if !ok {
		tb.Fatal("case has changed.conf but no changed.ops section")
	}
	var ops []string
	for l := range strings.Lines(text) {
		if l = strings.TrimSpace(l); l != "" {
			ops = append(ops, l)
		}
	}
	return ops
}

// planTable maps a keepalived.conf text to the table vigil programs at
// start-up (no checkers: every real server up).
func planTable(tb testing.TB, text string) ipvs.Table {
	tb.Helper()
	p, _ := NewPlan(mustLoad(tb, text))
	p.Start()
	tab := p.Table()
	if err := tab.Validate(); err != nil {
		tb.Fatalf("invalid table: %v", err)
	}
	return tab
}

// TestChangedConfigOps: going from keepalived.conf to changed.conf, the
// diff of the two mapped tables is exactly the case's changed.ops, which
// spells out the change the case's comment describes (one weight: one
// edit; one real server added: one add; a removed virtual server: one
// delete, its real servers going with it). The VM test checks the same
// list against the ops a reload sends to the real ip_vs.
func TestChangedConfigOps(t *testing.T) {
	for _, c := range changedCases(t) {
		t.Run(c.name, func(t *testing.T) {
			before := planTable(t, c.sec["keepalived.conf"])
			after := planTable(t, c.sec["changed.conf"])
			owned := map[ipvs.ServiceKey]bool{}
			for _, s := range before {
				owned[s.Key] = true
			}
			var got []string
			for _, op := range ipvs.Diff(after, before.Sorted(), owned) {
				got = append(got, op.String())
			}
			want := wantOps(t, c)
			if len(want) == 0 {
				t.Fatalf("changed.ops is empty: a changed.conf must change something; the diff gives:\n%s", strings.Join(got, "\n"))
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ops from keepalived.conf to changed.conf (-want +got):\n%s\ngot:\n%s", diff, strings.Join(got, "\n"))
			}
		})
	}
}
