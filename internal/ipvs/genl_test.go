package ipvs

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"
)

// codecTable covers every setting the encoder sends: flags, netmask byte
// order, persistence engine, fwmark, IPv6, thresholds, tunnel types.
const codecTable = `TCP 10.99.0.1:80 sched=sh flags=sh-fallback,sh-port ops persistent=300 granularity=24
  -> 10.99.1.1:8080 fwd=nat weight=3 u=100 l=10
  -> 10.99.1.2:8080 fwd=tun weight=1 tun=gue tunport=6080 csum remcsum
  -> 10.99.1.3:8080 fwd=tun weight=2 tun=gre
UDP 10.99.0.1:53 sched=rr
  -> 10.99.1.1:53 fwd=dr weight=0
UDP 10.99.0.17:5060 sched=rr persistent=30 pe=sip
FWM 7 sched=wlc persistent=60 granularity=1
  -> 10.99.1.2:0 fwd=tun weight=1
TCP [fd00:99::1]:443 sched=mh flags=mh-port persistent=10 granularity=64
  -> [fd00:99::2]:443 fwd=nat weight=65535
FWM 8 IPv6 sched=lblcr
`

// TestCodecRoundTrip encodes the add ops of a table and decodes them as
// the kernel's dump answers, which use the same attributes: every
// setting must come back unchanged.
func TestCodecRoundTrip(t *testing.T) {
	tab := mustTable(t, codecTable)
	if err := tab.Validate(); err != nil {
		t.Fatal(err)
	}
	var back Table
	for _, op := range Diff(tab, nil, nil) {
		var e encoder
		if err := e.op(0x20, nlmFRequest, 1, op); err != nil {
			t.Fatalf("%v: %v", op, err)
		}
		msgs, err := splitMessages(e.b)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("%v: split %d messages, %v", op, len(msgs), err)
		}
		switch op.Kind {
		case AddService:
			s, err := decodeService(msgs[0])
			if err != nil {
				t.Fatalf("%v: %v", op, err)
			}
			back = append(back, s)
		case AddDest:
			d, err := decodeDest(msgs[0], op.Service.Key.Family)
			if err != nil {
				t.Fatalf("%v: %v", op, err)
			}
			back[len(back)-1].Dests = append(back[len(back)-1].Dests, d)
		}
	}
	if diff := cmp.Diff(tab.String(), back.String()); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

// TestEncodeAddDestBytes spells out one message byte by byte from
// linux/include/uapi/linux/ip_vs.h, independently of the encoder.
func TestEncodeAddDestBytes(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the expected bytes are little-endian")
	}
	op := Op{Kind: AddDest, Service: Service{Key: AddrPortKey(TCP, netip.MustParseAddrPort("10.99.0.1:80"))},
		Dest: Destination{Addr: netip.MustParseAddr("10.99.1.2"), Port: 8080, Forward: Tunnel, Weight: 3,
			TunType: GUE, TunPort: 6080, TunFlags: TunCsum}}
	want := []byte{
		140, 0, 0, 0, 0x20, 0, 5, 0, 7, 0, 0, 0, 0, 0, 0, 0, // nlmsghdr: len, family 0x20, REQUEST|ACK, seq 7, pid 0
		5, 1, 0, 0, // genlmsghdr: IPVS_CMD_NEW_DEST, version 1
		36, 0, 1, 0, // IPVS_CMD_ATTR_SERVICE
		6, 0, 1, 0, 2, 0, 0, 0, // IPVS_SVC_ATTR_AF AF_INET
		6, 0, 2, 0, 6, 0, 0, 0, // IPVS_SVC_ATTR_PROTOCOL TCP
		8, 0, 3, 0, 10, 99, 0, 1, // IPVS_SVC_ATTR_ADDR
		6, 0, 4, 0, 0, 80, 0, 0, // IPVS_SVC_ATTR_PORT, network order
		84, 0, 2, 0, // IPVS_CMD_ATTR_DEST
		8, 0, 1, 0, 10, 99, 1, 2, // IPVS_DEST_ATTR_ADDR
		6, 0, 2, 0, 0x1f, 0x90, 0, 0, // IPVS_DEST_ATTR_PORT 8080
		6, 0, 11, 0, 2, 0, 0, 0, // IPVS_DEST_ATTR_ADDR_FAMILY
		8, 0, 3, 0, 2, 0, 0, 0, // IPVS_DEST_ATTR_FWD_METHOD IP_VS_CONN_F_TUNNEL
		8, 0, 4, 0, 3, 0, 0, 0, // IPVS_DEST_ATTR_WEIGHT
		8, 0, 5, 0, 0, 0, 0, 0, // IPVS_DEST_ATTR_U_THRESH
		8, 0, 6, 0, 0, 0, 0, 0, // IPVS_DEST_ATTR_L_THRESH
		5, 0, 13, 0, 1, 0, 0, 0, // IPVS_DEST_ATTR_TUN_TYPE GUE (u8)
		6, 0, 14, 0, 0x17, 0xc0, 0, 0, // IPVS_DEST_ATTR_TUN_PORT 6080, network order
		6, 0, 15, 0, 1, 0, 0, 0, // IPVS_DEST_ATTR_TUN_FLAGS CSUM
	}
	var e encoder
	if err := e.op(0x20, nlmFRequest|nlmFAck, 7, op); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(hex.Dump(want), hex.Dump(e.b)); diff != "" {
		t.Errorf("NEW_DEST message (-want +got):\n%s", diff)
	}
}

