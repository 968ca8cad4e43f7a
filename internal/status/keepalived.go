package status

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/vigil-ha/vigil/internal/vrrp"
)

// DataInfo is what WriteData prints beyond the instances.
type DataInfo struct {
	// RouterID is global_defs router_id; with it the dump opens with
	// keepalived's "Global definitions" section holding it.
	RouterID string
}

// WriteData writes keepalived's SIGUSR1 dump (/tmp/keepalived.data) for
// insts, in keepalived 2.2.7's layout: a "------< VRRP Topology >------"
// section with one " VRRP Instance = NAME" block per instance and
// three-space indented "   Key = value" lines, in keepalived's order.
// Lines for settings vigil does not report are left out.
func WriteData(w io.Writer, insts []InstanceStatus, info DataInfo) error {
	bw := bufio.NewWriter(w)
	if info.RouterID != "" {
		fmt.Fprintln(bw, "------< Global definitions >------")
		fmt.Fprintf(bw, " Router ID = %s\n", info.RouterID)
	}
	fmt.Fprintln(bw, "------< VRRP Topology >------")
	for _, st := range insts {
		fmt.Fprintf(bw, " VRRP Instance = %s\n", st.Name)
		if st.Version != 0 {
			fmt.Fprintf(bw, "   VRRP Version = %d\n", st.Version)
		}
		if st.SyncGroup != "" {
			fmt.Fprintf(bw, "   Sync group = %s\n", st.SyncGroup)
		}
		if len(st.VIPs) > 0 && st.VIPs[0].Prefix.Addr().Is6() {
			// keepalived's instance family is its VIPs' family.
			fmt.Fprintln(bw, "   Using Native IPv6")
		}
		fmt.Fprintf(bw, "   State = %s\n", st.State)
		// keepalived prints the master it follows only in BACKUP.
		if st.State == vrrp.StateBackup && st.Master.IsValid() {
			fmt.Fprintf(bw, "   Master router = %s\n", st.Master)
			fmt.Fprintf(bw, "   Master priority = %d\n", st.MasterPriority)
		}
		if !st.Since.IsZero() {
			sec, usec := st.Since.Unix(), st.Since.Nanosecond()/1000
			// ctime's layout with the microseconds after the seconds,
			// as 2.2.7 prints it: "Wed Nov 25 12:36:26.565713 2026".
			fmt.Fprintf(bw, "   Last transition = %d.%06d (%s.%06d %d)\n",
				sec, usec, st.Since.Format("Mon Jan _2 15:04:05"), usec, st.Since.Year())
		}
		fmt.Fprintf(bw, "   Interface = %s\n", st.Interface)
		fmt.Fprintf(bw, "   Virtual Router ID = %d\n", st.VRID)
		fmt.Fprintf(bw, "   Priority = %d\n", st.BasePriority)
		fmt.Fprintf(bw, "   Effective priority = %d\n", st.Priority)
		if st.AdvertInterval > 0 {
			// VRRPv2 intervals are whole seconds; v3 prints milliseconds.
			if st.Version == 3 {
				fmt.Fprintf(bw, "   Advert interval = %d milli-sec\n", st.AdvertInterval.Milliseconds())
			} else {
				fmt.Fprintf(bw, "   Advert interval = %d sec\n", int64(st.AdvertInterval/time.Second))
			}
		}
		if len(st.VIPs) > 0 {
			fmt.Fprintf(bw, "   Virtual IP (%d):\n", len(st.VIPs))
			for _, v := range st.VIPs {
				fmt.Fprintf(bw, "     %s\n", formatVIP(v, st))
			}
		}
	}
	return bw.Flush()
}

