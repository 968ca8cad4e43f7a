package vrrp

import (
	"net/netip"
	"time"
)

// Auth types of a VRRPv2 advertisement (RFC 3768 §5.3.6; keepalived
// carries AH in the IP header and puts 2 here).
const (
	AuthNone uint8 = 0
	AuthPass uint8 = 1 // simple text password, 8 octets
	AuthAH   uint8 = 2 // IPsec AH, HMAC-MD5-96 as keepalived implements it
)

// Advert is a decoded VRRP advertisement, version 2 (RFC 3768) or 3
// (RFC 5798). It is the value the state machine consumes and the codec
// encodes; fields that a version lacks stay zero.
type Advert struct {
	Version  uint8 // 2 or 3
	VRID     uint8
	Priority uint8
	// Interval is the advertisement interval: whole seconds in v2
	// (Adver Int), centiseconds in v3 (Max Adver Int, 12 bits).
	Interval time.Duration
	Addrs    []netip.Addr // the virtual addresses, all of one family
	// v2 only.
	AuthType uint8
	AuthData [8]byte // the PASS password, zero padded
}
