package vrrp

import (
	"crypto/subtle"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"time"
)

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=DropReason -trimprefix=Drop -linecomment -output=drop_string.go

// DropReason says why a received advertisement was discarded. The receive
// path counts drops by reason; String gives a stable snake_case label for
// metrics and logs.
//
// Reasons up to DropBadAuthType are found by the decoders from the packet
// alone; the rest by Validate or VerifyAH against an instance's config.
type DropReason uint8

// Drop reasons. The zero value is not a reason.
const (
	_ DropReason = iota

	// DropTruncated: shorter than the fixed VRRP (or IPv4, or AH) header.
	DropTruncated // truncated
	// DropBadLength: the length disagrees with Count IPvX Addr (too
	// short or trailing octets; keepalived rejects both), or the IPv4
	// total length disagrees with the datagram received.
	DropBadLength // bad_length
	// DropBadVersion: the version field is neither 2 nor 3.
	DropBadVersion // bad_version
	// DropBadType: the type field is not 1 (ADVERTISEMENT).
	DropBadType // bad_type
	// DropWrongFamily: source and destination of different families,
	// VRRPv2 over IPv6, an IPv4-mapped address in an IPv6 advert, or an
	// advert of the other family than the instance's.
	DropWrongFamily // wrong_family
	// DropBadProtocol: an IPv4 datagram that is not protocol 112, nor 51
	// with an AH whose next header is 112; a bad IPv4 version or IHL.
	DropBadProtocol // bad_protocol
	// DropBadChecksum: the VRRP checksum does not verify (RFC 3768 §5.3.8,
	// RFC 5798 §5.2.8).
	DropBadChecksum // bad_checksum
	// DropZeroVRID: VRID 0, outside 1-255 (RFC 5798 §5.2.3).
	DropZeroVRID // zero_vrid
	// DropZeroInterval: an advertisement interval of 0.
	DropZeroInterval // zero_interval
	// DropBadAuthType: a VRRPv2 auth type other than 0, 1 or 2.
	DropBadAuthType // bad_auth_type

	// DropWrongTTL: IPv4 TTL or IPv6 hop limit is not 255 (RFC 3768 §7.1,
	// RFC 5798 §7.1). The caller reads it from the IP header or a control
	// message and passes it to Validate.
	DropWrongTTL // wrong_ttl
	// DropWrongVersion: a valid version, but not the instance's.
	DropWrongVersion // wrong_version
	// DropWrongVRID: a VRID that is not this instance's.
	DropWrongVRID // wrong_vrid
	// DropOwnAddress: the source is one of our own addresses (our own
	// advert looped back, or an address conflict).
	DropOwnAddress // own_address
	// DropAuthMismatch: the auth type (or the presence of AH) differs from
	// the instance's authentication config.
	DropAuthMismatch // auth_type_mismatch
	// DropBadPassword: PASS authentication data differs from auth_pass.
	DropBadPassword // bad_password
	// DropAHICV: the AH HMAC-MD5-96 ICV does not verify with auth_pass.
	DropAHICV // ah_icv
	// DropAHSPI: the AH SPI is not the IPv4 source address, as keepalived
	// requires.
	DropAHSPI // ah_spi
	// DropAHReplay: an AH sequence number not above the last one accepted.
	DropAHReplay // ah_replay
	// DropIntervalMismatch: a VRRPv2 Adver Int that differs from the
	// instance's advert_int (RFC 3768 §7.1; keepalived drops it).
	DropIntervalMismatch // interval_mismatch
	// DropWrongDestination: a multicast advert to a unicast instance, or a
	// unicast advert to a multicast instance (keepalived).
	DropWrongDestination // wrong_destination
	// DropUnknownPeer: a unicast advert from an address not in
	// unicast_peer while check_unicast_src is on.
	DropUnknownPeer // unknown_peer
	// DropAddrCount: Count IPvX Addr differs from the number of
	// virtual_ipaddress entries.
	DropAddrCount // addr_count_mismatch
	// DropAddrList: a configured virtual address is missing from the
	// advert's address list.
	DropAddrList // addr_list_mismatch
)