// formatVIP prints a VIP as keepalived's format_ipaddress does: the
// prefix length only when it is not a host route, dev, scope, label, and
// "set" when the address is on the interface (vigil: while MASTER).
func formatVIP(v VIP, st InstanceStatus) string {
	s := v.Prefix.Addr().String()
	if v.Prefix.Bits() >= 0 && v.Prefix.Bits() != v.Prefix.Addr().BitLen() {
		s = v.Prefix.String()
	}
	dev := v.Dev
	if dev == "" {
		dev = st.Interface
	}
	s += " dev " + dev + " scope global"
	if v.Label != "" {
		s += " label " + v.Label
	}
	if v.Prefix.Addr().Is6() {
		// An IPv6 /128 VIP gets preferred_lft 0 so that it is never
		// picked as a source address (vrrp.VIP); keepalived prints that.
		if v.Prefix.Bits() == 128 {
			s += " deprecated"
		} else {
			s += " preferred_lft forever"
		}
	}
	if st.State == vrrp.StateMaster {
		s += " set"
	}
	return s
}

// keepalivedStats are keepalived's per-instance counters (vrrp_stats),
// computed from vigil's counters and drop reasons.
type keepalivedStats struct {
	advertRcvd, advertSent, becomeMaster, releaseMaster         uint64
	packetLenErr, advertIntervalErr, ipTTLErr, invalidTypeRcvd  uint64
	addrListErr, invalidAuthType, authTypeMismatch, authFailure uint64
	priZeroRcvd, priZeroSent                                    uint64
}

// statsOf maps vigil's drop reasons onto keepalived's error counters, as
// keepalived 2.2.7 counts the same malformed adverts (checked against it:
// testdata/keepalived-2.2.7/errors.txt). One deliberate difference:
// keepalived logs an advertisement interval mismatch but never increments
// advert_interval_err; vigil counts it there. Drops keepalived has no
// counter for (checksum, own address...) stay visible in vigil status and
// metrics.
func statsOf(c Counters) keepalivedStats {
	d := func(rs ...vrrp.DropReason) uint64 {
		var n uint64
		for _, r := range rs {
			n += c.Drops[r.String()]
		}
		return n
	}
	return keepalivedStats{
		advertRcvd: c.AdvertsReceived, advertSent: c.AdvertsSent,
		becomeMaster: c.BecameMaster, releaseMaster: c.ReleasedMaster,
		packetLenErr:      d(vrrp.DropTruncated, vrrp.DropBadLength),
		advertIntervalErr: d(vrrp.DropIntervalMismatch),
		ipTTLErr:          d(vrrp.DropWrongTTL),
		invalidTypeRcvd:   d(vrrp.DropBadType),
		addrListErr:       d(vrrp.DropAddrCount, vrrp.DropAddrList),
		invalidAuthType:   d(vrrp.DropBadAuthType),
		authTypeMismatch:  d(vrrp.DropAuthMismatch),
		authFailure:       d(vrrp.DropBadPassword, vrrp.DropAHICV, vrrp.DropAHSPI, vrrp.DropAHReplay),
		priZeroRcvd:       c.PriorityZeroReceived, priZeroSent: c.PriorityZeroSent,
	}
}

// WriteStats writes keepalived's SIGUSR2 dump (/tmp/keepalived.stats): a
// "VRRP Instance: NAME" block of counters per instance, every counter
// printed, in keepalived 2.2.7's layout.
func WriteStats(w io.Writer, insts []InstanceStatus) error {
	bw := bufio.NewWriter(w)
	for _, st := range insts {
		k := statsOf(st.Stats)
		fmt.Fprintf(bw, "VRRP Instance: %s\n", st.Name)
		fmt.Fprintf(bw, "  Advertisements:\n    Received: %d\n    Sent: %d\n", k.advertRcvd, k.advertSent)
		fmt.Fprintf(bw, "  Became master: %d\n  Released master: %d\n", k.becomeMaster, k.releaseMaster)
		fmt.Fprintf(bw, "  Packet Errors:\n    Length: %d\n    TTL: %d\n    Invalid Type: %d\n    Advertisement Interval: %d\n    Address List: %d\n",
			k.packetLenErr, k.ipTTLErr, k.invalidTypeRcvd, k.advertIntervalErr, k.addrListErr)
		fmt.Fprintf(bw, "  Authentication Errors:\n    Invalid Type: %d\n    Type Mismatch: %d\n    Failure: %d\n",
			k.invalidAuthType, k.authTypeMismatch, k.authFailure)
		fmt.Fprintf(bw, "  Priority Zero:\n    Received: %d\n    Sent: %d\n", k.priZeroRcvd, k.priZeroSent)
	}
	return bw.Flush()
}

