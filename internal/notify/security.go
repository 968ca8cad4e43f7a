package notify

// File mode bits, as in stat(2); kept here so the permission rules stay
// pure and testable without touching the file system.
const (
	modeTypeMask = 0o170000
	modeDir      = 0o040000
	modeReg      = 0o100000
	modeSymlink  = 0o120000
	modeSetUID   = 0o4000
	modeSetGID   = 0o2000
	modeSticky   = 0o1000
)

// statInfo is the part of stat(2) the script checks need.
type statInfo struct {
	mode     uint32 // st_mode
	uid, gid uint32 // owner
}

func (s statInfo) isDir() bool     { return s.mode&modeTypeMask == modeDir }
func (s statInfo) isReg() bool     { return s.mode&modeTypeMask == modeReg }
func (s statInfo) isSymlink() bool { return s.mode&modeTypeMask == modeSymlink }

// executableBy reports whether a process with uid/gid may execute the
// file, with keepalived's simplified rule (lib/notify.c is_executable):
// root needs any x bit; the owner needs u+x; others use g+x if their gid
// matches the file's group, else o+x.
func executableBy(s statInfo, uid, gid uint32) bool {
	switch {
	case uid == 0:
		return s.mode&0o111 != 0
	case uid == s.uid:
		return s.mode&0o100 != 0
	case gid == s.gid:
		return s.mode&0o010 != 0
	default:
		return s.mode&0o001 != 0
	}
}

// unsafePathPart reports whether one component of a script's path lets a
// non-root user change what root will execute (lib/notify.c
// check_security): it is owned by non-root, or it is a regular file or a
// directory without the sticky bit that is group-writable with a
// non-root group or world-writable.
func unsafePathPart(s statInfo) bool {
	if s.uid != 0 {
		return true
	}
	if (s.isDir() && s.mode&modeSticky == 0) || s.isReg() {
		return (s.gid != 0 && s.mode&0o020 != 0) || s.mode&0o002 != 0
	}
	return false
}

// needsProtection reports whether keepalived checks the path of a script
// at all: only scripts that run with root's uid or gid, or that are
// set-uid/set-gid root, are checked (lib/notify.c check_script_secure).
func needsProtection(file statInfo, cred Credential) bool {
	return cred.UID == 0 || cred.GID == 0 ||
		(file.uid == 0 && file.mode&0o100 != 0 && file.mode&modeSetUID != 0) ||
		(file.gid == 0 && file.mode&0o010 != 0 && file.mode&modeSetGID != 0)
}
