package vrrp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/captures/*.golden")

// addrCmp lets cmp compare netip.Addr, which has unexported fields.
var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// capturedPacket is one VRRP packet from a capture: the IP header fields
// the test needs, the IP payload and, for IPv4, the whole datagram.
type capturedPacket struct {
	src, dst netip.Addr
	ttl      int
	proto    uint8  // IPv4 protocol or IPv6 next header
	datagram []byte // IPv4 only: header + payload
	payload  []byte // the VRRP message: after the IPv4 / IPv6 header and any AH
}

// readPcap returns the IPv4 and IPv6 packets of a classic pcap file with
// Ethernet link type whose protocol is VRRP or AH. It is deliberately
// minimal: the captures come from tcpdump on Linux.
func readPcap(tb testing.TB, path string) []capturedPacket {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	if len(b) < 24 {
		tb.Fatalf("%s: %d octets, too short for a pcap header", path, len(b))
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		tb.Fatalf("%s: not a pcap file (magic % x)", path, b[:4])
	}
	if lt := bo.Uint32(b[20:]); lt != 1 {
		tb.Fatalf("%s: link type %d, want 1 (Ethernet)", path, lt)
	}
	var out []capturedPacket
	for off := 24; off < len(b); {
		if off+16 > len(b) {
			tb.Fatalf("%s: truncated record header at %d", path, off)
		}
		incl := int(bo.Uint32(b[off+8:]))
		orig := int(bo.Uint32(b[off+12:]))
		off += 16
		if off+incl > len(b) || incl != orig {
			tb.Fatalf("%s: record at %d of %d/%d octets is truncated", path, off, incl, orig)
		}
		frame := b[off : off+incl]
		off += incl
		if len(frame) < 14 {
			continue
		}
		switch binary.BigEndian.Uint16(frame[12:]) {
		case 0x0800:
			ip := frame[14:]
			tot := int(binary.BigEndian.Uint16(ip[2:]))
			ip = ip[:tot] // drop Ethernet padding
			hl := int(ip[0]&0x0f) * 4
			p := capturedPacket{
				src:      netip.AddrFrom4([4]byte(ip[12:16])),
				dst:      netip.AddrFrom4([4]byte(ip[16:20])),
				ttl:      int(ip[8]),
				proto:    ip[9],
				datagram: ip,
				payload:  ip[hl:],
			}
			if p.proto == ProtocolAH && len(p.payload) >= 24 && p.payload[0] == ProtocolVRRP {
				p.payload = p.payload[24:] // keepalived's fixed 24-octet AH
			}
			if p.proto == ProtocolVRRP || p.proto == ProtocolAH {
				out = append(out, p)
			}
		case 0x86dd:
			ip := frame[14:]
			plen := int(binary.BigEndian.Uint16(ip[4:]))
			p := capturedPacket{
				src:     netip.AddrFrom16([16]byte(ip[8:24])),
				dst:     netip.AddrFrom16([16]byte(ip[24:40])),
				ttl:     int(ip[7]),
				proto:   ip[6],
				payload: ip[40 : 40+plen],
			}
			if p.proto == ProtocolVRRP {
				out = append(out, p)
			}
		}
	}
	return out
}

// captureCase is what a capture must contain, taken from the README and
// the node configs beside it, not from the decoder.
type captureCase struct {
	name     string
	version  uint8
	vrid     uint8
	interval time.Duration
	addrs    []netip.Addr
	authType uint8
	pass     string                    // auth_pass
	prio     map[netip.Addr]uint8      // source -> configured priority
	dst      map[netip.Addr]netip.Addr // source -> destination
	n        int                       // VRRP packets in the capture (tcpdump)
	unicast  bool
}

var (
	node1   = netip.MustParseAddr("10.99.0.11")
	node2   = netip.MustParseAddr("10.99.0.12")
	node1v6 = netip.MustParseAddr("fe80::3c85:2fff:fe58:49d6")
	node2v6 = netip.MustParseAddr("fe80::e06f:91ff:fe51:32d8")
	group4  = netip.MustParseAddr("224.0.0.18")
	group6  = netip.MustParseAddr("ff02::12")
	vip100  = netip.MustParseAddr("10.99.0.100")
	vip101  = netip.MustParseAddr("10.99.0.101")
	vip6    = netip.MustParseAddr("fd00:99::100")
)

func captureCases() []captureCase {
	prio4 := map[netip.Addr]uint8{node1: 150, node2: 100}
	mcast4 := map[netip.Addr]netip.Addr{node1: group4, node2: group4}
	return []captureCase{{
		name: "keepalived-2.2.7-vrrpv2-ipv4-pass", version: 2, vrid: 51, interval: time.Second,
		addrs: []netip.Addr{vip100}, authType: AuthPass, pass: "1111", prio: prio4, dst: mcast4, n: 7,
	}, {
		name: "keepalived-2.2.7-vrrpv2-ipv4-unicast", version: 2, vrid: 52, interval: time.Second,
		addrs: []netip.Addr{vip101}, authType: AuthPass, pass: "secret12", prio: prio4,
		dst: map[netip.Addr]netip.Addr{node1: node2, node2: node1}, n: 7, unicast: true,
	}, {
		name: "keepalived-2.2.7-vrrpv2-ipv4-ah", version: 2, vrid: 52, interval: time.Second,
		addrs: []netip.Addr{vip101}, authType: AuthAH, pass: "secret12", prio: prio4, dst: mcast4, n: 7,
	}, {
		name: "keepalived-2.2.7-vrrpv3-ipv4-100ms", version: 3, vrid: 51, interval: 100 * time.Millisecond,
		addrs: []netip.Addr{vip100}, prio: prio4, dst: mcast4, n: 80,
	}, {
		name: "keepalived-2.2.7-vrrpv3-ipv6", version: 3, vrid: 51, interval: time.Second,
		addrs: []netip.Addr{vip6}, prio: map[netip.Addr]uint8{node1v6: 150, node2v6: 100},
		dst: map[netip.Addr]netip.Addr{node1v6: group6, node2v6: group6}, n: 7,
	}}
}

// TestCaptures decodes every VRRP packet keepalived 2.2.7 sent in the
// captures, checks every field against the configs, verifies checksums
// (and the AH ICV), re-encodes and compares the bytes exactly, and checks
// that Validate accepts each packet for the receiving node's config.
func TestCaptures(t *testing.T) {
	for _, tc := range captureCases() {
		t.Run(tc.name, func(t *testing.T) {
			pkts := readPcap(t, filepath.Join("testdata", "captures", tc.name+".pcap"))
			if len(pkts) != tc.n {
				t.Fatalf("%d VRRP packets in the capture, tcpdump shows %d", len(pkts), tc.n)
			}
			var golden strings.Builder
			lastPrio := map[netip.Addr]uint8{}
			sent := map[netip.Addr]int{}
			var ahSeq uint32 // the receiving side's AH counter
			for i, p := range pkts {
				a, err := DecodeAdvert(p.payload, p.src, p.dst)
				if err != nil {
					t.Fatalf("packet %d: DecodeAdvert: %v", i, err)
				}
				if p.ttl != RequiredTTL {
					t.Errorf("packet %d: TTL %d, keepalived sends 255", i, p.ttl)
				}
				if want, ok := tc.dst[p.src]; !ok || p.dst != want {
					t.Errorf("packet %d: %s > %s, want a node sending to %s", i, p.src, p.dst, want)
				}
				// Every advert is the configured priority until the node's
				// last, which is the priority 0 of its SIGTERM (RFC 5798
				// §6.4.3 Shutdown).
				if prev, ok := lastPrio[p.src]; ok && prev == PriorityStop {
					t.Errorf("packet %d: %s sent after its priority 0 advert", i, p.src)
				}
				if a.Priority != tc.prio[p.src] && a.Priority != PriorityStop {
					t.Errorf("packet %d: priority %d from %s, configured %d", i, a.Priority, p.src, tc.prio[p.src])
				}
				lastPrio[p.src] = a.Priority
				sent[p.src]++

				want := Advert{
					Version: tc.version, VRID: tc.vrid, Priority: a.Priority,
					Interval: tc.interval, Addrs: tc.addrs, AuthType: tc.authType,
				}
				if tc.authType == AuthPass {
					want.AuthData = AuthKey(tc.pass)
				}
				if diff := cmp.Diff(want, a, addrCmp); diff != "" {
					t.Errorf("packet %d: advert (-want +got):\n%s", i, diff)
				}
				if c := checksum(versionSum(a, p), p.payload); c != 0 {
					t.Errorf("packet %d: independent checksum over the capture = %#04x, want 0", i, c)
				}

				enc, err := a.Marshal(p.src, p.dst)
				if err != nil {
					t.Fatalf("packet %d: Marshal: %v", i, err)
				}
				if !bytes.Equal(enc, p.payload) {
					t.Errorf("packet %d: Marshal\n got % x\nwant % x", i, enc, p.payload)
				}

				rx := RxMeta{Src: p.src, Dst: p.dst, TTL: p.ttl}
				if p.datagram != nil {
					ahSeq = checkIPv4Datagram(t, i, tc, p, a, ahSeq)
					if p.proto == ProtocolAH {
						ah, _ := parseAH(p.datagram[20:])
						rx.AH = &ah
					}
				}

				// The other node's config accepts it (ahSeq already moved
				// past this packet, so pass the previous value).
				exp := expectFor(tc, p.src)
				if rx.AH != nil {
					exp.AHSeq = rx.AH.Seq - 1
				}
				if err := Validate(a, rx, exp); err != nil {
					t.Errorf("packet %d: Validate for the peer's config: %v", i, err)
				}
				// And the sender's own config drops it as its own.
				own := expectFor(tc, p.src)
				own.Own = []netip.Addr{p.src}
				if r, _ := ReasonOf(Validate(a, rx, own)); r != DropOwnAddress {
					t.Errorf("packet %d: Validate for the sender's config: reason %v, want %v", i, r, DropOwnAddress)
				}

				fmt.Fprintf(&golden, "%s > %s ttl=%d %s\n", p.src, p.dst, p.ttl, describe(a))
			}
			for src, prio := range lastPrio {
				if prio != PriorityStop {
					t.Errorf("%s: last advert priority %d, want 0 (sent on SIGTERM)", src, prio)
				}
				if sent[src] < 2 {
					t.Errorf("%s: %d adverts, want at least one before the priority 0 one", src, sent[src])
				}
			}
			if len(lastPrio) != 2 {
				t.Errorf("adverts from %d sources, want both nodes", len(lastPrio))
			}
			checkGolden(t, filepath.Join("testdata", "captures", tc.name+".golden"), golden.String())
		})
	}
}

// checkIPv4Datagram checks DecodeIPv4, the IPv4 re-encode and, with AH, the
// ICV and sequence numbers; it returns the new AH counter.
func checkIPv4Datagram(t *testing.T, i int, tc captureCase, p capturedPacket, a Advert, ahSeq uint32) uint32 {
	t.Helper()
	pkt, err := DecodeIPv4(p.datagram)
	if err != nil {
		t.Fatalf("packet %d: DecodeIPv4: %v", i, err)
	}
	if diff := cmp.Diff(a, pkt.Advert, addrCmp); diff != "" {
		t.Errorf("packet %d: DecodeIPv4 advert differs from DecodeAdvert (-DecodeAdvert +DecodeIPv4):\n%s", i, diff)
	}
	wantHdr := IPv4Header{
		TOS: 0xc0, ID: pkt.IP.ID, TTL: RequiredTTL, Protocol: p.proto, Src: p.src, Dst: p.dst,
	}
	if diff := cmp.Diff(wantHdr, pkt.IP, addrCmp); diff != "" {
		t.Errorf("packet %d: IPv4 header (-want +got):\n%s", i, diff)
	}
	if pkt.IP.ID == 0 {
		t.Errorf("packet %d: IP ID 0; keepalived counts from 1", i)
	}
	enc, err := pkt.Marshal()
	if err != nil {
		t.Fatalf("packet %d: IPv4Packet.Marshal: %v", i, err)
	}
	if !bytes.Equal(enc, p.datagram) {
		t.Errorf("packet %d: IPv4Packet.Marshal\n got % x\nwant % x", i, enc, p.datagram)
	}
	if tc.authType != AuthAH {
		if pkt.AH != nil {
			t.Errorf("packet %d: AH %+v in a capture without AH", i, pkt.AH)
		}
		return ahSeq
	}

	if pkt.AH == nil {
		t.Fatalf("packet %d: no AH in the AH capture", i)
	}
	if pkt.AH.SPI != SPIFor(p.src) {
		t.Errorf("packet %d: SPI %#08x, want the source %s", i, pkt.AH.SPI, p.src)
	}
	// keepalived's shared counter: each advert numbers one above the last
	// one seen by its sender, so across both nodes they run 1, 2, 3, ...
	if pkt.AH.Seq != ahSeq+1 {
		t.Errorf("packet %d: AH sequence %d, want %d", i, pkt.AH.Seq, ahSeq+1)
	}
	key := AuthKey(tc.pass)
	if err := VerifyAH(p.datagram, key, tc.unicast); err != nil {
		t.Errorf("packet %d: VerifyAH with %q: %v", i, tc.pass, err)
	}
	if r, _ := ReasonOf(VerifyAH(p.datagram, AuthKey("secret13"), tc.unicast)); r != DropAHICV {
		t.Errorf("packet %d: VerifyAH with the wrong key: reason %v, want %v", i, r, DropAHICV)
	}

	// Build the same packet from its fields alone and sign it.
	build := IPv4Packet{
		IP: IPv4Header{TOS: 0xc0, ID: pkt.IP.ID, TTL: RequiredTTL, Protocol: ProtocolAH, Src: p.src, Dst: p.dst},
		AH: &AH{SPI: SPIFor(p.src), Seq: pkt.AH.Seq},
		Advert: Advert{
			Version: 2, VRID: tc.vrid, Priority: a.Priority, Interval: tc.interval,
			Addrs: tc.addrs, AuthType: AuthAH,
		},
	}
	b, err := build.Marshal()
	if err != nil {
		t.Fatalf("packet %d: build: %v", i, err)
	}
	if err := SignAH(b, key, tc.unicast); err != nil {
		t.Fatalf("packet %d: SignAH: %v", i, err)
	}
	if !bytes.Equal(b, p.datagram) {
		t.Errorf("packet %d: built and signed\n got % x\nwant % x", i, b, p.datagram)
	}
	return pkt.AH.Seq
}

// versionSum is the starting sum for an independent checksum check: none
// for v2, the pseudo-header for v3, built here by hand from the RFCs.
func versionSum(a Advert, p capturedPacket) uint32 {
	if a.Version == 2 {
		return 0
	}
	var ph []byte
	ph = append(ph, p.src.AsSlice()...)
	ph = append(ph, p.dst.AsSlice()...)
	if p.src.Is4() {
		ph = append(ph, 0, ProtocolVRRP)
		ph = binary.BigEndian.AppendUint16(ph, uint16(len(p.payload)))
	} else {
		ph = binary.BigEndian.AppendUint32(ph, uint32(len(p.payload)))
		ph = append(ph, 0, 0, 0, ProtocolVRRP)
	}
	return uint32(^checksum(0, ph))
}

// expectFor is the config of the node that receives src's adverts.
func expectFor(tc captureCase, src netip.Addr) Expect {
	e := Expect{
		Version: tc.version, VRID: tc.vrid, AuthType: tc.authType,
		Interval: tc.interval, Addrs: tc.addrs, Unicast: tc.unicast,
	}
	if tc.authType == AuthPass {
		e.AuthData = AuthKey(tc.pass)
	}
	if tc.unicast {
		e.Peers = []netip.Addr{src}
		e.CheckUnicastSrc = true
	}
	return e
}

func describe(a Advert) string {
	s := fmt.Sprintf("v%d vrid=%d prio=%d int=%v addrs=%v", a.Version, a.VRID, a.Priority, a.Interval, a.Addrs)
	if a.Version == 2 {
		s += fmt.Sprintf(" auth=%d data=%q", a.AuthType, bytes.TrimRight(a.AuthData[:], "\x00"))
	}
	return s
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// mustCapture returns the first VRRP packet of a capture.
func mustCapture(tb testing.TB, name string) capturedPacket {
	tb.Helper()
	pkts := readPcap(tb, filepath.Join("testdata", "captures", name+".pcap"))
	if len(pkts) == 0 {
		tb.Fatalf("%s: no VRRP packets", name)
	}
	return pkts[0]
}

// fixSum recomputes the VRRP checksum of payload for src > dst, so that a
// test case reaches the check it is about.
func fixSum(payload []byte, src, dst netip.Addr) []byte {
	b := append([]byte(nil), payload...)
	if len(b) < vrrpHeaderLen {
		return b
	}
	b[6], b[7] = 0, 0
	var sum uint32
	if b[0]>>4 == 3 {
		sum = pseudoSum(src.Unmap(), dst.Unmap(), len(b))
	}
	binary.BigEndian.PutUint16(b[6:], checksum(sum, b))
	return b
}

// edit returns a copy of b changed by f.
func edit(b []byte, f func(b []byte) []byte) []byte {
	return f(append([]byte(nil), b...))
}

// TestDecodeAdvertDrops feeds malformed and hostile adverts to
// DecodeAdvert; each must be dropped with its own reason (RFC 3768 §7.1,
// RFC 5798 §7.1).
func TestDecodeAdvertDrops(t *testing.T) {
	v2 := mustCapture(t, "keepalived-2.2.7-vrrpv2-ipv4-pass")
	v3 := mustCapture(t, "keepalived-2.2.7-vrrpv3-ipv4-100ms")
	v6 := mustCapture(t, "keepalived-2.2.7-vrrpv3-ipv6")

	tests := []struct {
		name     string
		payload  []byte
		src, dst netip.Addr
		want     DropReason
	}{
		{"empty", nil, v2.src, v2.dst, DropTruncated},
		{"shorter than the fixed header", v2.payload[:7], v2.src, v2.dst, DropTruncated},
		{"version 1", fixSum(edit(v2.payload, func(b []byte) []byte { b[0] = 0x11; return b }), v2.src, v2.dst), v2.src, v2.dst, DropBadVersion},
		{"version 4", fixSum(edit(v3.payload, func(b []byte) []byte { b[0] = 0x41; return b }), v3.src, v3.dst), v3.src, v3.dst, DropBadVersion},
		{"type 2", fixSum(edit(v2.payload, func(b []byte) []byte { b[0] = 0x22; return b }), v2.src, v2.dst), v2.src, v2.dst, DropBadType},
		{"v2 checksum flipped", edit(v2.payload, func(b []byte) []byte { b[7] ^= 0x01; return b }), v2.src, v2.dst, DropBadChecksum},
		{"v2 priority changed in transit", edit(v2.payload, func(b []byte) []byte { b[2] = 255; return b }), v2.src, v2.dst, DropBadChecksum},
		{"v3 checksum flipped", edit(v3.payload, func(b []byte) []byte { b[6] ^= 0x80; return b }), v3.src, v3.dst, DropBadChecksum},
		// The pseudo-header binds the checksum to the addresses: a
		// unicast v3 advert checksummed over 224.0.0.18 (keepalived's old
		// unicast behaviour) does not verify.
		{"v3 checksum over another destination", v3.payload, v3.src, node2, DropBadChecksum},
		{"v3 IPv6 checksum over another source", v6.payload, node2v6, v6.dst, DropBadChecksum},
		{"zero VRID", fixSum(edit(v2.payload, func(b []byte) []byte { b[1] = 0; return b }), v2.src, v2.dst), v2.src, v2.dst, DropZeroVRID},
		{"v3 interval 0", fixSum(edit(v3.payload, func(b []byte) []byte { b[4], b[5] = 0xf0, 0; return b }), v3.src, v3.dst), v3.src, v3.dst, DropZeroInterval},
		{"v2 interval 0", fixSum(edit(v2.payload, func(b []byte) []byte { b[5] = 0; return b }), v2.src, v2.dst), v2.src, v2.dst, DropZeroInterval},
		{"oversize count", fixSum(edit(v2.payload, func(b []byte) []byte { b[3] = 200; return b }), v2.src, v2.dst), v2.src, v2.dst, DropBadLength},
		{"count 0 with an address", fixSum(edit(v3.payload, func(b []byte) []byte { b[3] = 0; return b }), v3.src, v3.dst), v3.src, v3.dst, DropBadLength},
		{"trailing octets", fixSum(append(append([]byte(nil), v3.payload...), 0, 0, 0, 0), v3.src, v3.dst), v3.src, v3.dst, DropBadLength},
		{"v2 without auth data", fixSum(v2.payload[:len(v2.payload)-8], v2.src, v2.dst), v2.src, v2.dst, DropBadLength},
		{"IPv4 address in a v3 IPv6 advert", fixSum(append(append([]byte(nil), v6.payload[:8]...), 10, 99, 0, 100), v6.src, v6.dst), v6.src, v6.dst, DropBadLength},
		{"IPv4-mapped address in a v3 IPv6 advert", fixSum(append(append([]byte(nil), v6.payload[:8]...),
			netip.AddrFrom16(netip.MustParseAddr("::ffff:10.99.0.100").As16()).AsSlice()...), v6.src, v6.dst), v6.src, v6.dst, DropWrongFamily},
		{"v2 over IPv6", fixSum(v2.payload, v6.src, v6.dst), v6.src, v6.dst, DropWrongFamily},
		{"IPv4 source, IPv6 destination", v3.payload, v3.src, v6.dst, DropWrongFamily},
		{"no addresses given", v3.payload, netip.Addr{}, netip.Addr{}, DropWrongFamily},
		{"auth type 3", fixSum(edit(v2.payload, func(b []byte) []byte { b[4] = 3; return b }), v2.src, v2.dst), v2.src, v2.dst, DropBadAuthType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := DecodeAdvert(tt.payload, tt.src, tt.dst)
			got, ok := ReasonOf(err)
			if diff := cmp.Diff(dropResult{tt.want, true}, dropResult{got, ok}); diff != "" {
				t.Errorf("DecodeAdvert(% x) = %+v, %v; (-want +got):\n%s", tt.payload, a, err, diff)
			}
			var de *DropError
			if errors.As(err, &de) && de.Detail == "" {
				t.Errorf("drop %v has no detail for the log", de.Reason)
			}
		})
	}
}

type dropResult struct {
	Reason DropReason
	Drop   bool
}

// TestDecodeAdvertIgnoresReservedBits: RFC 5798 §5.2.5, the 4 reserved bits
// before Max Adver Int are ignored on reception and sent as zero.
func TestDecodeAdvertIgnoresReservedBits(t *testing.T) {
	v3 := mustCapture(t, "keepalived-2.2.7-vrrpv3-ipv4-100ms")
	b := fixSum(edit(v3.payload, func(b []byte) []byte { b[4] |= 0xf0; return b }), v3.src, v3.dst)
	a, err := DecodeAdvert(b, v3.src, v3.dst)
	if err != nil {
		t.Fatal(err)
	}
	if a.Interval != 100*time.Millisecond {
		t.Errorf("interval %v, want 100ms", a.Interval)
	}
	enc, err := a.Marshal(v3.src, v3.dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, v3.payload) {
		t.Errorf("re-encoded\n got % x\nwant % x (reserved bits cleared)", enc, v3.payload)
	}
}

// TestDecodeIPv4Drops covers the IPv4 and AH framing around the advert.
func TestDecodeIPv4Drops(t *testing.T) {
	pass := mustCapture(t, "keepalived-2.2.7-vrrpv2-ipv4-pass")
	ah := mustCapture(t, "keepalived-2.2.7-vrrpv2-ipv4-ah")
	setTot := func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], uint16(len(b))); return b }

	tests := []struct {
		name     string
		datagram []byte
		want     DropReason
	}{
		{"shorter than an IPv4 header", pass.datagram[:19], DropTruncated},
		{"IP version 6", edit(pass.datagram, func(b []byte) []byte { b[0] = 0x65; return b }), DropBadProtocol},
		{"IHL 4", edit(pass.datagram, func(b []byte) []byte { b[0] = 0x44; return b }), DropBadProtocol},
		{"IHL beyond the datagram", setTot(edit(pass.datagram[:24], func(b []byte) []byte { b[0] = 0x4f; return b })), DropTruncated},
		{"total length larger than received", pass.datagram[:len(pass.datagram)-1], DropBadLength},
		{"UDP", edit(pass.datagram, func(b []byte) []byte { b[9] = 17; return b }), DropBadProtocol},
		{"AH for TCP", edit(ah.datagram, func(b []byte) []byte { b[20] = 6; return b }), DropBadProtocol},
		{"AH with SHA-1 length", edit(ah.datagram, func(b []byte) []byte { b[21] = 5; return b }), DropBadProtocol},
		{"AH truncated", setTot(edit(ah.datagram[:40], func(b []byte) []byte { return b })), DropTruncated},
		{"VRRP behind AH truncated", setTot(edit(ah.datagram[:48], func(b []byte) []byte { return b })), DropTruncated},
		{"VRRP checksum bad behind AH", edit(ah.datagram, func(b []byte) []byte { b[50] ^= 1; return b }), DropBadChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DecodeIPv4(tt.datagram)
			got, ok := ReasonOf(err)
			if diff := cmp.Diff(dropResult{tt.want, true}, dropResult{got, ok}); diff != "" {
				t.Errorf("DecodeIPv4(% x) = %+v, %v; (-want +got):\n%s", tt.datagram, p, err, diff)
			}
		})
	}
}

// TestMarshalRejects: Marshal refuses adverts that cannot be put on the
// wire as given, instead of truncating a field.
func TestMarshalRejects(t *testing.T) {
	ok2 := Advert{Version: 2, VRID: 1, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{vip100}}
	ok3 := Advert{Version: 3, VRID: 1, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{vip6}}
	with := func(a Advert, f func(*Advert)) Advert {
		a.Addrs = append([]netip.Addr(nil), a.Addrs...)
		f(&a)
		return a
	}
	many := make([]netip.Addr, 256)
	for i := range many {
		many[i] = vip100
	}
	tests := []struct {
		name     string
		a        Advert
		src, dst netip.Addr
	}{
		{"version 0", with(ok2, func(a *Advert) { a.Version = 0 }), node1, group4},
		{"VRID 0", with(ok2, func(a *Advert) { a.VRID = 0 }), node1, group4},
		{"v2 interval 1.5s", with(ok2, func(a *Advert) { a.Interval = 1500 * time.Millisecond }), node1, group4},
		{"v2 interval 256s", with(ok2, func(a *Advert) { a.Interval = 256 * time.Second }), node1, group4},
		{"v2 interval 0", with(ok2, func(a *Advert) { a.Interval = 0 }), node1, group4},
		{"v3 interval 5ms", with(ok3, func(a *Advert) { a.Interval = 5 * time.Millisecond }), node1v6, group6},
		{"v3 interval 41s", with(ok3, func(a *Advert) { a.Interval = 41 * time.Second }), node1v6, group6},
		{"v2 over IPv6", ok2, node1v6, group6},
		{"v2 IPv6 address", with(ok2, func(a *Advert) { a.Addrs = []netip.Addr{vip6} }), node1, group4},
		{"v3 mixed families", with(ok3, func(a *Advert) { a.Addrs = append(a.Addrs, vip100) }), node1v6, group6},
		{"v3 without addresses for the pseudo-header", ok3, netip.Addr{}, netip.Addr{}},
		{"v3 with auth", with(ok3, func(a *Advert) { a.AuthType = AuthPass }), node1v6, group6},
		{"v2 auth type 3", with(ok2, func(a *Advert) { a.AuthType = 3 }), node1, group4},
		{"256 addresses", with(ok2, func(a *Advert) { a.Addrs = many }), node1, group4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if b, err := tt.a.Marshal(tt.src, tt.dst); err == nil {
				t.Errorf("Marshal(%+v) = % x, want an error", tt.a, b)
			}
		})
	}
	// The unchanged adverts marshal: the failures above are the edits'.
	if _, err := ok2.Marshal(node1, group4); err != nil {
		t.Errorf("valid v2: %v", err)
	}
	if _, err := ok3.Marshal(node1v6, group6); err != nil {
		t.Errorf("valid v3: %v", err)
	}
}

// TestMarshalRoundTrip covers what the captures do not: several
// addresses, a zoned link-local source, the interval limits, auth none.
func TestMarshalRoundTrip(t *testing.T) {
	zoned := netip.MustParseAddr("fe80::1%eth0")
	tests := []struct {
		name     string
		a        Advert
		src, dst netip.Addr
	}{
		{"v2 no auth 255s", Advert{Version: 2, VRID: 255, Priority: 255, Interval: 255 * time.Second,
			Addrs: []netip.Addr{vip100, vip101, netip.MustParseAddr("192.0.2.1")}}, node1, group4},
		{"v2 no addresses", Advert{Version: 2, VRID: 7, Priority: 1, Interval: time.Second, AuthType: AuthPass, AuthData: AuthKey("longerthan8")}, node1, group4},
		{"v3 IPv4 40.95s", Advert{Version: 3, VRID: 1, Priority: 0, Interval: 40950 * time.Millisecond, Addrs: []netip.Addr{vip100}}, node1, node2},
		{"v3 IPv6 zoned source, two addresses", Advert{Version: 3, VRID: 9, Priority: 200, Interval: 10 * time.Millisecond,
			Addrs: []netip.Addr{vip6, netip.MustParseAddr("fd00:99::101")}}, zoned, group6},
		{"v3 IPv4-mapped src and dst", Advert{Version: 3, VRID: 1, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{vip100}},
			netip.AddrFrom16(node1.As16()), netip.AddrFrom16(group4.As16())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.a.Marshal(tt.src, tt.dst)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeAdvert(b, tt.src, tt.dst)
			if err != nil {
				t.Fatalf("DecodeAdvert(Marshal) = %v", err)
			}
			if diff := cmp.Diff(tt.a, got, addrCmp); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuthKey(t *testing.T) {
	for pass, want := range map[string][8]byte{
		"1111":        {'1', '1', '1', '1'},
		"secret12":    {'s', 'e', 'c', 'r', 'e', 't', '1', '2'},
		"longerthan8": {'l', 'o', 'n', 'g', 'e', 'r', 't', 'h'},
		"":            {},
	} {
		if got := AuthKey(pass); got != want {
			t.Errorf("AuthKey(%q) = %q, want %q", pass, got, want)
		}
	}
}

func TestDropReasonStrings(t *testing.T) {
	seen := map[string]DropReason{}
	for r := DropReason(1); r < numDropReasons; r++ {
		s := r.String()
		if strings.HasPrefix(s, "DropReason(") || s == "" || strings.ContainsAny(s, " -") {
			t.Errorf("DropReason %d: label %q, want a snake_case name", r, s)
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("DropReason %d and %d share the label %q", prev, r, s)
		}
		seen[s] = r
	}
	if got := DropReason(0).String(); got != "DropReason(0)" {
		t.Errorf("zero reason = %q", got)
	}
	err := fmt.Errorf("read on eth0: %w", &DropError{Reason: DropBadChecksum, Detail: "VRRPv2 checksum 0x1234 does not verify"})
	if r, ok := ReasonOf(err); !ok || r != DropBadChecksum {
		t.Errorf("ReasonOf(wrapped) = %v, %t", r, ok)
	}
	if want := "read on eth0: drop VRRP advert: bad_checksum: VRRPv2 checksum 0x1234 does not verify"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if _, ok := ReasonOf(errors.New("other")); ok {
		t.Error("ReasonOf(non-drop error) reported a reason")
	}
}

// TestValidate: the instance-level receive checks (RFC 3768 §7.1, RFC 5798
// §7.1) in keepalived's variant; 0 means accepted.
func TestValidate(t *testing.T) {
	v2 := Advert{Version: 2, VRID: 51, Priority: 150, Interval: time.Second,
		Addrs: []netip.Addr{vip100}, AuthType: AuthPass, AuthData: AuthKey("1111")}
	v2Want := Expect{Version: 2, VRID: 51, AuthType: AuthPass, AuthData: AuthKey("1111"),
		Interval: time.Second, Addrs: []netip.Addr{vip100}, Own: []netip.Addr{node2}}
	mcast := RxMeta{Src: node1, Dst: group4, TTL: 255}

	v6 := Advert{Version: 3, VRID: 51, Priority: 150, Interval: time.Second, Addrs: []netip.Addr{vip6}}
	v6Want := Expect{Version: 3, VRID: 51, Interval: time.Second, Addrs: []netip.Addr{vip6}}
	v6Rx := RxMeta{Src: node1v6, Dst: group6, TTL: 255}

	ahAdv := v2
	ahAdv.AuthType, ahAdv.AuthData = AuthAH, [8]byte{}
	ahWant := v2Want
	ahWant.AuthType, ahWant.AuthData, ahWant.AHSeq = AuthAH, [8]byte{}, 4
	ahRx := mcast
	ahRx.AH = &AH{SPI: SPIFor(node1), Seq: 5}

	uniWant := v2Want
	uniWant.Unicast, uniWant.Peers, uniWant.CheckUnicastSrc = true, []netip.Addr{node1}, true
	uniRx := RxMeta{Src: node1, Dst: node2, TTL: 64}

	// change copies a and applies f.
	change := func(a Advert, f func(*Advert)) Advert {
		a.Addrs = append([]netip.Addr(nil), a.Addrs...)
		f(&a)
		return a
	}
	changeW := func(e Expect, f func(*Expect)) Expect { f(&e); return e }
	changeRx := func(r RxMeta, f func(*RxMeta)) RxMeta { f(&r); return r }

	tests := []struct {
		name string
		a    Advert
		rx   RxMeta
		want Expect
		drop DropReason
	}{
		{"v2 PASS accepted", v2, mcast, v2Want, 0},
		{"priority 0 accepted (master stopping)", change(v2, func(a *Advert) { a.Priority = 0 }), mcast, v2Want, 0},
		{"v3 IPv6 accepted", v6, v6Rx, v6Want, 0},
		// RFC 5798 §6.4.2: a backup adopts the master's interval.
		{"v3 other interval accepted", change(v6, func(a *Advert) { a.Interval = 3 * time.Second }), v6Rx, v6Want, 0},
		{"TTL unknown is not checked", v2, changeRx(mcast, func(r *RxMeta) { r.TTL = -1 }), v2Want, 0},
		{"TTL 254 (routed)", v2, changeRx(mcast, func(r *RxMeta) { r.TTL = 254 }), v2Want, DropWrongTTL},
		{"hop limit 1", v6, changeRx(v6Rx, func(r *RxMeta) { r.TTL = 1 }), v6Want, DropWrongTTL},
		{"unicast: TTL not checked, peer known", v2, uniRx, uniWant, 0},
		{"own address as source", v2, changeRx(mcast, func(r *RxMeta) { r.Src = node2 }), v2Want, DropOwnAddress},
		{"IPv6 advert to an IPv4 instance", v6, v6Rx, changeW(v6Want, func(e *Expect) { e.Addrs = []netip.Addr{vip100} }), DropWrongFamily},
		{"v3 advert to a v2 instance", change(v2, func(a *Advert) { a.Version, a.AuthType, a.AuthData = 3, 0, [8]byte{} }), mcast, v2Want, DropWrongVersion},
		{"another VRID", change(v2, func(a *Advert) { a.VRID = 52 }), mcast, v2Want, DropWrongVRID},
		{"no auth to a PASS instance", change(v2, func(a *Advert) { a.AuthType, a.AuthData = AuthNone, [8]byte{} }), mcast, v2Want, DropAuthMismatch},
		{"bad password", change(v2, func(a *Advert) { a.AuthData = AuthKey("1112") }), mcast, v2Want, DropBadPassword},
		{"password longer in the advert", change(v2, func(a *Advert) { a.AuthData = AuthKey("11111") }), mcast, v2Want, DropBadPassword},
		{"AH accepted", ahAdv, ahRx, ahWant, 0},
		{"AH replayed sequence", ahAdv, ahRx, changeW(ahWant, func(e *Expect) { e.AHSeq = 5 }), DropAHReplay},
		{"AH header to a PASS instance", v2, ahRx, v2Want, DropAuthMismatch},
		{"no AH header to an AH instance", ahAdv, mcast, ahWant, DropAuthMismatch},
		{"VRRPv3 behind AH", Advert{Version: 3, VRID: 51, Priority: 150, Interval: time.Second, Addrs: []netip.Addr{vip100}}, ahRx,
			Expect{Version: 3, VRID: 51, Interval: time.Second, Addrs: []netip.Addr{vip100}}, DropAuthMismatch},
		{"v2 interval mismatch", change(v2, func(a *Advert) { a.Interval = 2 * time.Second }), mcast, v2Want, DropIntervalMismatch},
		{"unicast advert to a multicast instance", v2, changeRx(mcast, func(r *RxMeta) { r.Dst = node2 }), v2Want, DropWrongDestination},
		{"multicast advert to a unicast instance", v2, changeRx(uniRx, func(r *RxMeta) { r.Dst = group4 }), uniWant, DropWrongDestination},
		{"unicast from an unknown peer", v2, changeRx(uniRx, func(r *RxMeta) { r.Src = netip.MustParseAddr("10.99.0.13") }), uniWant, DropUnknownPeer},
		{"unknown peer allowed without check_unicast_src", v2, changeRx(uniRx, func(r *RxMeta) { r.Src = netip.MustParseAddr("10.99.0.13") }),
			changeW(uniWant, func(e *Expect) { e.CheckUnicastSrc = false }), 0},
		{"address count mismatch", change(v2, func(a *Advert) { a.Addrs = append(a.Addrs, vip101) }), mcast, v2Want, DropAddrCount},
		{"address list mismatch", change(v2, func(a *Advert) { a.Addrs = []netip.Addr{vip101} }), mcast, v2Want, DropAddrList},
		// keepalived drops even an address owner's mismatching advert,
		// where RFC 3768 §7.1 would accept it.
		{"address list mismatch from the owner", change(v2, func(a *Advert) { a.Priority, a.Addrs = 255, []netip.Addr{vip101} }), mcast, v2Want, DropAddrList},
		{"address list mismatch with skip_check_adv_addr", change(v2, func(a *Advert) { a.Addrs = []netip.Addr{vip101, vip6} }), mcast,
			changeW(v2Want, func(e *Expect) { e.SkipAddrCheck = true }), 0},
		{"address order does not matter", change(v2, func(a *Advert) { a.Addrs = []netip.Addr{vip101, vip100} }), mcast,
			changeW(v2Want, func(e *Expect) { e.Addrs = []netip.Addr{vip100, vip101} }), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.a, tt.rx, tt.want)
			got, isDrop := ReasonOf(err)
			if diff := cmp.Diff(dropResult{tt.drop, tt.drop != 0}, dropResult{got, isDrop}); diff != "" {
				t.Errorf("Validate = %v; (-want +got):\n%s", err, diff)
			}
			if err != nil && !isDrop {
				t.Errorf("Validate returned a non-drop error %v", err)
			}
		})
	}
}

// TestIPv4RoundTrip: IPv4 framing the captures lack (options, DF, a
// sender's own TTL) survives Marshal → DecodeIPv4, and the header checksum
// Marshal writes verifies.
func TestIPv4RoundTrip(t *testing.T) {
	a := Advert{Version: 3, VRID: 51, Priority: 150, Interval: 100 * time.Millisecond, Addrs: []netip.Addr{vip100, vip101}}
	for _, h := range []IPv4Header{
		{TOS: 0xc0, ID: 7, TTL: RequiredTTL, Protocol: ProtocolVRRP, Src: node1, Dst: group4},
		{TOS: 0, ID: 0xffff, FragOff: 0x4000, TTL: 64, Protocol: ProtocolVRRP, Src: node1, Dst: node2,
			Options: []byte{0x94, 0x04, 0, 0}}, // router alert
	} {
		p := IPv4Packet{IP: h, Advert: a}
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if c := checksum(0, b[:int(b[0]&0x0f)*4]); c != 0 {
			t.Errorf("IPv4 header checksum does not verify: %#04x", c)
		}
		got, err := DecodeIPv4(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p, got, addrCmp); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	bad := IPv4Packet{IP: IPv4Header{Protocol: ProtocolVRRP, Src: node1, Dst: group4, Options: []byte{1, 2, 3}}, Advert: a}
	if _, err := bad.Marshal(); err == nil {
		t.Error("3 octets of options: no error")
	}
	v6 := IPv4Packet{IP: IPv4Header{Protocol: ProtocolVRRP, Src: node1v6, Dst: group6}, Advert: a}
	if _, err := v6.Marshal(); err == nil {
		t.Error("IPv6 addresses in an IPv4 header: no error")
	}
}

func BenchmarkDecodeAdvert(b *testing.B) {
	p := mustCapture(b, "keepalived-2.2.7-vrrpv3-ipv6")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeAdvert(p.payload, p.src, p.dst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	p := mustCapture(b, "keepalived-2.2.7-vrrpv3-ipv6")
	a, err := DecodeAdvert(p.payload, p.src, p.dst)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Marshal(p.src, p.dst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAndVerifyAH(b *testing.B) {
	p := mustCapture(b, "keepalived-2.2.7-vrrpv2-ipv4-ah")
	key := AuthKey("secret12")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeIPv4(p.datagram); err != nil {
			b.Fatal(err)
		}
		if err := VerifyAH(p.datagram, key, false); err != nil {
			b.Fatal(err)
		}
	}
}
