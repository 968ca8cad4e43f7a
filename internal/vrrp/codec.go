package vrrp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// IP-level constants of VRRP.
const (
	// ProtocolVRRP is the IP protocol number of VRRP (RFC 3768 §5.2.4,
	// RFC 5798 §5.1.1.4).
	ProtocolVRRP = 112
	// ProtocolAH is the IP protocol number of the IPsec Authentication
	// Header that keepalived's auth_type AH puts before a VRRPv2 advert.
	ProtocolAH = 51
	// RequiredTTL is the IPv4 TTL / IPv6 hop limit every advert is sent
	// with and, outside unicast mode, must arrive with (RFC 5798 §5.1.1.3,
	// §5.1.2.3, §7.1).
	RequiredTTL = 255
)

// Wire sizes.
const (
	vrrpHeaderLen = 8  // version/type .. checksum, both versions
	authDataLen   = 8  // VRRPv2 Authentication Data
	ipv4HeaderLen = 20 // without options
	ahLen         = 24 // next header, payload len, reserved, SPI, seq, 96-bit ICV
	ahPayloadLen  = ahLen/4 - 2
	icvLen        = 12

	typeAdvert = 1 // RFC 5798 §5.2.2: the only VRRP packet type

	maxIntervalV2 = 255 * time.Second             // Adver Int is 8 bits of seconds
	maxIntervalV3 = 0xfff * 10 * time.Millisecond // Max Adver Int is 12 bits of centiseconds
	centisecond   = 10 * time.Millisecond
)

// DecodeAdvert decodes one VRRP advertisement: payload is the IP payload
// (the VRRP message, after any IPv4 or AH header), src and dst the packet's
// IP source and destination. IPv4-mapped IPv6 src/dst are unmapped; a zone
// is ignored.
//
// It checks what the packet alone can tell (RFC 3768 §7.1, RFC 5798 §7.1):
// length, version, type, checksum (VRRPv3 over the IPv4 or IPv6
// pseudo-header built from src and dst), VRID, interval and auth type. A
// failure is a *DropError. Checks against an instance's config (TTL, VRID,
// auth, address list) are Validate's.
//
// The IPv6 receive path passes the payload with the addresses from the
// packet and IPV6_PKTINFO. An IPv4 raw socket returns the whole datagram:
// use DecodeIPv4, which calls DecodeAdvert.
func DecodeAdvert(payload []byte, src, dst netip.Addr) (Advert, error) {
	src, dst = src.Unmap(), dst.Unmap()
	if len(payload) < vrrpHeaderLen {
		return Advert{}, drop(DropTruncated, "VRRP message of "+itoa(len(payload))+" octets, need at least 8")
	}
	version, typ := payload[0]>>4, payload[0]&0x0f
	if version != 2 && version != 3 {
		return Advert{}, drop(DropBadVersion, "version "+itoa(int(version)))
	}
	if typ != typeAdvert {
		return Advert{}, drop(DropBadType, "type "+itoa(int(typ)))
	}
	if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
		return Advert{}, drop(DropWrongFamily, "source "+src.String()+" and destination "+dst.String()+" are not of one IP family")
	}
	if version == 2 && !src.Is4() {
		return Advert{}, drop(DropWrongFamily, "VRRPv2 from "+src.String()+": RFC 3768 is IPv4 only")
	}
	addrLen := 4
	if !src.Is4() {
		addrLen = 16
	}
	count := int(payload[3])
	want := vrrpHeaderLen + count*addrLen
	if version == 2 {
		want += authDataLen
	}
	if len(payload) != want {
		return Advert{}, drop(DropBadLength, "length "+itoa(len(payload))+" for "+itoa(count)+
			" addresses of "+itoa(addrLen)+" octets, want "+itoa(want))
	}
	if version == 2 {
		if c := checksum(0, payload); c != 0 {
			return Advert{}, drop(DropBadChecksum, fmt.Sprintf("VRRPv2 checksum 0x%04x does not verify", binary.BigEndian.Uint16(payload[6:])))
		}
	} else if c := checksum(pseudoSum(src, dst, len(payload)), payload); c != 0 {
		return Advert{}, drop(DropBadChecksum, fmt.Sprintf("VRRPv3 checksum 0x%04x does not verify for %s > %s",
			binary.BigEndian.Uint16(payload[6:]), src, dst))
	}

	a := Advert{Version: version, VRID: payload[1], Priority: payload[2]}
	if a.VRID == 0 {
		return Advert{}, drop(DropZeroVRID, "VRID 0 is outside 1-255")
	}
	if version == 2 {
		a.AuthType = payload[4]
		a.Interval = time.Duration(payload[5]) * time.Second
		copy(a.AuthData[:], payload[want-authDataLen:])
		if a.AuthType > AuthAH {
			return Advert{}, drop(DropBadAuthType, "auth type "+itoa(int(a.AuthType)))
		}
	} else {
		// RFC 5798 §5.2.5: the 4 reserved bits are ignored on reception.
		a.Interval = time.Duration(binary.BigEndian.Uint16(payload[4:])&0x0fff) * centisecond
	}
	if a.Interval == 0 {
		return Advert{}, drop(DropZeroInterval, "advertisement interval 0")
	}
	if count > 0 {
		a.Addrs = make([]netip.Addr, count)
	}
	for i := range count {
		b := payload[vrrpHeaderLen+i*addrLen:]
		if addrLen == 4 {
			a.Addrs[i] = netip.AddrFrom4([4]byte(b[:4]))
			continue
		}
		ip := netip.AddrFrom16([16]byte(b[:16]))
		if ip.Is4In6() {
			return Advert{}, drop(DropWrongFamily, "IPv4-mapped address "+ip.String()+" in an IPv6 advert")
		}
		a.Addrs[i] = ip
	}
	return a, nil
}

