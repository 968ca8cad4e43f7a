package ipvs

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// parseTable reads the format Table.String writes; testdata uses it.
func parseTable(text string) (Table, error) {
	var t Table
	for n, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		fail := func(err error) (Table, error) { return nil, fmt.Errorf("line %d %q: %w", n+1, line, err) }
		f := strings.Fields(line)
		if f[0] == "->" {
			if len(t) == 0 {
				return fail(fmt.Errorf("destination before any service"))
			}
			if len(f) < 2 {
				return fail(fmt.Errorf("destination needs an address"))
			}
			ap, err := netip.ParseAddrPort(f[1])
			if err != nil {
				return fail(err)
			}
			d := Destination{Addr: ap.Addr(), Port: ap.Port(), Weight: 1}
			if err := d.parseAttrs(f[2:]); err != nil {
				return fail(err)
			}
			s := &t[len(t)-1]
			s.Dests = append(s.Dests, d)
			continue
		}
		var s Service
		rest := f[2:]
		switch f[0] {
		case "FWM":
			mark, err := strconv.ParseUint(f[1], 10, 32)
			if err != nil {
				return fail(err)
			}
			s.Key = FWMarkKey(IPv4, uint32(mark))
			if len(rest) > 0 && rest[0] == "IPv6" {
				s.Key.Family, rest = IPv6, rest[1:]
			}
		case "TCP", "UDP", "SCTP":
			ap, err := netip.ParseAddrPort(f[1])
			if err != nil {
				return fail(err)
			}
			s.Key = AddrPortKey(map[string]Protocol{"TCP": TCP, "UDP": UDP, "SCTP": SCTP}[f[0]], ap)
		default:
			return fail(fmt.Errorf("want TCP, UDP, SCTP, FWM or ->"))
		}
		if err := s.parseAttrs(rest); err != nil {
			return fail(err)
		}
		t = append(t, s)
	}
	return t, nil
}

func (s *Service) parseAttrs(attrs []string) error {
	for _, a := range attrs {
		k, v, _ := strings.Cut(a, "=")
		var err error
		switch k {
		case "sched":
			s.Scheduler = v
		case "flags":
			for _, name := range strings.Split(v, ",") {
				bit, ok := map[string]SchedFlags{"sh-fallback": SHFallback, "sh-port": SHPort, "mh-fallback": MHFallback,
					"mh-port": MHPort, "flag-1": SchedFlag1, "flag-2": SchedFlag2, "flag-3": SchedFlag3}[name]
				if !ok {
					return fmt.Errorf("unknown flag %q", name)
				}
				s.SchedFlags |= bit
			}
		case "ops":
			s.OnePacket = true
		case "persistent":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 32)
			s.Persistence.Timeout = uint32(n)
		case "granularity":
			s.Persistence.Granularity, err = strconv.Atoi(v)
		case "pe":
			s.Persistence.Engine = v
		default:
			return fmt.Errorf("unknown service attribute %q", a)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
	}
	return nil
}

func (d *Destination) parseAttrs(attrs []string) error {
	for _, a := range attrs {
		k, v, _ := strings.Cut(a, "=")
		var err error
		var n uint64
		switch k {
		case "fwd":
			f, ok := map[string]Forward{"nat": NAT, "dr": Direct, "tun": Tunnel, "local": Local}[v]
			if !ok {
				return fmt.Errorf("unknown fwd %q", v)
			}
			d.Forward = f
		case "weight":
			d.Weight, err = strconv.Atoi(v)
		case "u":
			n, err = strconv.ParseUint(v, 10, 32)
			d.UpperThreshold = uint32(n)
		case "l":
			n, err = strconv.ParseUint(v, 10, 32)
			d.LowerThreshold = uint32(n)
		case "tun":
			t, ok := map[string]TunType{"ipip": IPIP, "gue": GUE, "gre": GRE}[v]
			if !ok {
				return fmt.Errorf("unknown tun %q", v)
			}
			d.TunType = t
		case "tunport":
			n, err = strconv.ParseUint(v, 10, 16)
			d.TunPort = uint16(n)
		case "csum":
			d.TunFlags |= TunCsum
		case "remcsum":
			d.TunFlags |= TunRemCsum
		default:
			return fmt.Errorf("unknown destination attribute %q", a)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", a, err)
		}
	}
	return nil
}

func mustTable(t testing.TB, text string) Table {
	t.Helper()
	tab, err := parseTable(text)
	if err != nil {
		t.Fatalf("parse table: %v", err)
	}
	return tab
}

func TestTableStringRoundTrip(t *testing.T) {
	text := `TCP 10.99.0.1:80 sched=sh flags=sh-fallback,sh-port ops persistent=300 granularity=24
  -> 10.99.1.1:80 fwd=nat weight=1 u=100 l=10
  -> 10.99.1.2:8080 fwd=tun weight=0 tun=gue tunport=6080 csum
FWM 7 sched=rr flags=flag-3
UDP [fd00:99::1]:53 sched=mh flags=mh-port
  -> [fd00:99::2]:53 fwd=dr weight=65535
FWM 7 IPv6 sched=wlc persistent=60 granularity=64 pe=sip
`
	tab := mustTable(t, text)
	if got := tab.String(); got != text {
		t.Errorf("String() of parsed table differs:\n got:\n%s\nwant:\n%s", got, text)
	}
}