// numDropReasons bounds the reasons for tables indexed by reason; keep it
// after the last one.
const numDropReasons = DropAddrList + 1

// DropError is the error the decoders, VerifyAH and Validate return for a
// packet that must be discarded. Callers count drops by Reason; Detail
// names the offending value for the Debug log.
type DropError struct {
	Reason DropReason
	Detail string
}

// Error implements error.
func (e *DropError) Error() string {
	if e.Detail == "" {
		return "drop VRRP advert: " + e.Reason.String()
	}
	return "drop VRRP advert: " + e.Reason.String() + ": " + e.Detail
}

// ReasonOf returns the DropReason of err if err is or wraps a *DropError.
func ReasonOf(err error) (DropReason, bool) {
	var de *DropError
	if errors.As(err, &de) {
		return de.Reason, true
	}
	return 0, false
}

func drop(r DropReason, detail string) error {
	return &DropError{Reason: r, Detail: detail}
}

// itoa is short for strconv.Itoa in drop details.
func itoa(n int) string { return strconv.Itoa(n) }

// RxMeta is what the receive path knows about an advert beyond its bytes:
// the IP header fields (an IPv4 raw socket has the header; IPv6 gets the
// hop limit and destination from IPV6_HOPLIMIT / IPV6_PKTINFO control
// messages) and, for IPv4 with AH, the AH header that VerifyAH accepted.
type RxMeta struct {
	Src, Dst netip.Addr
	TTL      int // IPv4 TTL or IPv6 hop limit; -1 if unknown (not checked)
	AH       *AH // nil unless the advert came behind AH
}

// Expect is the part of an instance's config that a received advert is
// checked against.
type Expect struct {
	Version uint8
	VRID    uint8
	// AuthType is AuthNone, AuthPass or AuthAH (VRRPv2 only; keepalived
	// has no authentication for VRRPv3).
	AuthType uint8
	AuthData [8]byte // AuthKey(auth_pass), for AuthPass
	// Interval is advert_int. VRRPv2 adverts with another interval are
	// dropped (RFC 3768 §7.1; keepalived logs "advertisement interval
	// mismatch"). VRRPv3 adverts carry the master's interval, which the
	// backup adopts (RFC 5798 §6.4.2), so it is not checked.
	Interval time.Duration
	// Addrs are the virtual_ipaddress entries (not the _excluded ones).
	Addrs []netip.Addr
	// SkipAddrCheck skips the address-list checks. keepalived sets it for
	// skip_check_adv_addr when the advert comes from the master it already
	// follows (vrrp_state_backup); a master always checks.
	SkipAddrCheck bool
	// Unicast is set when unicast_peer is configured: the TTL is then not
	// checked, and the destination must be unicast rather than multicast.
	Unicast bool
	// Peers are the unicast_peer addresses; with CheckUnicastSrc an advert
	// from any other source is dropped (check_unicast_src).
	Peers           []netip.Addr
	CheckUnicastSrc bool
	// Own are the instance's own addresses (the interface's, and
	// unicast_src_ip): an advert from one of them is our own or a
	// conflict.
	Own []netip.Addr
	// AHSeq is the instance's AH sequence counter (see AH); an AH advert
	// must carry a higher number.
	AHSeq uint32
}