// Marshal encodes a as the VRRP message of an IP packet from src to dst,
// with its checksum: for VRRPv2 over the message alone (RFC 3768 §5.3.8),
// for VRRPv3 over the IPv4 or IPv6 pseudo-header too (RFC 5798 §5.2.8), so
// src and dst must be the addresses the packet is sent with. VRRPv2 ignores
// src and dst except that, when valid, they must be IPv4.
//
// Interval must be whole seconds 1-255 s (v2) or whole centiseconds
// 10 ms-40.95 s (v3); Addrs of one family, at most 255, the family of src.
// VRRPv2 Authentication Data is written as AuthData holds it: the
// password for AuthPass, zeros (as keepalived sends) for AuthNone and
// AuthAH. An AuthAH advert goes out in an IPv4Packet signed with SignAH.
func (a Advert) Marshal(src, dst netip.Addr) ([]byte, error) {
	return a.appendMarshal(nil, src, dst)
}

func (a Advert) appendMarshal(b []byte, src, dst netip.Addr) ([]byte, error) {
	src, dst = src.Unmap(), dst.Unmap()
	if err := a.check(src, dst); err != nil {
		return nil, err
	}
	start := len(b)
	if b == nil {
		b = make([]byte, 0, vrrpHeaderLen+authDataLen+16*len(a.Addrs))
	}
	b = append(b, a.Version<<4|typeAdvert, a.VRID, a.Priority, uint8(len(a.Addrs)))
	if a.Version == 2 {
		b = append(b, a.AuthType, uint8(a.Interval/time.Second), 0, 0)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(a.Interval/centisecond))
		b = append(b, 0, 0)
	}
	for _, ip := range a.Addrs {
		if ip.Is4() {
			v := ip.As4()
			b = append(b, v[:]...)
		} else {
			v := ip.As16()
			b = append(b, v[:]...)
		}
	}
	if a.Version == 2 {
		b = append(b, a.AuthData[:]...)
	}
	msg := b[start:]
	var sum uint32
	if a.Version == 3 {
		sum = pseudoSum(src, dst, len(msg))
	}
	binary.BigEndian.PutUint16(msg[6:], checksum(sum, msg))
	return b, nil
}

