// Package notify runs keepalived-compatible notifications for VRRP state
// changes: the notify_master, notify_backup, notify_fault, notify_stop,
// notify_deleted, notify_master_rx_lower_pri and generic notify scripts,
// the notify_fifo and vrrp_notify_fifo lines, and smtp_alert mail, as
// described in keepalived.conf(5) for keepalived 2.2.7.
//
// Scripts are split into an argument vector by ParseCommand with
// keepalived's quoting and escape rules and executed directly (no shell),
// in their own process group, as the configured user, after the load-time
// checks of CheckScript (enable_script_security). A Notifier gives each
// instance and sync group a bounded queue handled in order by one
// goroutine; Enqueue never blocks, and every script run is bounded by a
// timeout after which the script's process group is killed.
//
// What it does not do: decide when to notify (the VRRP runner does, and
// it suppresses instance notifies covered by a sync group, as keepalived's
// send_instance_notifies), parse the configuration (the daemon maps
// conf types onto Config), SNMP traps or D-Bus signals.
package notify
