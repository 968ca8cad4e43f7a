package vrrp

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of testdata/scenarios/*.txt")

// TestScenarios runs the scripts in testdata/scenarios, in the style of
// etcd-io/raft's datadriven tests: each command is followed by a "----"
// line and its expected output, up to a blank line. Time is data: the
// script's clock starts at 0 and moves only with "advance".
//
// Commands:
//
//	new key=value ... [nopreempt] [accept] [lower_prio_no_advert] [higher_prio_send_advert]
//	    keys: name vrid version family prio advert state preempt_delay addr vips evips
//	    garp_delay garp_repeat garp_lower_delay garp_lower_repeat garp_refresh
//	    garp_refresh_repeat down_timer_adverts (GARP defaults: DefaultGARP)
//	startup | shutdown | timeout
//	advance DURATION            fires Timeout at each deadline it passes
//	recv prio=N from=ADDR [interval=D] [vrid=N] [version=N]
//	track weight=N [fault]      sets the tracking total and fault flag
//	fault | recover             sets only the fault flag
//	group name=VG_1             makes a SyncGroup of the instances made so far
//
// "new ... add" adds an instance instead of replacing them; inst=NAME on
// any later command picks the instance it addresses (default: the last
// one made).
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenarios in testdata/scenarios")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScenarioFile(t, file)
		})
	}
}

// scenarioCase is one command of a script with its expected output.
type scenarioCase struct {
	line int    // of the command, for messages
	cmd  string // the command line
	want string // expected output, without the trailing newline
}

// parseScenario splits a script into cases. It returns, for rewriting, the
// text before each case (comments and blank lines) and after the last.
func parseScenario(text string) (cases []scenarioCase, preludes []string, tail string, err error) {
	lines := strings.Split(text, "\n")
	var pre strings.Builder
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			if i == len(lines)-1 && l == "" {
				break // the final newline
			}
			pre.WriteString(l + "\n")
			continue
		}
		c := scenarioCase{line: i + 1, cmd: strings.TrimSpace(l)}
		i++
		if i >= len(lines) || lines[i] != "----" {
			return nil, nil, "", fmt.Errorf("line %d: command %q is not followed by a ---- line", c.line, c.cmd)
		}
		var want []string
		for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
			i++
			want = append(want, lines[i])
		}
		c.want = strings.Join(want, "\n")
		cases = append(cases, c)
		preludes = append(preludes, pre.String())
		pre.Reset()
	}
	return cases, preludes, pre.String(), nil
}

func runScenarioFile(t *testing.T, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cases, preludes, tail, err := parseScenario(string(data))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if !strings.HasPrefix(string(data), "# ") {
		t.Errorf("%s: the script must start with a comment naming the RFC clause it checks", file)
	}
	h := &scenarioHarness{t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var out strings.Builder
	for i, c := range cases {
		got := h.run(c.cmd)
		if *rewrite {
			fmt.Fprintf(&out, "%s%s\n----\n%s\n", preludes[i], c.cmd, got)
			continue
		}
		if got != c.want {
			t.Errorf("%s:%d: %s: output mismatch (-want +got):\n%s", file, c.line, c.cmd, cmp.Diff(c.want, got))
		}
	}
	if *rewrite {
		out.WriteString(tail)
		if err := os.WriteFile(file, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// scenarioHarness drives one Instance, or a SyncGroup of them, through a
// script.
type scenarioHarness struct {
	t0  time.Time
	now time.Time
	in  *Instance // the instance commands address
	idx int       // its index in insts

	insts  []*Instance
	weight []int
	fault  []bool
	group  *SyncGroup

	out []string
}

// deadline is the next time the harness must send Timeout.
func (h *scenarioHarness) deadline() time.Time {
	if h.group != nil {
		return h.group.Deadline()
	}
	return h.in.Deadline()
}

func (h *scenarioHarness) status() string {
	if h.group == nil {
		return fmt.Sprintf("state=%v prio=%d now=%s next=%s", h.in.State(), h.in.Priority(), h.at(h.now), h.at(h.in.Deadline()))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "group=%v", h.group.State())
	for _, in := range h.insts {
		fmt.Fprintf(&b, " %s=%v/%d", in.cfg.Name, in.State(), in.Priority())
	}
	fmt.Fprintf(&b, " now=%s next=%s", h.at(h.now), h.at(h.group.Deadline()))
	return b.String()
}

func (h *scenarioHarness) printf(format string, args ...any) {
	h.out = append(h.out, fmt.Sprintf(format, args...))
}

func (h *scenarioHarness) at(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.Sub(h.t0).String()
}

// run executes one command and returns its output.
func (h *scenarioHarness) run(line string) string {
	h.out = nil
	fields := strings.Fields(line)
	name, args := fields[0], parseArgs(fields[1:])
	if name != "new" && h.in == nil {
		return "error: no instance: start the script with new"
	}
	if inst, ok := args["inst"]; ok && name != "new" {
		delete(args, "inst")
		h.in = nil
		for i, in := range h.insts {
			if in.cfg.Name == inst {
				h.in, h.idx = in, i
			}
		}
		if h.in == nil {
			return fmt.Sprintf("error: no instance %q", inst)
		}
	}
	switch name {
	case "new":
		h.cmdNew(args)
		return strings.Join(h.out, "\n")
	case "group":
		g, err := NewSyncGroup(args["name"], h.insts)
		if err != nil {
			return "error: " + err.Error()
		}
		h.group = g
	case "startup":
		h.step(Startup{})
	case "shutdown":
		h.step(Shutdown{})
	case "timeout":
		h.step(Timeout{})
	case "advance":
		if len(fields) != 2 {
			return "error: usage: advance DURATION"
		}
		d, err := time.ParseDuration(fields[1])
		if err != nil {
			return "error: " + err.Error()
		}
		end := h.now.Add(d)
		for {
			dl := h.deadline()
			if dl.IsZero() || dl.After(end) {
				break
			}
			if dl.Before(h.now) {
				dl = h.now // a deadline already past fires now
			}
			h.now = dl
			h.printf("@%s timeout", h.at(h.now))
			h.step(Timeout{})
		}
		h.now = end
	case "recv":
		adv := Advert{
			Version:  h.in.cfg.Version,
			VRID:     h.in.cfg.VRID,
			Interval: h.in.cfg.AdvertInterval,
			Addrs:    h.in.cfg.VIPs,
		}
		var src netip.Addr
		var err error
		for k, v := range args {
			switch k {
			case "prio":
				adv.Priority, err = parseUint8(v)
			case "from":
				src, err = netip.ParseAddr(v)
			case "interval":
				adv.Interval, err = time.ParseDuration(v)
			case "vrid":
				adv.VRID, err = parseUint8(v)
			case "version":
				adv.Version, err = parseUint8(v)
			default:
				err = fmt.Errorf("unknown recv argument %q", k)
			}
			if err != nil {
				return "error: " + err.Error()
			}
		}
		if _, ok := args["prio"]; !ok || !src.IsValid() {
			return "error: recv needs prio= and from="
		}
		h.step(AdvertRecv{Src: src, Adv: adv})
	case "track":
		w, err := strconv.Atoi(args["weight"])
		if err != nil {
			return "error: track needs weight=N"
		}
		_, f := args["fault"]
		h.weight[h.idx], h.fault[h.idx] = w, f
		h.step(TrackChange{Weight: w, Fault: f})
	case "fault", "recover":
		h.fault[h.idx] = name == "fault"
		h.step(TrackChange{Weight: h.weight[h.idx], Fault: h.fault[h.idx]})
	default:
		return fmt.Sprintf("error: unknown command %q", name)
	}
	h.printf("%s", h.status())
	return strings.Join(h.out, "\n")
}

func (h *scenarioHarness) step(ev Event) {
	if h.group == nil {
		for _, a := range h.in.Step(h.now, ev) {
			h.printf("%s", formatAction(a))
		}
		return
	}
	for _, ma := range h.group.Step(h.now, h.idx, ev) {
		who := "group"
		if ma.Member >= 0 {
			who = h.insts[ma.Member].cfg.Name
		}
		h.printf("%s: %s", who, formatAction(ma.Action))
	}
}

func formatAction(a Action) string {
	addrs := func(as []netip.Addr) string {
		s := make([]string, len(as))
		for i, a := range as {
			s[i] = a.String()
		}
		return strings.Join(s, ",")
	}
	switch a := a.(type) {
	case SendAdvert:
		return fmt.Sprintf("send-advert prio=%d", a.Priority)
	case AddVIPs:
		return fmt.Sprintf("add-vips %s accept=%t", addrs(a.Addrs), a.Accept)
	case DelVIPs:
		return fmt.Sprintf("del-vips %s", addrs(a.Addrs))
	case Announce:
		return fmt.Sprintf("announce %s x%d", addrs(a.Addrs), a.Repeat)
	case Notify:
		return fmt.Sprintf("notify %v -> %v (%s)", a.From, a.To, a.Reason)
	case PriorityChanged:
		return fmt.Sprintf("priority %d -> %d", a.From, a.To)
	case MasterRxLowerPrio:
		return fmt.Sprintf("master-rx-lower-prio from=%v prio=%d", a.Src, a.Priority)
	case SyncGroupNotify:
		return fmt.Sprintf("group-notify %s %v -> %v", a.Group, a.From, a.To)
	}
	return fmt.Sprintf("unknown action %T", a)
}

// parseArgs turns key=value and bare words into a map (bare words map to "").
func parseArgs(fields []string) map[string]string {
	m := make(map[string]string, len(fields))
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

func parseUint8(s string) (uint8, error) {
	n, err := strconv.ParseUint(s, 10, 8)
	return uint8(n), err
}

func parseAddrs(s string) ([]netip.Addr, error) {
	var as []netip.Addr
	for f := range strings.SplitSeq(s, ",") {
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, err
		}
		as = append(as, a)
	}
	return as, nil
}

func (h *scenarioHarness) cmdNew(args map[string]string) {
	cfg := InstanceConfig{
		Name:           "VI_1",
		VRID:           51,
		Version:        3,
		Family:         FamilyIPv4,
		Priority:       100,
		AdvertInterval: time.Second,
		Accept:         true,
		PrimaryAddr:    netip.MustParseAddr("10.99.0.11"),
		VIPs:           []netip.Addr{netip.MustParseAddr("10.99.0.100")},
		GARP:           DefaultGARP(),
	}
	var err error
	_, add := args["add"]
	delete(args, "add")
	for k, v := range args {
		switch k {
		case "name":
			cfg.Name = v
		case "vrid":
			cfg.VRID, err = parseUint8(v)
		case "version":
			cfg.Version, err = parseUint8(v)
		case "family":
			cfg.Family = map[string]Family{"inet": FamilyIPv4, "inet6": FamilyIPv6}[v]
		case "prio":
			cfg.Priority, err = parseUint8(v)
		case "advert":
			cfg.AdvertInterval, err = time.ParseDuration(v)
		case "state":
			cfg.InitialState = map[string]State{"MASTER": StateMaster, "BACKUP": StateBackup}[v]
		case "nopreempt":
			cfg.NoPreempt = true
		case "preempt_delay":
			cfg.PreemptDelay, err = time.ParseDuration(v)
		case "accept":
			cfg.Accept = v != "false"
		case "addr":
			cfg.PrimaryAddr, err = netip.ParseAddr(v)
		case "vips":
			cfg.VIPs, err = parseAddrs(v)
		case "evips":
			cfg.ExcludedVIPs, err = parseAddrs(v)
		case "garp_delay":
			cfg.GARP.MasterDelay, err = time.ParseDuration(v)
		case "garp_repeat":
			cfg.GARP.MasterRepeat, err = strconv.Atoi(v)
		case "garp_lower_delay":
			cfg.GARP.LowerPrioDelay, err = time.ParseDuration(v)
		case "garp_lower_repeat":
			cfg.GARP.LowerPrioRepeat, err = strconv.Atoi(v)
		case "garp_refresh":
			cfg.GARP.MasterRefresh, err = time.ParseDuration(v)
		case "garp_refresh_repeat":
			cfg.GARP.MasterRefreshRepeat, err = strconv.Atoi(v)
		case "lower_prio_no_advert":
			cfg.LowerPrioNoAdvert = true
		case "higher_prio_send_advert":
			cfg.HigherPrioSendAdvert = true
		case "down_timer_adverts":
			cfg.DownTimerAdverts, err = strconv.Atoi(v)
		default:
			err = fmt.Errorf("unknown new argument %q", k)
		}
		if err != nil {
			h.printf("error: %v", err)
			return
		}
	}
	for _, w := range cfg.Normalize() {
		h.printf("warning: %s", w)
	}
	in, err := NewInstance(cfg)
	if err != nil {
		h.printf("error: %v", err)
		return
	}
	if !add || h.group != nil {
		h.insts, h.weight, h.fault, h.group = nil, nil, nil, nil
	}
	h.insts = append(h.insts, in)
	h.weight = append(h.weight, 0)
	h.fault = append(h.fault, false)
	h.in, h.idx = in, len(h.insts)-1
	if !add {
		h.now = h.t0
	}
	h.printf("state=%v prio=%d down=%s skew=%s", in.State(), in.Priority(), in.downInterval(), in.skew())
}

// The parser keeps everything that is not expected output, so -rewrite
// reproduces an up-to-date file byte for byte.
func TestParseScenarioRoundTrip(t *testing.T) {
	text := "# RFC 5798 §6.4.1: a comment\n\nnew prio=100\n----\nstate=INIT\n\n# between\nstartup\n----\na\nb\n\n# trailing comment\n"
	cases, preludes, tail, err := parseScenario(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 2 || cases[0].cmd != "new prio=100" || cases[0].want != "state=INIT" || cases[1].want != "a\nb" || cases[1].line != 8 {
		t.Fatalf("parsed %+v", cases)
	}
	var b strings.Builder
	for i, c := range cases {
		fmt.Fprintf(&b, "%s%s\n----\n%s\n", preludes[i], c.cmd, c.want)
	}
	b.WriteString(tail)
	if b.String() != text {
		t.Errorf("round trip (-want +got):\n%s", cmp.Diff(text, b.String()))
	}
	if _, _, _, err := parseScenario("startup\nno separator\n"); err == nil {
		t.Error("a command without ---- was accepted")
	}
}
