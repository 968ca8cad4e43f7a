package vrrp

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fuzzSeeds adds every VRRP packet of every capture.
func fuzzSeeds(f *testing.F, add func(p capturedPacket)) {
	f.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "captures", "*.pcap"))
	if err != nil || len(paths) == 0 {
		f.Fatalf("no capture seeds: %v", err)
	}
	for _, path := range paths {
		for _, p := range readPcap(f, path) {
			add(p)
		}
	}
}

// FuzzDecodeAdvert: DecodeAdvert never panics and fails only with a
// *DropError; whatever it accepts Marshal encodes, and decode → encode →
// decode is stable.
func FuzzDecodeAdvert(f *testing.F) {
	fuzzSeeds(f, func(p capturedPacket) { f.Add(p.payload, p.src.AsSlice(), p.dst.AsSlice()) })
	f.Fuzz(func(t *testing.T, payload, srcB, dstB []byte) {
		src, _ := netip.AddrFromSlice(srcB)
		dst, _ := netip.AddrFromSlice(dstB)
		a, err := DecodeAdvert(payload, src, dst)
		if err != nil {
			if _, ok := ReasonOf(err); !ok {
				t.Fatalf("DecodeAdvert error %v is not a *DropError", err)
			}
			return
		}
		enc, err := a.Marshal(src, dst)
		if err != nil {
			t.Fatalf("Marshal of decoded %+v: %v", a, err)
		}
		if len(enc) != len(payload) {
			t.Fatalf("re-encoded %d octets from %d", len(enc), len(payload))
		}
		b, err := DecodeAdvert(enc, src, dst)
		if err != nil {
			t.Fatalf("DecodeAdvert(Marshal) = %v\n% x", err, enc)
		}
		if diff := cmp.Diff(a, b, addrCmp); diff != "" {
			t.Fatalf("decode → encode → decode (-first +second):\n%s", diff)
		}
		enc2, err := b.Marshal(src, dst)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("second Marshal = % x, %v; first % x", enc2, err, enc)
		}
		// The instance checks take anything the decoder accepts.
		_ = Validate(a, RxMeta{Src: src, Dst: dst, TTL: 255}, Expect{
			Version: a.Version, VRID: a.VRID, AuthType: AuthPass, Interval: time.Second,
			Addrs: []netip.Addr{vip100, vip6},
		})
	})
}

// FuzzDecodeIPv4: the same for whole IPv4 datagrams, with and without AH;
// VerifyAH never panics either.
func FuzzDecodeIPv4(f *testing.F) {
	fuzzSeeds(f, func(p capturedPacket) {
		if p.datagram != nil {
			f.Add(p.datagram)
		}
	})
	key := AuthKey("secret12")
	f.Fuzz(func(t *testing.T, datagram []byte) {
		verr := VerifyAH(datagram, key, false)
		if _, ok := ReasonOf(verr); verr != nil && !ok {
			t.Fatalf("VerifyAH error %v is not a *DropError", verr)
		}
		p, err := DecodeIPv4(datagram)
		if err != nil {
			if _, ok := ReasonOf(err); !ok {
				t.Fatalf("DecodeIPv4 error %v is not a *DropError", err)
			}
			return
		}
		enc, err := p.Marshal()
		if err != nil {
			t.Fatalf("Marshal of decoded %+v: %v", p, err)
		}
		q, err := DecodeIPv4(enc)
		if err != nil {
			t.Fatalf("DecodeIPv4(Marshal) = %v\n% x", err, enc)
		}
		if diff := cmp.Diff(p, q, addrCmp); diff != "" {
			t.Fatalf("decode → encode → decode (-first +second):\n%s", diff)
		}
		enc2, err := q.Marshal()
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("second Marshal = % x, %v; first % x", enc2, err, enc)
		}
		// An ICV that verified still verifies after re-encoding: the
		// fields Marshal may normalise (header checksum) are not covered.
		if verr == nil {
			if err := VerifyAH(enc, key, false); err != nil && bytes.Equal(datagram[:20], enc[:20]) {
				t.Fatalf("VerifyAH after re-encode: %v", err)
			}
		}
	})
}
