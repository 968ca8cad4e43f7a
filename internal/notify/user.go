package notify

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
)

// Credential is the user and group a script runs as.
type Credential struct {
	UID, GID uint32
	// Name is the user name, for messages; empty for the daemon's own user.
	Name string
}

// DefaultScriptUser is the user keepalived runs scripts as when neither
// script_user nor a per-script user is given and the user exists.
const DefaultScriptUser = "keepalived_script"

// ErrNoDefaultUser is returned by DefaultCredential when script security
// is enabled, no script_user is configured and the keepalived_script user
// does not exist; keepalived then ignores every script without its own
// user ("Unable to set default user keepalived_script for script").
var ErrNoDefaultUser = errors.New("unable to set default user " + DefaultScriptUser + " for script")

// LookupCredential resolves "username [groupname]" as keepalived does for
// script_user, vrrp_script user and the optional user after a notify
// script: the group defaults to the user's primary group.
func LookupCredential(username, groupname string) (Credential, error) {
	u, err := user.Lookup(username)
	if err != nil {
		return Credential{}, fmt.Errorf("script user %q does not exist: %w", username, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return Credential{}, fmt.Errorf("script user %q: uid %q: %w", username, u.Uid, err)
	}
	gidStr := u.Gid
	if groupname != "" {
		g, err := user.LookupGroup(groupname)
		if err != nil {
			return Credential{}, fmt.Errorf("script group %q does not exist: %w", groupname, err)
		}
		gidStr = g.Gid
	}
	gid, err := strconv.ParseUint(gidStr, 10, 32)
	if err != nil {
		return Credential{}, fmt.Errorf("script user %q: gid %q: %w", username, gidStr, err)
	}
	return Credential{UID: uint32(uid), GID: uint32(gid), Name: username}, nil
}

// DefaultCredential returns the user scripts run as when they name none,
// following keepalived 2.2.7 (lib/notify.c get_default_script_user):
// script_user if configured (scriptUser non-empty); else keepalived_script
// if that user exists; else the daemon's own uid/gid — unless
// enable_script_security is set, in which case ErrNoDefaultUser.
func DefaultCredential(scriptUser, scriptGroup string, security bool) (Credential, error) {
	if scriptUser != "" {
		return LookupCredential(scriptUser, scriptGroup)
	}
	c, err := LookupCredential(DefaultScriptUser, "")
	if err == nil {
		return c, nil
	}
	if security {
		return Credential{}, ErrNoDefaultUser
	}
	return Self(), nil
}

// Self returns the daemon's effective uid and gid.
func Self() Credential {
	return Credential{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}
}
