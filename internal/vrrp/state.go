package vrrp

//go:generate go run golang.org/x/tools/cmd/stringer@v0.52.0 -type=State -linecomment -output=state_string.go

// State is the state of a VRRP instance: the three states of RFC 5798 §6.4
// plus keepalived's FAULT and STOP.
type State uint8

// The states of an Instance. The names are keepalived's, which notify
// scripts receive as their third argument.
const (
	// StateInit is RFC 5798 §6.4.1 Initialize: built, not yet started.
	StateInit State = iota // INIT
	// StateBackup is RFC 5798 §6.4.2 Backup.
	StateBackup // BACKUP
	// StateMaster is RFC 5798 §6.4.3 Master.
	StateMaster // MASTER
	// StateFault is keepalived's FAULT: a tracked object (interface,
	// script, file...) with weight 0 failed; the instance neither sends
	// nor listens to adverts until it recovers.
	StateFault // FAULT
	// StateStop is keepalived's STOP: the instance has shut down.
	StateStop // STOP
)
