// Package vrrp implements VRRP as keepalived 2.2.7 speaks it: VRRPv2
// (RFC 3768, IPv4) and VRRPv3 (RFC 5798, IPv4 and IPv6).
//
// # Advertisement codec
//
// The codec (codec.go, ah.go, drop.go) is pure: no sockets, no clock, no
// logging. It implements
//
//   - the advert formats of RFC 3768 §5.1-5.3 and RFC 5798 §5.1-5.2:
//     Advert, DecodeAdvert and Advert.Marshal, for the IP payload, with
//     the v2 checksum over the message and the v3 checksum over the IPv4
//     or IPv6 pseudo-header (RFC 5798 §5.2.8); intervals in whole seconds
//     (v2) or centiseconds (v3);
//   - IPv4 framing for raw IPv4 sockets, which return the header:
//     DecodeIPv4 and IPv4Packet.Marshal (with IP_HDRINCL on send);
//   - keepalived's auth_type PASS (8 octets, RFC 2338 §5.3.6.1) and
//     auth_type AH (IPsec AH with HMAC-MD5-96, SPI = source address, one
//     shared sequence counter): AH, SignAH, VerifyAH, AuthKey;
//   - the receive checks of RFC 3768 §7.1 and RFC 5798 §7.1 as keepalived
//     applies them (vrrp_check_packet): the packet-level ones in the
//     decoders, the instance-level ones (TTL 255, version, VRID, auth,
//     v2 interval, unicast/multicast destination, address list) in
//     Validate. Every rejection is a *DropError whose DropReason the
//     receive path counts.
//
// Receive path: IPv4 — DecodeIPv4(datagram), VerifyAH(datagram, …) if it
// came with AH, then Validate(p.Advert, RxMeta{p.IP.Src, p.IP.Dst,
// p.IP.TTL, p.AH}, …). IPv6 — DecodeAdvert(payload, src, dst) with dst
// from IPV6_PKTINFO and the hop limit from IPV6_HOPLIMIT, then Validate.
//
// Not implemented: VRRPv2 over IPv6 (not standard; keepalived refuses it
// too), keepalived's unicast_chksum_compat (VRRPv3 unicast checksummed
// over 224.0.0.18, as keepalived up to 1.3.6 did) and the post-2.2.7
// auth_hmac extension.
package vrrp
