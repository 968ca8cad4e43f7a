package ipvs

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMobyConversionRoundTrip checks the encoding of settings that the
// kernel stores in odd forms (flags, netmask byte order) without a kernel:
// what toMoby* produces, fromMoby* must read back unchanged.
func TestMobyConversionRoundTrip(t *testing.T) {
	tab := mustTable(t, `TCP 10.99.0.1:80 sched=sh flags=sh-fallback,sh-port ops persistent=300 granularity=24
  -> 10.99.1.1:8080 fwd=nat weight=3 u=100 l=10
UDP 10.99.0.1:53 sched=rr
  -> 10.99.1.1:53 fwd=dr weight=0
FWM 7 sched=wlc persistent=60 granularity=1
  -> 10.99.1.2:0 fwd=tun weight=1
TCP [fd00:99::1]:443 sched=mh flags=mh-port persistent=10 granularity=64
  -> [fd00:99::2]:443 fwd=nat weight=65535
FWM 8 IPv6 sched=lblcr
`)
	for _, s := range tab {
		ms, err := toMobyService(s)
		if err != nil {
			t.Fatalf("%s: %v", s.Key, err)
		}
		back, err := fromMobyService(ms)
		if err != nil {
			t.Fatalf("%s: %v", s.Key, err)
		}
		for _, d := range s.Dests {
			md, err := toMobyDest(d)
			if err != nil {
				t.Fatalf("%s: %v", d.Key(), err)
			}
			bd, err := fromMobyDest(md)
			if err != nil {
				t.Fatal(err)
			}
			back.Dests = append(back.Dests, bd)
		}
		if diff := cmp.Diff(Table{s}.String(), Table{back}.String()); diff != "" {
			t.Errorf("round trip of %s (-want +got):\n%s", s.Key, diff)
		}
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
		nativePut(wire[:], v)
		if wire != tc.bytes {
			t.Errorf("encodeNetmask(%s, %d) sends %v, want %v", tc.f, tc.prefix, wire, tc.bytes)
		}
		if got, err := decodeNetmask(tc.f, v); err != nil || got != tc.prefix {
			t.Errorf("decodeNetmask(%s, %#x) = %d, %v; want %d", tc.f, v, got, err, tc.prefix)
		}
	}
	var v uint32
	nativeGet([]byte{255, 0, 255, 0}, &v)
	if _, err := decodeNetmask(IPv4, v); err == nil {
		t.Error("decodeNetmask accepted the non-contiguous mask 255.0.255.0")
	}
}

func TestUnsupportedByLibraryIsAnError(t *testing.T) {
	if _, err := toMobyService(Service{Key: FWMarkKey(IPv4, 1), Scheduler: "rr", Persistence: Persistence{Timeout: 1, Engine: "sip"}}); err == nil {
		t.Error("persistence engine accepted, but moby/ipvs cannot read it back")
	}
	d := mustTable(t, "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=tun tun=gue tunport=5555\n")[0].Dests[0]
	if _, err := toMobyDest(d); err == nil {
		t.Error("tun_type gue accepted, but moby/ipvs cannot send it")
	}
}

func nativePut(b []byte, v uint32)  { binary.NativeEndian.PutUint32(b, v) }
func nativeGet(b []byte, v *uint32) { *v = binary.NativeEndian.Uint32(b) }
