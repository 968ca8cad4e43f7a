package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"net"
	"strings"
)

// newLogger builds the one logger of the process. With -l (or when syslog
// is off with -G) it writes text to the console; otherwise it writes to
// syslog with the facility of -S, as keepalived does. -D turns on debug.
func newLogger(o options, console io.Writer) (*slog.Logger, func(), error) {
	level := slog.LevelInfo
	if o.logDetail {
		level = slog.LevelDebug
	}
	if o.logConsole || o.noSyslog {
		h := slog.NewTextHandler(console, &slog.HandlerOptions{Level: level})
		return slog.New(h), func() {}, nil
	}
	fac, err := syslogFacility(o.logFacility)
	if err != nil {
		return nil, nil, err
	}
	w, err := syslog.New(fac|syslog.LOG_INFO, "Keepalived_vrrp")
	if err != nil {
		// No syslog daemon (containers): fall back to the console so
		// nothing is lost.
		h := slog.NewTextHandler(console, &slog.HandlerOptions{Level: level})
		return slog.New(h), func() {}, nil
	}
	h := &syslogHandler{w: w, level: level}
	return slog.New(h), func() { w.Close() }, nil
}

// syslogFacility maps -S's argument as keepalived does: 0-7 mean local0-7.
func syslogFacility(s string) (syslog.Priority, error) {
	switch s {
	case "", "daemon":
		return syslog.LOG_DAEMON, nil
	case "user":
		return syslog.LOG_USER, nil
	}
	s = strings.TrimPrefix(s, "local")
	if len(s) == 1 && s[0] >= '0' && s[0] <= '7' {
		return syslog.LOG_LOCAL0 + syslog.Priority(s[0]-'0')<<3, nil
	}
	return 0, fmt.Errorf("invalid log facility %q: use 0-7, local0-7, user or daemon", s)
}

// syslogHandler writes "message key=value ..." lines to syslog at the
// record's level.
type syslogHandler struct {
	w     *syslog.Writer
	level slog.Level
	attrs []slog.Attr
}

func (h *syslogHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *syslogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	msg := b.String()
	switch {
	case r.Level >= slog.LevelError:
		return h.w.Err(msg)
	case r.Level >= slog.LevelWarn:
		return h.w.Warning(msg)
	case r.Level >= slog.LevelInfo:
		return h.w.Info(msg)
	}
	return h.w.Debug(msg)
}

func (h *syslogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &n
}

func (h *syslogHandler) WithGroup(string) slog.Handler { return h }

// interfaceExists is the check keepalived -t makes for every interface the
// configuration names.
func interfaceExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}