// TestEncodeGolden keeps the bytes of one message of each kind in
// testdata/genl.txtar (little-endian hosts; -update rewrites it).
func TestEncodeGolden(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("the golden bytes are little-endian")
	}
	tab := mustTable(t, codecTable)
	svc, v6 := tab[2], tab[len(tab)-2] // UDP with pe=sip; IPv6 with granularity
	fwm := tab[3]
	cases := []struct {
		name string
		op   Op
	}{
		{"add service persistence engine", Op{Kind: AddService, Service: bare(svc)}},
		{"edit service ipv6", Op{Kind: EditService, Service: bare(v6)}},
		{"delete service fwmark", Op{Kind: DelService, Service: bare(fwm)}},
		{"add destination gue", Op{Kind: AddDest, Service: bare(tab[0]), Dest: tab[0].Dests[1]}},
		{"edit destination gre", Op{Kind: EditDest, Service: bare(tab[0]), Dest: tab[0].Dests[2]}},
		{"edit destination ipv6", Op{Kind: EditDest, Service: bare(v6), Dest: v6.Dests[0]}},
		{"delete destination", Op{Kind: DelDest, Service: bare(tab[1]), Dest: tab[1].Dests[0]}},
	}
	const file = "testdata/genl.txtar"
	var ar txtar.Archive
	ar.Comment = []byte("One IPVS generic netlink message per op kind (family id 0x20, seq 1,\nNLM_F_REQUEST|NLM_F_ACK), as hex dumps. TestEncodeGolden; -update rewrites.\n")
	for _, tc := range cases {
		var e encoder
		if err := e.op(0x20, nlmFRequest|nlmFAck, 1, tc.op); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ar.Files = append(ar.Files, txtar.File{Name: tc.name + ": " + tc.op.String(), Data: []byte(hex.Dump(e.b))})
	}
	got := txtar.Format(&ar)
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", file, diff)
	}
}

func TestEncodeRefusesTunnelSettingsWithoutTUN(t *testing.T) {
	op := Op{Kind: AddDest, Service: Service{Key: FWMarkKey(IPv4, 1)},
		Dest: Destination{Addr: netip.MustParseAddr("10.99.1.1"), Forward: NAT, TunType: GUE, TunPort: 1}}
	var e encoder
	if err := e.op(0x20, nlmFRequest, 1, op); err == nil || !strings.Contains(err.Error(), "needs lb_kind TUN") {
		t.Errorf("encode of a NAT destination with tun_type gue: %v; want an error", err)
	}
	if len(e.b) != 0 {
		t.Errorf("encoder left %d bytes behind", len(e.b))
	}
}

