package track

//go:generate stringer -type=Status -trimprefix=Status -output=status_string.go

// Status is a tracked script's state.
type Status uint8

// Script states.
const (
	// StatusInit: no result yet (keepalived's SCRIPT_INIT_STATE_INIT).
	// The first result always reports UP or DOWN.
	StatusInit Status = iota
	StatusDown
	StatusUp
)

// Counter is keepalived's rise/fall bookkeeping for one vrrp_script
// (vrrp/vrrp_scheduler.c vrrp_script_child_thread). result runs from 0
// to rise+fall-1; the script is UP once result reaches rise.
type Counter struct {
	rise, fall int
	result     int
	status     Status
}

// NewCounter returns the counter for a script with the given rise and
// fall (values below 1 mean 1). Without init_fail the script starts in
// StatusInit one success short of rise ("one success is enough") and its
// first failure reports DOWN; with init_fail it starts DOWN.
func NewCounter(rise, fall int, initFail bool) Counter {
	rise, fall = max(rise, 1), max(fall, 1)
	if initFail {
		return Counter{rise: rise, fall: fall, result: 0, status: StatusDown}
	}
	return Counter{rise: rise, fall: fall, result: rise - 1, status: StatusInit}
}

// Status returns the current status.
func (c *Counter) Status() Status { return c.status }

// Record counts one run's outcome and reports whether the status changed.
func (c *Counter) Record(ok bool) (changed bool) {
	before := c.status
	top := c.rise + c.fall - 1
	if ok {
		switch {
		case c.result < c.rise-1:
			c.result++
		case c.result != top:
			if c.result < c.rise { // == rise-1: this success completes rise
				c.status = StatusUp
			}
			// Any success while UP forgets the failures counted so far.
			c.result = top
		}
	} else {
		switch {
		case c.result > c.rise:
			c.result--
		default:
			if c.result == c.rise || c.status == StatusInit {
				c.status = StatusDown
			}
			c.result = 0
		}
	}
	return c.status != before
}

// ScriptEffect is what a tracked script in status st does to a VRRP
// instance tracking it with weight and reverse (vrrp/vrrp_track.c
// process_script_update_priority, initialise_track_script_state):
//
//   - weight 0: the instance is in FAULT while the script is DOWN (with
//     reverse: while it is UP);
//   - weight > 0: UP adds weight (reverse: subtracts it), DOWN adds 0;
//   - weight < 0: DOWN adds weight, i.e. lowers the priority (reverse:
//     raises it), UP adds 0.
//
// A script in StatusInit has no effect yet; keepalived keeps an instance
// with a weight-0 script in INIT until that script has reported.
func ScriptEffect(st Status, weight int, reverse bool) (delta int, fault bool) {
	if st == StatusInit {
		return 0, false
	}
	up := st == StatusUp
	if weight == 0 {
		return 0, up == reverse
	}
	m := 1
	if reverse {
		m = -1
	}
	if (weight > 0 && up) || (weight < 0 && !up) {
		return weight * m, false
	}
	return 0, false
}

// File-tracking limits for VRRP (keepalived.conf(5) "Track files").
const (
	fileFault   = -254
	fileMaxPrio = 253
)

// FileEffect is what a track_file holding value does to a VRRP instance
// tracking it with weight and reverse (trackers/track_file.c
// update_track_file_status, process_update_vrrp_track_file_status):
//
//   - weight 0: a non-zero value is FAULT, zero is OK (reverse: the
//     other way round);
//   - otherwise value × weight (negated with reverse) is added to the
//     priority, limited to 253; a result of -254 or below is FAULT.
func FileEffect(value int64, weight int, reverse bool) (delta int, fault bool) {
	if weight == 0 {
		return 0, (value != 0) != reverse
	}
	s := value * int64(weight)
	if reverse {
		s = -s
	}
	switch {
	case s <= fileFault:
		return 0, true
	case s > fileMaxPrio:
		return fileMaxPrio, false
	}
	return int(s), false
}
