package status

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// keepalived's dump signals on Linux (keepalived --signum=DATA, STATS,
// JSON print 10, 12 and 36).
const (
	SignalData  = syscall.SIGUSR1
	SignalStats = syscall.SIGUSR2
	// SignalJSON is SIGRTMIN+2 as glibc numbers it.
	SignalJSON = syscall.Signal(36)
)

// KindOf returns the dump a signal asks for.
func KindOf(sig os.Signal) (DumpKind, bool) {
	switch sig {
	case SignalData:
		return DumpData, true
	case SignalStats:
		return DumpStats, true
	case SignalJSON:
		return DumpJSON, true
	}
	return 0, false
}

// Run writes a dump each time the process receives SIGUSR1, SIGUSR2 or
// SIGRTMIN+2, until ctx is done. Failures are logged at Warn, as keepalived
// logs them, and do not stop the loop.
func (d *Dumper) Run(ctx context.Context, log *slog.Logger) error {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, SignalData, SignalStats, SignalJSON)
	defer signal.Stop(sigs)
	for {
		select {
		case <-ctx.Done():
			return nil
		case sig := <-sigs:
			k, ok := KindOf(sig)
			if !ok {
				continue
			}
			path, err := d.Dump(k)
			if err != nil {
				log.Warn("cannot write state dump", "file", path, "err", err)
				continue
			}
			log.Info("Printing VRRP state on signal", "file", path, "signal", sig.String())
		}
	}
}
