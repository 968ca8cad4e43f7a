// Package track runs keepalived's tracked objects that feed VRRP
// priorities: vrrp_script (a program run every interval; rise/fall
// counting; weight, reverse, init_fail, timeout, user) and track_file
// (an integer read from a file whenever inotify reports it written), as
// described in keepalived.conf(5) for keepalived 2.2.7.
//
// The counting and weight rules are pure (Counter, ScriptEffect,
// FileEffect, ParseFileValue) and mirror vrrp/vrrp_scheduler.c,
// vrrp/vrrp_track.c and trackers/track_file.c. Tracker runs them: one
// goroutine per script, never more than one run of a script at a time,
// each run killed at its timeout; status changes go to subscribers'
// channels.
//
// What it does not do: apply the effects to instances (the VRRP layer
// does, per track_script/track_file, possibly overriding weights), or
// track interfaces, processes or BFD.
package track