// keepalivedState is keepalived's numeric state (vrrp.h VRRP_STATE_*).
func keepalivedState(s vrrp.State) int {
	switch s {
	case vrrp.StateBackup:
		return 1
	case vrrp.StateMaster:
		return 2
	case vrrp.StateFault:
		return 3
	case vrrp.StateStop:
		return 98
	}
	return 0 // INIT
}

// WriteJSON writes keepalived's JSON dump (/tmp/keepalived.json, on
// SIGRTMIN+2 with --enable-json): an array of {"data":{...},"stats":{...}}
// objects, one per instance, compact, with keepalived's key names and
// order, "/" escaped as "\/" and a final newline as json-c writes it.
// Keys for settings vigil does not report are left out; stats carries all
// of keepalived's counters.
func WriteJSON(w io.Writer, insts []InstanceStatus) error {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, st := range insts {
		if i > 0 {
			b.WriteByte(',')
		}
		o := obj{b: &b}
		b.WriteString(`{"data":{`)
		o.str("iname", st.Name)
		o.str("ifp_ifname", st.Interface)
		o.raw("master_priority", strconv.Itoa(int(st.MasterPriority)))
		o.raw("last_transition", fmt.Sprintf("%f", unixMicroFloat(st.Since)))
		o.raw("vrid", strconv.Itoa(int(st.VRID)))
		o.raw("base_priority", strconv.Itoa(int(st.BasePriority)))
		o.raw("effective_priority", strconv.Itoa(int(st.Priority)))
		o.raw("vipset", strconv.FormatBool(st.State == vrrp.StateMaster))
		if st.AdvertInterval > 0 {
			o.raw("adver_int", fmt.Sprintf("%g", st.AdvertInterval.Seconds()))
		}
		o.raw("state", strconv.Itoa(keepalivedState(st.State)))
		if st.Version != 0 {
			o.raw("version", strconv.Itoa(st.Version))
		}
		if len(st.VIPs) > 0 {
			o.key("vips")
			b.WriteByte('[')
			for j, v := range st.VIPs {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(jsonString(formatVIP(v, st)))
			}
			b.WriteByte(']')
		}
		b.WriteString(`},"stats":{`)
		k := statsOf(st.Stats)
		s := obj{b: &b}
		for _, f := range []struct {
			name string
			n    uint64
		}{
			{"advert_rcvd", k.advertRcvd}, {"advert_sent", k.advertSent},
			{"become_master", k.becomeMaster}, {"release_master", k.releaseMaster},
			{"packet_len_err", k.packetLenErr}, {"advert_interval_err", k.advertIntervalErr},
			{"ip_ttl_err", k.ipTTLErr}, {"invalid_type_rcvd", k.invalidTypeRcvd},
			{"addr_list_err", k.addrListErr}, {"invalid_authtype", k.invalidAuthType},
			{"authtype_mismatch", k.authTypeMismatch}, {"auth_failure", k.authFailure},
			{"pri_zero_rcvd", k.priZeroRcvd}, {"pri_zero_sent", k.priZeroSent},
		} {
			s.raw(f.name, strconv.FormatUint(f.n, 10))
		}
		b.WriteString("}}")
	}
	b.WriteString("]\n")
	_, err := w.Write(b.Bytes())
	return err
}

// unixMicroFloat is keepalived's timeval_to_double.
func unixMicroFloat(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix()) + float64(t.Nanosecond()/1000)/1e6
}

// obj writes the members of one JSON object in a fixed order.
type obj struct {
	b *bytes.Buffer
	n int
}

func (o *obj) key(k string) {
	if o.n > 0 {
		o.b.WriteByte(',')
	}
	o.n++
	o.b.WriteString(jsonString(k))
	o.b.WriteByte(':')
}

func (o *obj) raw(k, v string) { o.key(k); o.b.WriteString(v) }
func (o *obj) str(k, v string) { o.key(k); o.b.WriteString(jsonString(v)) }

// jsonString quotes s as json-c does, escaping "/" too.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	return string(bytes.ReplaceAll(out, []byte("/"), []byte(`\/`)))
}