// check reports why a cannot be marshalled from src to dst.
func (a Advert) check(src, dst netip.Addr) error {
	switch a.Version {
	case 2, 3:
	default:
		return fmt.Errorf("marshal VRRP advert: version %d, want 2 or 3", a.Version)
	}
	if a.VRID == 0 {
		return errors.New("marshal VRRP advert: VRID 0, want 1-255")
	}
	if len(a.Addrs) > 255 {
		return fmt.Errorf("marshal VRRP advert: %d addresses, at most 255 fit Count IP Addrs", len(a.Addrs))
	}
	v4 := true
	if a.Version == 3 {
		if !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4() {
			return fmt.Errorf("marshal VRRPv3 advert: source %s and destination %s must be valid addresses of one family (checksum pseudo-header)", src, dst)
		}
		v4 = src.Is4()
	} else if (src.IsValid() && !src.Is4()) || (dst.IsValid() && !dst.Is4()) {
		return fmt.Errorf("marshal VRRPv2 advert: %s > %s: VRRPv2 is IPv4 only (RFC 3768)", src, dst)
	}
	for _, ip := range a.Addrs {
		if !ip.IsValid() || ip.Is4() != v4 || ip.Is4In6() {
			return fmt.Errorf("marshal VRRPv%d advert: address %s is not of the packet's family (IPv4 %t)", a.Version, ip, v4)
		}
	}
	switch a.Version {
	case 2:
		if a.Interval < time.Second || a.Interval > maxIntervalV2 || a.Interval%time.Second != 0 {
			return fmt.Errorf("marshal VRRPv2 advert: interval %v, want whole seconds 1s-255s", a.Interval)
		}
		if a.AuthType > AuthAH {
			return fmt.Errorf("marshal VRRPv2 advert: auth type %d, want 0 (none), 1 (PASS) or 2 (AH)", a.AuthType)
		}
	case 3:
		if a.Interval < centisecond || a.Interval > maxIntervalV3 || a.Interval%centisecond != 0 {
			return fmt.Errorf("marshal VRRPv3 advert: interval %v, want whole centiseconds 10ms-40.95s", a.Interval)
		}
		if a.AuthType != AuthNone || a.AuthData != [authDataLen]byte{} {
			return fmt.Errorf("marshal VRRPv3 advert: auth type %d with auth data: VRRPv3 has no authentication (RFC 5798 §9)", a.AuthType)
		}
	}
	return nil
}

// AuthKey returns the 8 octets keepalived uses for auth_pass, both as the
// PASS Authentication Data and as the AH HMAC key: the first 8 characters,
// zero padded (keepalived.conf(5): only the first eight characters are
// used).
func AuthKey(pass string) [8]byte {
	var k [8]byte
	copy(k[:], pass)
	return k
}

// IPv4Header holds the IPv4 header fields of a datagram that carries VRRP.
// Version, IHL, total length and header checksum are computed.
type IPv4Header struct {
	TOS      uint8  // keepalived sends 0xc0 (network control)
	ID       uint16 // keepalived counts from 1 per instance
	FragOff  uint16 // flags and fragment offset as on the wire
	TTL      uint8
	Protocol uint8 // ProtocolVRRP or ProtocolAH
	Src, Dst netip.Addr
	Options  []byte // (IHL-5)*4 octets of options, usually none
}

// IPv4Packet is an IPv4 datagram carrying a VRRP advertisement, directly
// (protocol 112) or behind keepalived's IPsec AH (protocol 51).
type IPv4Packet struct {
	IP     IPv4Header
	AH     *AH // nil unless IP.Protocol is ProtocolAH
	Advert Advert
}

// DecodeIPv4 decodes a whole IPv4 datagram as a Linux raw IPv4 socket
// (protocol 112 or 51) returns it, header included. It checks the header
// (version, IHL, total length against len(datagram), protocol, AH next
// header) and decodes the advert with DecodeAdvert. It does not verify the
// IP header checksum (the kernel has) nor the AH ICV: call VerifyAH with
// the same bytes and the key. The TTL is reported in IP.TTL for Validate.
func DecodeIPv4(datagram []byte) (IPv4Packet, error) {
	h, hlen, err := parseIPv4Header(datagram)
	if err != nil {
		return IPv4Packet{}, err
	}
	p := IPv4Packet{IP: h}
	payload := datagram[hlen:]
	switch h.Protocol {
	case ProtocolVRRP:
	case ProtocolAH:
		ah, err := parseAH(payload)
		if err != nil {
			return IPv4Packet{}, err
		}
		p.AH = &ah
		payload = payload[ahLen:]
	default:
		return IPv4Packet{}, drop(DropBadProtocol, "IP protocol "+itoa(int(h.Protocol))+", want 112 (VRRP) or 51 (AH)")
	}
	p.Advert, err = DecodeAdvert(payload, h.Src, h.Dst)
	if err != nil {
		return IPv4Packet{}, err
	}
	return p, nil
}

