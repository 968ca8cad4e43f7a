package vrrp

import "time"

// Protocol constants.
const (
	// PriorityOwner is the priority of the router that owns the virtual
	// addresses (RFC 3768 §5.3.4, RFC 5798 §5.2.4).
	PriorityOwner uint8 = 255
	// PriorityStop is the priority a master advertises when it stops
	// (RFC 3768 §5.3.4, RFC 5798 §5.2.4).
	PriorityStop uint8 = 0

	// defaultDownTimerAdverts is the 3 of "3 * Advertisement_Interval" in
	// Master_Down_Interval; keepalived's down_timer_adverts overrides it.
	defaultDownTimerAdverts = 3
)

// skewTime is the time a backup adds to the master down timer so that the
// highest priority backup wins the race to become master.
//
//   - VRRPv2, RFC 3768 §6.1: Skew_Time = (256 - Priority) / 256 seconds.
//   - VRRPv3, RFC 5798 §6.1: Skew_Time = ((256 - Priority) *
//     Master_Adver_Interval) / 256.
//
// The v3 result is truncated to the nanosecond (keepalived truncates to the
// microsecond); the v2 result is exact.
func skewTime(version, prio uint8, masterAdverInt time.Duration) time.Duration {
	n := time.Duration(256 - int(prio))
	if version == 2 {
		return n * time.Second / 256
	}
	return n * masterAdverInt / 256
}

// masterDownInterval is the time after which a backup declares the master
// down:
//
//   - VRRPv2, RFC 3768 §6.1: Master_Down_Interval = 3 *
//     Advertisement_Interval + Skew_time (the local interval: v2 routers
//     must all use the same one, and the receive path drops adverts
//     whose interval differs).
//   - VRRPv3, RFC 5798 §6.1: Master_Down_Interval = (3 *
//     Master_Adver_Interval) + Skew_time, Master_Adver_Interval being
//     learned from the master's adverts.
//
// downAdverts replaces the 3 when keepalived's down_timer_adverts is set;
// 0 means 3.
func masterDownInterval(version, prio uint8, masterAdverInt time.Duration, downAdverts int) time.Duration {
	if downAdverts <= 0 {
		downAdverts = defaultDownTimerAdverts
	}
	return time.Duration(downAdverts)*masterAdverInt + skewTime(version, prio, masterAdverInt)
}
