package status

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-ha/vigil/internal/vrrp"
)

// FormatTable prints r the way `ip` and `ipvsadm` print tables: one line
// per instance under the header
//
//	INSTANCE VRID IFACE STATE PRIO VIPS MASTER SINCE
//
// PRIO is the effective priority, followed by "/base" when trackers moved
// it. MASTER is "self" on the master, else the last advert's source. SINCE
// is the time since the last transition, counted from r.Time. Non-zero
// drop counters and real servers follow in their own sections.
func FormatTable(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tVRID\tIFACE\tSTATE\tPRIO\tVIPS\tMASTER\tSINCE")
	for _, st := range r.Instances {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n",
			st.Name, st.VRID, dash(st.Interface), st.State, prio(st), vips(st.VIPs), master(st), since(r.Time, st.Since))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var drops []string
	for _, st := range r.Instances {
		for _, k := range sortedDrops(st.Stats.Drops) {
			drops = append(drops, fmt.Sprintf("%s\t%s\t%d", st.Name, k, st.Stats.Drops[k]))
		}
	}
	if len(drops) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "INSTANCE\tDROPPED\tCOUNT")
		for _, d := range drops {
			fmt.Fprintln(tw, d)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.RealServers) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VIRTUAL SERVER\tREAL SERVER\tWEIGHT\tSTATE\tCHECK\tSINCE\tREASON")
		for _, rs := range r.RealServers {
			state := "DOWN"
			if rs.Up {
				state = "UP"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", rs.VirtualServer, rs.RealServer, rs.Weight, state,
				dash(rs.Checker), since(r.Time, rs.Since), dash(rs.Reason))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// FormatExplanation prints e for `vigil explain`.
func FormatExplanation(w io.Writer, e Explanation) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s is %s\n", e.Instance, e.State)
	fmt.Fprintf(tw, "  why:\t%s\n", e.Rule)
	fmt.Fprintf(tw, "  priority:\t%d effective, %d base\n", e.EffectivePriority, e.BasePriority)
	for _, t := range e.Trackers {
		line := fmt.Sprintf("track_%s %s is %s, weight %d, contributes %+d", t.Kind, t.Name, t.Status, t.Weight, t.Contribution)
		if t.Fault {
			line += " (FAULT)"
		}
		fmt.Fprintf(tw, "  tracker:\t%s\n", line)
	}
	if a := e.LastAdvert; a != nil {
		fmt.Fprintf(tw, "  last advert:\tfrom %s at priority %d\n", a.From, a.Priority)
	} else {
		fmt.Fprintf(tw, "  last advert:\tnone seen\n")
	}
	for _, n := range e.Notes {
		fmt.Fprintf(tw, "  note:\t%s\n", n)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func prio(st InstanceStatus) string {
	if st.Priority != st.BasePriority {
		return fmt.Sprintf("%d/%d", st.Priority, st.BasePriority)
	}
	return fmt.Sprint(st.Priority)
}

func vips(vs []VIP) string {
	if len(vs) == 0 {
		return "-"
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.Prefix.Addr().String()
	}
	return strings.Join(out, ",")
}

func master(st InstanceStatus) string {
	switch {
	case st.State == vrrp.StateMaster:
		return "self"
	case st.Master.IsValid():
		return st.Master.String()
	}
	return "-"
}

// since prints the time from t to now in whole seconds, "-" for none.
func since(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	return d.Truncate(time.Second).String()
}

// sortedDrops returns the labels of the non-zero drop counters in order.
func sortedDrops(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