// parseIPv4Header returns the header and its length.
func parseIPv4Header(b []byte) (IPv4Header, int, error) {
	if len(b) < ipv4HeaderLen {
		return IPv4Header{}, 0, drop(DropTruncated, "IPv4 datagram of "+itoa(len(b))+" octets")
	}
	if v := b[0] >> 4; v != 4 {
		return IPv4Header{}, 0, drop(DropBadProtocol, "IP version "+itoa(int(v))+" in an IPv4 datagram")
	}
	hlen := int(b[0]&0x0f) * 4
	if hlen < ipv4HeaderLen {
		return IPv4Header{}, 0, drop(DropBadProtocol, "IPv4 header length "+itoa(hlen))
	}
	if len(b) < hlen {
		return IPv4Header{}, 0, drop(DropTruncated, "IPv4 header of "+itoa(hlen)+" octets in "+itoa(len(b)))
	}
	// keepalived: the total length must match what was received.
	if tot := int(binary.BigEndian.Uint16(b[2:])); tot != len(b) {
		return IPv4Header{}, 0, drop(DropBadLength, "IPv4 total length "+itoa(tot)+", received "+itoa(len(b)))
	}
	h := IPv4Header{
		TOS:      b[1],
		ID:       binary.BigEndian.Uint16(b[4:]),
		FragOff:  binary.BigEndian.Uint16(b[6:]),
		TTL:      b[8],
		Protocol: b[9],
		Src:      netip.AddrFrom4([4]byte(b[12:16])),
		Dst:      netip.AddrFrom4([4]byte(b[16:20])),
	}
	if hlen > ipv4HeaderLen {
		h.Options = append([]byte(nil), b[ipv4HeaderLen:hlen]...)
	}
	return h, hlen, nil
}

// Marshal encodes the datagram: IPv4 header (with total length and header
// checksum; the kernel rewrites both under IP_HDRINCL anyway), the AH if
// p.AH is set (with the ICV it holds: use SignAH to compute it) and the
// advert. p.IP.Protocol must agree with p.AH.
func (p IPv4Packet) Marshal() ([]byte, error) {
	h := p.IP
	src, dst := h.Src.Unmap(), h.Dst.Unmap()
	if !src.Is4() || !dst.Is4() {
		return nil, fmt.Errorf("marshal IPv4 VRRP datagram: %s > %s are not IPv4 addresses", h.Src, h.Dst)
	}
	if len(h.Options)%4 != 0 || len(h.Options) > 40 {
		return nil, fmt.Errorf("marshal IPv4 VRRP datagram: %d octets of options, want a multiple of 4 up to 40", len(h.Options))
	}
	switch {
	case h.Protocol == ProtocolVRRP && p.AH == nil, h.Protocol == ProtocolAH && p.AH != nil:
	default:
		return nil, fmt.Errorf("marshal IPv4 VRRP datagram: protocol %d with AH %t; want 112 without AH or 51 with", h.Protocol, p.AH != nil)
	}
	hlen := ipv4HeaderLen + len(h.Options)
	b := make([]byte, hlen, hlen+ahLen+vrrpHeaderLen+authDataLen+4*len(p.Advert.Addrs))
	b[0] = 4<<4 | uint8(hlen/4)
	b[1] = h.TOS
	binary.BigEndian.PutUint16(b[4:], h.ID)
	binary.BigEndian.PutUint16(b[6:], h.FragOff)
	b[8] = h.TTL
	b[9] = h.Protocol
	s4, d4 := src.As4(), dst.As4()
	copy(b[12:], s4[:])
	copy(b[16:], d4[:])
	copy(b[20:], h.Options)
	if p.AH != nil {
		b = p.AH.append(b)
	}
	b, err := p.Advert.appendMarshal(b, src, dst)
	if err != nil {
		return nil, err
	}
	if len(b) > 0xffff {
		return nil, fmt.Errorf("marshal IPv4 VRRP datagram: %d octets exceed the IPv4 total length", len(b))
	}
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[10:], checksum(0, b[:hlen]))
	return b, nil
}

// checksum returns the Internet checksum (RFC 1071) of b, starting from
// the partial sum sum. Over data that holds a correct checksum it is 0.
func checksum(sum uint32, b []byte) uint16 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// pseudoSum is the partial checksum of the pseudo-header RFC 5798 §5.2.8
// prescribes: RFC 768's for IPv4 (src, dst, zero, protocol, length) and
// RFC 8200 §8.1's for IPv6 (src, dst, 32-bit length, zeros, next header).
func pseudoSum(src, dst netip.Addr, n int) uint32 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		add(s[:])
		add(d[:])
	} else {
		s, d := src.As16(), dst.As16()
		add(s[:])
		add(d[:])
		sum += uint32(n >> 16)
	}
	sum += ProtocolVRRP + uint32(n&0xffff)
	return sum
}
