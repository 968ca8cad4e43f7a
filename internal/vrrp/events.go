package vrrp

import "time"

import "net/netip"

// Event is an input to Instance.Step. The set is sealed: only the types in
// this file implement it.
type Event interface{ isEvent() }

// Startup leaves INIT (RFC 5798 §6.4.1). It is ignored in any other state.
type Startup struct{}

// AdvertRecv is an advertisement that the receive path has already
// validated: TTL/hop limit 255, checksum, version, VRID, authentication,
// address list and (v2) the advert interval, as keepalived's
// vrrp_check_packet does. Src is the IP source address of the packet, the
// sender's primary address used in the RFC 5798 §6.4.3 tie-break.
type AdvertRecv struct {
	Src netip.Addr
	Adv Advert
}

// Timeout tells the instance that its Deadline has passed. The runner
// sends it whenever now >= Deadline(); a Timeout that finds nothing due is
// a no-op, so spurious wake-ups are harmless.
type Timeout struct {
	// Early lets a MASTER's timers (adverts, gratuitous ARP repeats)
	// that fall due within Early fire now, and be re-armed from now: the
	// Engine uses it to send the adverts of many instances together. A
	// backup's Master_Down_Timer never fires early.
	Early time.Duration
}

// TrackChange reports the combined state of the instance's tracked objects
// (track_interface, track_script, track_file, track_process, track_bfd).
// Weight is the total weighted contribution to the priority, replacing the
// previous total (not a delta); Fault is true while any object tracked with
// weight 0 is down, which puts the instance in FAULT. Sending the same
// values twice is a no-op.
type TrackChange struct {
	Weight int
	Fault  bool
}

// Shutdown stops the instance: a master sends a priority 0 advert and
// releases its addresses (RFC 5798 §6.4.3, "Shutdown event"); every
// instance ends in STOP.
type Shutdown struct{}

func (Startup) isEvent()     {}
func (AdvertRecv) isEvent()  {}
func (Timeout) isEvent()     {}
func (TrackChange) isEvent() {}
func (Shutdown) isEvent()    {}
