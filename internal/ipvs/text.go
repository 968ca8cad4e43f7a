package ipvs

import (
	"fmt"
	"strings"
)

// String formats the table one service per line, each destination on an
// indented "->" line below it, in key order, every attribute spelled out:
//
//	TCP 10.0.0.1:80 sched=wlc persistent=300 granularity=24
//	  -> 10.0.1.1:80 fwd=nat weight=1
func (t Table) String() string {
	var b strings.Builder
	for _, s := range t.Sorted() {
		b.WriteString(s.Key.String() + s.attrs() + "\n")
		for _, d := range s.Dests {
			b.WriteString("  -> " + d.Key().String() + d.attrs() + "\n")
		}
	}
	return b.String()
}

// attrs formats the service's settings (not its key or destinations),
// with a leading space.
func (s Service) attrs() string {
	var b strings.Builder
	fmt.Fprintf(&b, " sched=%s", s.Scheduler)
	if names := SchedFlagNames(s.Scheduler, s.SchedFlags); len(names) > 0 {
		fmt.Fprintf(&b, " flags=%s", strings.Join(names, ","))
	}
	if s.OnePacket {
		b.WriteString(" ops")
	}
	p := s.Persistence
	if p.Timeout != 0 {
		fmt.Fprintf(&b, " persistent=%d", p.Timeout)
	}
	if p.Granularity != 0 && p.Granularity != s.Key.Family.bits() {
		fmt.Fprintf(&b, " granularity=%d", p.Granularity)
	}
	if p.Engine != "" {
		fmt.Fprintf(&b, " pe=%s", p.Engine)
	}
	return b.String()
}

func (d Destination) attrs() string {
	var b strings.Builder
	fmt.Fprintf(&b, " fwd=%s weight=%d", d.Forward, d.Weight)
	if d.UpperThreshold != 0 {
		fmt.Fprintf(&b, " u=%d", d.UpperThreshold)
	}
	if d.LowerThreshold != 0 {
		fmt.Fprintf(&b, " l=%d", d.LowerThreshold)
	}
	if d.Forward == Tunnel && (d.TunType != IPIP || d.TunPort != 0 || d.TunFlags != 0) {
		fmt.Fprintf(&b, " tun=%s", d.TunType)
		if d.TunPort != 0 {
			fmt.Fprintf(&b, " tunport=%d", d.TunPort)
		}
		if d.TunFlags&TunCsum != 0 {
			b.WriteString(" csum")
		}
		if d.TunFlags&TunRemCsum != 0 {
			b.WriteString(" remcsum")
		}
	}
	return b.String()
}