// Validate applies the instance-level receive checks of RFC 3768 §7.1 and
// RFC 5798 §7.1 to an advert that DecodeAdvert or DecodeIPv4 accepted (and,
// with AH, that VerifyAH accepted), in keepalived 2.2.7's order
// (vrrp_check_packet). It returns nil or a *DropError.
//
// Address list: keepalived drops an advert whose count or list differs from
// the config, in both versions, unless SkipAddrCheck applies. The RFCs are
// laxer: RFC 3768 §7.1 accepts a mismatch when the sender is the address
// owner (priority 255) and RFC 5798 §7.1 only asks to log it. We follow
// keepalived, so that a mixed vigil/keepalived pair elects the same master.
//
// Validate does not look at the priority: priority 0 (a master stopping)
// is valid and goes to the state machine.
func Validate(a Advert, rx RxMeta, want Expect) error {
	src, dst := rx.Src.Unmap(), rx.Dst.Unmap()
	for _, own := range want.Own {
		if own.Unmap() == src {
			return drop(DropOwnAddress, "advert from our own address "+src.String())
		}
	}
	if len(want.Addrs) > 0 && src.IsValid() && want.Addrs[0].Unmap().Is4() != src.Is4() {
		return drop(DropWrongFamily, "advert from "+src.String()+" for an instance with virtual address "+want.Addrs[0].String())
	}
	// keepalived checks the IP protocol against auth_type first, whatever
	// the version.
	if (rx.AH != nil) != (want.AuthType == AuthAH) {
		if rx.AH != nil {
			return drop(DropAuthMismatch, "advert with AH header but auth_type is not AH")
		}
		return drop(DropAuthMismatch, "advert without AH header but auth_type is AH")
	}
	// RFC 5798 §7.1: MUST verify that the TTL/hop limit is 255. keepalived
	// skips this for unicast (the peers may be routed).
	if !want.Unicast && rx.TTL != -1 && rx.TTL != RequiredTTL {
		return drop(DropWrongTTL, "TTL/hop limit "+itoa(rx.TTL)+" from "+src.String()+", want 255")
	}
	if a.Version != want.Version {
		return drop(DropWrongVersion, "VRRPv"+itoa(int(a.Version))+" advert for a VRRPv"+itoa(int(want.Version))+" instance")
	}
	if a.VRID != want.VRID {
		return drop(DropWrongVRID, "VRID "+itoa(int(a.VRID))+", this instance is "+itoa(int(want.VRID)))
	}
	if a.Version == 2 {
		if a.AuthType != want.AuthType {
			return drop(DropAuthMismatch, "auth type "+itoa(int(a.AuthType))+", configured "+itoa(int(want.AuthType)))
		}
		switch want.AuthType {
		case AuthPass:
			if subtle.ConstantTimeCompare(a.AuthData[:], want.AuthData[:]) != 1 {
				return drop(DropBadPassword, "PASS authentication data differs from auth_pass")
			}
		case AuthAH:
			if rx.AH.Seq <= want.AHSeq {
				return drop(DropAHReplay, "AH sequence number "+strconv.FormatUint(uint64(rx.AH.Seq), 10)+
					" already processed (counter "+strconv.FormatUint(uint64(want.AHSeq), 10)+")")
			}
		}
		if a.Interval != want.Interval {
			return drop(DropIntervalMismatch, "advert interval "+a.Interval.String()+", advert_int is "+want.Interval.String())
		}
	}
	if dst.IsValid() && dst.IsMulticast() == want.Unicast {
		if want.Unicast {
			return drop(DropWrongDestination, "multicast advert to "+dst.String()+" for a unicast instance")
		}
		return drop(DropWrongDestination, "unicast advert to "+dst.String()+" for a multicast instance")
	}
	if !want.SkipAddrCheck {
		if len(a.Addrs) != len(want.Addrs) {
			return drop(DropAddrCount, itoa(len(a.Addrs))+" addresses in the advert, "+itoa(len(want.Addrs))+" configured")
		}
		for _, vip := range want.Addrs {
			if !slices.Contains(a.Addrs, vip.Unmap().WithZone("")) {
				return drop(DropAddrList, "virtual address "+vip.String()+" missing from the advert")
			}
		}
	}
	if want.Unicast && want.CheckUnicastSrc && !slices.ContainsFunc(want.Peers, func(p netip.Addr) bool { return p.Unmap() == src }) {
		return drop(DropUnknownPeer, "unicast advert from "+src.String()+", not a unicast_peer")
	}
	return nil
}
