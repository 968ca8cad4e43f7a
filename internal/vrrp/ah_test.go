package vrrp

import (
	"net/netip"
	"testing"
)

// TestVerifyAHDrops: keepalived's AH checks (vrrp_in_chk_ipsecah).
func TestVerifyAHDrops(t *testing.T) {
	ah := mustCapture(t, "keepalived-2.2.7-vrrpv2-ipv4-ah")
	pass := mustCapture(t, "keepalived-2.2.7-vrrpv2-ipv4-pass")
	key := AuthKey("secret12")
	resign := func(b []byte) []byte {
		if err := SignAH(b, key, false); err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name     string
		datagram []byte
		key      [8]byte
		zeroTTL  bool
		want     DropReason // 0: accepted
	}{
		{"captured", ah.datagram, key, false, 0},
		// TOS, flags/fragment offset and header checksum are mutable and
		// not covered; TTL is covered outside unicast mode.
		{"TOS and checksum changed", edit(ah.datagram, func(b []byte) []byte { b[1], b[10] = 0, 0; return b }), key, false, 0},
		{"DF set in transit", edit(ah.datagram, func(b []byte) []byte { b[6] = 0x40; return b }), key, false, 0},
		{"TTL decremented", edit(ah.datagram, func(b []byte) []byte { b[8] = 254; return b }), key, false, DropAHICV},
		{"TTL ignored in unicast mode", resignTTL(t, ah.datagram, key), key, true, 0},
		{"IP ID changed", edit(ah.datagram, func(b []byte) []byte { b[5]++; return b }), key, false, DropAHICV},
		{"priority raised", edit(ah.datagram, func(b []byte) []byte { b[46] = 255; return b }), key, false, DropAHICV},
		{"sequence replaced", edit(ah.datagram, func(b []byte) []byte { b[31] = 9; return b }), key, false, DropAHICV},
		{"ICV flipped", edit(ah.datagram, func(b []byte) []byte { b[43] ^= 1; return b }), key, false, DropAHICV},
		{"wrong key", ah.datagram, AuthKey("1111"), false, DropAHICV},
		{"SPI not the source", resign(edit(ah.datagram, func(b []byte) []byte { b[27] = 99; return b })), key, false, DropAHSPI},
		{"no AH at all", pass.datagram, key, false, DropAuthMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyAH(tt.datagram, tt.key, tt.zeroTTL)
			got, _ := ReasonOf(err)
			if got != tt.want {
				t.Errorf("VerifyAH = %v, want reason %v", err, tt.want)
			}
			if tt.want == 0 && err != nil {
				t.Errorf("VerifyAH = %v, want nil", err)
			}
		})
	}
}

// resignTTL signs the datagram in unicast mode, then changes the TTL.
func resignTTL(t *testing.T, b []byte, key [8]byte) []byte {
	b = append([]byte(nil), b...)
	if err := SignAH(b, key, true); err != nil {
		t.Fatal(err)
	}
	b[8] = 64
	return b
}

// TestSPIFor: keepalived's SPI is the source address octets.
func TestSPIFor(t *testing.T) {
	for addr, want := range map[netip.Addr]uint32{
		node1:                          0x0a63000b,
		node2:                          0x0a63000c,
		netip.AddrFrom16(node1.As16()): 0x0a63000b, // IPv4-mapped from a dual-stack API
	} {
		if got := SPIFor(addr); got != want {
			t.Errorf("SPIFor(%s) = %#08x, want %#08x", addr, got, want)
		}
	}
}

// TestAHMarshalConsistency: the IP protocol and the AH must agree.
func TestAHMarshalConsistency(t *testing.T) {
	a := Advert{Version: 2, VRID: 52, Priority: 150, Interval: 1e9, Addrs: []netip.Addr{vip101}, AuthType: AuthAH}
	hdr := IPv4Header{TOS: 0xc0, ID: 1, TTL: RequiredTTL, Src: node1, Dst: group4}
	for _, tt := range []struct {
		name  string
		proto uint8
		ah    *AH
	}{
		{"AH without protocol 51", ProtocolVRRP, &AH{SPI: SPIFor(node1), Seq: 1}},
		{"protocol 51 without AH", ProtocolAH, nil},
	} {
		h := hdr
		h.Protocol = tt.proto
		if b, err := (IPv4Packet{IP: h, AH: tt.ah, Advert: a}).Marshal(); err == nil {
			t.Errorf("%s: Marshal = % x, want an error", tt.name, b)
		}
	}
	h := hdr
	h.Protocol = ProtocolVRRP
	if err := SignAH(mustMarshal(t, IPv4Packet{IP: h, Advert: a}), AuthKey("x"), false); err == nil {
		t.Error("SignAH on a datagram without AH: no error")
	}
}

func mustMarshal(t *testing.T, p IPv4Packet) []byte {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
