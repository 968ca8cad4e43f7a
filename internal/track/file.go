package track

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// maxFileRead is how much of a track file keepalived reads.
const maxFileRead = 127

// ErrBadFileValue is returned by ParseFileValue for a number keepalived
// ignores ("Invalid number … read from … - ignoring").
var ErrBadFileValue = errors.New("invalid number")

// ParseFileValue reads a track file's contents as keepalived does
// (trackers/track_file.c process_track_file): the first 127 bytes go
// through strtol(…, 0), so leading blanks and a sign are allowed, "0x"
// means hex and a leading "0" octal, parsing stops at the first other
// character, and text with no number is 0. Values outside
// [-2147483648, 2147483648] are rejected with ErrBadFileValue and the
// previous value stays.
func ParseFileValue(b []byte) (int64, error) {
	if len(b) > maxFileRead {
		b = b[:maxFileRead]
	}
	s := string(b)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	v, overflow := strtol(s)
	if overflow || v < math.MinInt32 || v > math.MaxInt32+1 {
		return 0, fmt.Errorf("%w %q", ErrBadFileValue, strings.TrimSpace(s))
	}
	return v, nil
}

// strtol is C's strtol(s, NULL, 0) for a 64-bit long.
func strtol(s string) (v int64, overflow bool) {
	i := 0
	for i < len(s) && strings.IndexByte(" \t\n\v\f\r", s[i]) >= 0 {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := uint64(10)
	switch {
	case i+2 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && digitVal(s[i+2]) < 16:
		base = 16
		i += 2
	case i < len(s) && s[i] == '0':
		base = 8
	}
	var u uint64
	limit := uint64(math.MaxInt64)
	if neg {
		limit++
	}
	for ; i < len(s); i++ {
		d := uint64(digitVal(s[i]))
		if d >= base {
			break
		}
		if u > (limit-d)/base {
			overflow = true
			u = limit
			continue
		}
		u = u*base + d
	}
	if neg {
		if u == uint64(math.MaxInt64)+1 {
			return math.MinInt64, overflow
		}
		return -int64(u), overflow
	}
	return int64(u), overflow
}

func digitVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'z':
		return c - 'a' + 10
	case c >= 'A' && c <= 'Z':
		return c - 'A' + 10
	}
	return 255
}
