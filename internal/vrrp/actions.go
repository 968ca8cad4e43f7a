package vrrp

import "net/netip"

// Action is an effect that Instance.Step asks its runner to perform, in
// order. The set is sealed: only the types in this file implement it.
type Action interface{ isAction() }

// SendAdvert asks for one advertisement with the given priority. The
// runner builds the packet with Instance.Advert(Priority); priority 0
// means "I am stopping" (RFC 5798 §6.4.3).
type SendAdvert struct {
	Priority uint8
}

// AddVIPs asks for the virtual addresses (virtual_ipaddress and
// virtual_ipaddress_excluded, and with them virtual_routes and
// virtual_rules) to be configured. When Accept is false the runner must
// also drop traffic addressed to them (RFC 5798 §6.1 Accept_Mode false;
// keepalived no_accept).
type AddVIPs struct {
	Addrs  []netip.Addr
	Accept bool
}

// DelVIPs asks for the virtual addresses (and routes, rules, and any
// no_accept filter) to be removed.
type DelVIPs struct {
	Addrs []netip.Addr
}

// Announce asks for Repeat gratuitous ARPs (IPv4) or unsolicited
// neighbour advertisements (IPv6) for each address (RFC 5798 §6.4.2 /
// keepalived garp_master_repeat, garp_lower_prio_repeat,
// garp_master_refresh_repeat). The runner spaces them by
// vrrp_garp_interval / vrrp_gna_interval.
type Announce struct {
	Addrs  []netip.Addr
	Repeat int
}

// Notify reports a state transition: the runner logs it (keepalived:
// "(VI_1) Entering MASTER STATE") and queues notify scripts and FIFO lines.
type Notify struct {
	From, To State
	Reason   string
}

// PriorityChanged reports a change of the effective priority (keepalived
// "Changing effective priority from 100 to 80"; notify_priority_changes).
type PriorityChanged struct {
	From, To uint8
}

// MasterRxLowerPrio reports that this master received an advert from a
// lower priority router (keepalived notify_master_rx_lower_pri): two
// masters have been running, and a script may need to reclaim addresses.
type MasterRxLowerPrio struct {
	Src      netip.Addr
	Priority uint8
}

func (SendAdvert) isAction()        {}
func (AddVIPs) isAction()           {}
func (DelVIPs) isAction()           {}
func (Announce) isAction()          {}
func (Notify) isAction()            {}
func (PriorityChanged) isAction()   {}
func (MasterRxLowerPrio) isAction() {}

// SyncGroupNotify reports a state change of a vrrp_sync_group (keepalived
// "VRRP_Group(VG_1) Syncing instances to MASTER state"; the group's notify
// scripts).
type SyncGroupNotify struct {
	Group    string
	From, To State
}

func (SyncGroupNotify) isAction() {}
