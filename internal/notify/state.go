package notify

import "fmt"

//go:generate stringer -type=State -linecomment -output=state_string.go

// State is the word keepalived passes to notify scripts and writes to
// notify FIFOs: a VRRP state, or one of the FIFO-only events.
type State uint8

// States and events, with keepalived 2.2.7's words (vrrp/vrrp_notify.c).
const (
	StateMaster  State = iota + 1 // MASTER
	StateBackup                   // BACKUP
	StateFault                    // FAULT
	StateStop                     // STOP
	StateDeleted                  // DELETED
	// EventMasterRxLowerPri: a master received an advert with a lower
	// priority; runs notify_master_rx_lower_pri and writes the FIFO.
	EventMasterRxLowerPri // MASTER_RX_LOWER_PRI
	// EventMasterPriority and EventBackupPriority: the effective
	// priority changed (notify_priority_changes); FIFO only.
	EventMasterPriority // MASTER_PRIORITY
	EventBackupPriority // BACKUP_PRIORITY
)

// Event is one notification: an instance or sync group entering a state.
type Event struct {
	// Group is true for a vrrp_sync_group ("GROUP"), false for a
	// vrrp_instance ("INSTANCE").
	Group bool
	// Name is the instance or group name.
	Name string
	// State is the new state or the event.
	State State
	// Priority is the instance's effective priority; keepalived always
	// reports 0 for groups.
	Priority int
}

// kind is the first word keepalived passes: "GROUP" or "INSTANCE".
func (e Event) kind() string {
	if e.Group {
		return "GROUP"
	}
	return "INSTANCE"
}

// FIFOLine is the line keepalived writes to notify_fifo and
// vrrp_notify_fifo for the event, newline included, e.g.
// `INSTANCE "VI_1" MASTER 100` (vrrp/vrrp_notify.c notify_fifo).
func (e Event) FIFOLine() string {
	prio := e.Priority
	if e.Group {
		prio = 0
	}
	return fmt.Sprintf("%s \"%s\" %s %d\n", e.kind(), e.Name, stateWord(e.State), prio)
}

// NotifyArgs are the four arguments keepalived appends to the generic
// "notify" script: GROUP|INSTANCE, name, state, priority.
func (e Event) NotifyArgs() []string {
	prio := e.Priority
	if e.Group {
		prio = 0
	}
	return []string{e.kind(), e.Name, stateWord(e.State), fmt.Sprint(prio)}
}

// stateWord is keepalived's word for a state, "{UNKNOWN}" for anything
// else.
func stateWord(s State) string {
	if s < StateMaster || s > EventBackupPriority {
		return "{UNKNOWN}"
	}
	return s.String()
}
