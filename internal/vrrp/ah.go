package vrrp

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"encoding/binary"
	"net/netip"
)

// AH is the IPsec Authentication Header (RFC 2402 layout) that keepalived
// puts between the IPv4 header and a VRRPv2 advert for auth_type AH. It is
// not real IPsec: there is no SA; keepalived fixes the fields as follows.
//
//   - Next Header 112 (VRRP), Payload Len 4 (24 octets), Reserved 0.
//   - SPI: the sender's IPv4 source address, as the four address octets
//     (receivers drop an advert whose SPI is not its source: DropAHSPI).
//   - Sequence Number: one counter per instance, starting at 0; each
//     advert sent carries counter+1. An accepted advert raises the counter
//     to its number, and an advert whose number is not above the counter
//     is dropped (DropAHReplay). A new master therefore continues the old
//     master's numbers (seen in the captures: node2 sends 5 after node1's 4).
//   - ICV: HMAC-MD5 keyed with the 8 octets of AuthKey(auth_pass),
//     truncated to 96 bits, over the whole datagram with TOS, flags and
//     fragment offset, the header checksum and the ICV itself set to zero,
//     and also TTL in unicast mode (keepalived vrrp.c). The IP ID and the
//     VRRP message are covered.
//
// The VRRPv2 message behind it has auth type 2 (AuthAH) and zero
// Authentication Data.
type AH struct {
	SPI uint32 // big-endian reading of the octets: 10.99.0.11 is 0x0a63000b
	Seq uint32
	ICV [icvLen]byte
}

// SPIFor returns the SPI keepalived uses for source address src.
func SPIFor(src netip.Addr) uint32 {
	a := src.Unmap().As4()
	return binary.BigEndian.Uint32(a[:])
}

func parseAH(b []byte) (AH, error) {
	if len(b) < ahLen {
		return AH{}, drop(DropTruncated, "AH of "+itoa(len(b))+" octets, need 24")
	}
	if b[0] != ProtocolVRRP {
		// keepalived ignores AH for other protocols.
		return AH{}, drop(DropBadProtocol, "AH next header "+itoa(int(b[0]))+", want 112 (VRRP)")
	}
	if b[1] != ahPayloadLen {
		return AH{}, drop(DropBadProtocol, "AH payload length "+itoa(int(b[1]))+", want 4 (HMAC-MD5-96)")
	}
	h := AH{SPI: binary.BigEndian.Uint32(b[4:]), Seq: binary.BigEndian.Uint32(b[8:])}
	copy(h.ICV[:], b[12:ahLen])
	return h, nil
}

func (h AH) append(b []byte) []byte {
	b = append(b, ProtocolVRRP, ahPayloadLen, 0, 0)
	b = binary.BigEndian.AppendUint32(b, h.SPI)
	b = binary.BigEndian.AppendUint32(b, h.Seq)
	return append(b, h.ICV[:]...)
}

// ComputeICV returns the AH ICV of an IPv4 datagram carrying AH, computed
// as keepalived does (see AH) with key; zeroTTL is keepalived's unicast mode
// (unicast_peer configured). The ICV octets in datagram are ignored.
func ComputeICV(datagram []byte, key [8]byte, zeroTTL bool) ([12]byte, error) {
	h, hlen, err := parseIPv4Header(datagram)
	if err != nil {
		return [icvLen]byte{}, err
	}
	if h.Protocol != ProtocolAH {
		return [icvLen]byte{}, drop(DropAuthMismatch, "IP protocol "+itoa(int(h.Protocol))+" carries no AH")
	}
	if len(datagram) < hlen+ahLen {
		return [icvLen]byte{}, drop(DropTruncated, "AH of "+itoa(len(datagram)-hlen)+" octets, need 24")
	}
	// Zero the mutable fields in a copy (RFC 2402 §3.3.3.1 as keepalived
	// applies it): TOS, flags+fragment offset, header checksum, the ICV,
	// and TTL only in unicast mode.
	buf := make([]byte, len(datagram))
	copy(buf, datagram)
	buf[1] = 0
	buf[6], buf[7] = 0, 0
	buf[10], buf[11] = 0, 0
	if zeroTTL {
		buf[8] = 0
	}
	clear(buf[hlen+12 : hlen+ahLen])
	m := hmac.New(md5.New, key[:])
	m.Write(buf)
	var icv [icvLen]byte
	copy(icv[:], m.Sum(nil))
	return icv, nil
}

// SignAH computes the ICV of datagram (as IPv4Packet.Marshal returns it)
// and writes it in place.
func SignAH(datagram []byte, key [8]byte, zeroTTL bool) error {
	icv, err := ComputeICV(datagram, key, zeroTTL)
	if err != nil {
		return err
	}
	hlen := int(datagram[0]&0x0f) * 4
	copy(datagram[hlen+12:], icv[:])
	return nil
}

// VerifyAH checks the AH of a received IPv4 datagram the way keepalived
// does: the ICV against key (DropAHICV) in constant time, then that the SPI
// is the source address (DropAHSPI). The replay check needs the instance's
// counter and is Validate's (Expect.AHSeq).
func VerifyAH(datagram []byte, key [8]byte, zeroTTL bool) error {
	icv, err := ComputeICV(datagram, key, zeroTTL)
	if err != nil {
		return err
	}
	hlen := int(datagram[0]&0x0f) * 4
	if subtle.ConstantTimeCompare(icv[:], datagram[hlen+12:hlen+ahLen]) != 1 {
		return drop(DropAHICV, "HMAC-MD5-96 ICV does not verify: a different auth_pass, or fields changed in transit")
	}
	spi := binary.BigEndian.Uint32(datagram[hlen+4:])
	if src := binary.BigEndian.Uint32(datagram[12:]); spi != src {
		return drop(DropAHSPI, "SPI 0x"+hex32(spi)+" is not the source address 0x"+hex32(src))
	}
	return nil
}

func hex32(v uint32) string {
	const digits = "0123456789abcdef"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}