// TestDecodeAnswers checks the parsing of what the kernel sends back:
// acks, errors, several messages in one datagram, dump ends.
func TestDecodeAnswers(t *testing.T) {
	msg := func(typ uint16, seq uint32, payload ...byte) []byte {
		b := binary.NativeEndian.AppendUint32(nil, uint32(nlmsgHdrLen+len(payload)))
		b = binary.NativeEndian.AppendUint16(b, typ)
		b = binary.NativeEndian.AppendUint16(b, 0)
		b = binary.NativeEndian.AppendUint32(b, seq)
		b = binary.NativeEndian.AppendUint32(b, 1234)
		b = append(b, payload...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	errno := func(e int32) []byte {
		return append(binary.NativeEndian.AppendUint32(nil, uint32(e)), make([]byte, nlmsgHdrLen)...)
	}
	buf := append(msg(nlmsgError, 5, errno(0)...), msg(nlmsgError, 6, errno(-int32(syscall.ESRCH))...)...)
	buf = append(buf, msg(nlmsgDone, 7, 0, 0, 0, 0)...)
	msgs, err := splitMessages(buf)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, fmt.Sprintf("type=%d seq=%d err=%v", m.typ, m.seq, m.errno()))
	}
	want := []string{"type=2 seq=5 err=<nil>", "type=2 seq=6 err=no such process", "type=3 seq=7 err=<nil>"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := splitMessages(buf[:len(buf)-3]); err == nil {
		t.Error("splitMessages accepted a truncated message")
	}
}

func TestNetmaskEncoding(t *testing.T) {
	tests := []struct {
		f      Family
		prefix int
		bytes  [4]byte // what goes on the wire, as the kernel reads it
	}{
		{IPv4, 0, [4]byte{255, 255, 255, 255}},
		{IPv4, 24, [4]byte{255, 255, 255, 0}},
		{IPv4, 1, [4]byte{128, 0, 0, 0}},
		{IPv6, 0, [4]byte{128, 0, 0, 0}}, // prefix 128 as a host-order u32 (little endian)
		{IPv6, 64, [4]byte{64, 0, 0, 0}},
	}
	for _, tc := range tests {
		v := encodeNetmask(tc.f, tc.prefix)
		var wire [4]byte
		binary.NativeEndian.PutUint32(wire[:], v)
		if wire != tc.bytes {
			t.Errorf("encodeNetmask(%s, %d) sends %v, want %v", tc.f, tc.prefix, wire, tc.bytes)
		}
		if got, err := decodeNetmask(tc.f, v); err != nil || got != tc.prefix {
			t.Errorf("decodeNetmask(%s, %#x) = %d, %v; want %d", tc.f, v, got, err, tc.prefix)
		}
	}
	if _, err := decodeNetmask(IPv4, binary.NativeEndian.Uint32([]byte{255, 0, 255, 0})); err == nil {
		t.Error("decodeNetmask accepted the non-contiguous mask 255.0.255.0")
	}
}

// FuzzDecode: no panic on any answer the kernel (or a bug) could send.
func FuzzDecode(f *testing.F) {
	tab := mustTable(f, codecTable)
	for _, op := range Diff(tab, nil, nil) {
		var e encoder
		if err := e.op(0x20, nlmFRequest, 1, op); err == nil {
			f.Add(e.b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, _ := splitMessages(b)
		for _, m := range msgs {
			_ = m.errno()
			_, _ = decodeService(m)
			_, _ = decodeDest(m, IPv4)
			_, _ = decodeFamilyID(m)
		}
	})
}

// BenchmarkEncodeOps encodes the 110,000 add ops of a 10,000 × 10 table
// into batches as ApplyBatch does; it should not allocate.
func BenchmarkEncodeOps(b *testing.B) {
	ops := Diff(bigTable(10000, 10), nil, nil)
	var e encoder
	b.ReportAllocs()
	for b.Loop() {
		for i, op := range ops {
			if i%batchOps == 0 {
				e.b = e.b[:0]
			}
			if err := e.op(0x20, nlmFRequest, uint32(i), op); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ops)), "ns/msg")
}
