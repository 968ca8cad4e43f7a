package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"

	"github.com/vigil-ha/vigil/internal/conf"
	"github.com/vigil-ha/vigil/internal/daemon"
	"github.com/vigil-ha/vigil/internal/ipvs"
	"github.com/vigil-ha/vigil/internal/lvs"
	"github.com/vigil-ha/vigil/internal/metrics"
	"github.com/vigil-ha/vigil/internal/status"
	"github.com/vigil-ha/vigil/internal/vrrp"
)

// keepalived's default pid files.
const (
	defaultPidFile      = "/run/keepalived.pid"
	defaultVRRPPidFile  = "/run/keepalived_vrrp.pid"
	defaultCheckPidFile = "/run/keepalived_check.pid"
	daemonizedEnv       = "VIGIL_DAEMONIZED"
)

// runDaemon loads the configuration and runs until ctx is done. vigil is
// one process (goroutines, not children): the VRRP and checker pid files
// hold the same pid so that keepalived's tooling can still signal them.
func runDaemon(ctx context.Context, o options, stderr io.Writer) int {
	if !o.dontFork && os.Getenv(daemonizedEnv) == "" {
		return daemonize(stderr)
	}
	log, closeLog, err := newLogger(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return 1
	}
	defer closeLog()

	cfg, ds := load(o)
	for _, d := range ds {
		log.Warn(d.String())
	}
	if cfg == nil {
		log.Error("cannot run: the configuration could not be read")
		return 1
	}
	pids := pidFiles(o)
	for _, f := range pids {
		if err := os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			log.Warn("cannot write pid file", "file", f, "err", err)
		}
	}
	defer func() {
		for _, f := range pids {
			os.Remove(f)
		}
	}()

	log.Info("Starting vigil (keepalived-compatible)", "version", Version, "config", o.configFile)
	// The checker half: virtual servers and their health checks, unless
	// -P (VRRP only). Like keepalived, it runs only when the
	// configuration has virtual servers (or with --all).
	var mgr *lvs.Manager
	if !o.vrrpOnly && (len(cfg.VirtualServers) > 0 || o.all) {
		mgr = startLVS(cfg, o, log.With("subsystem", "checker"))
		if mgr == nil && o.checkOnly {
			return 1
		}
	}
	if mgr == nil && os.Getenv("GOMAXPROCS") == "" {
		// Without virtual servers the work is the VRRP engine's, serial
		// like keepalived's VRRP process; one P spares the runtime the
		// cross-thread wake-ups of an idle second one (1,000 instances:
		// about 15% less CPU). GOMAXPROCS in the environment wins.
		runtime.GOMAXPROCS(1)
	}
	// One nftables filter serves every instance (no_accept); it creates
	// its table only when a no_accept instance first becomes master.
	filter, err := vrrp.NewNFTFilter(vrrp.DefaultFilterConfig())
	if err != nil {
		log.Error("no_accept filter unavailable", "err", err)
	} else {
		defer func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := filter.Close(cctx); err != nil {
				log.Warn("cannot remove the no_accept filter table", "err", err)
			}
		}()
	}
	opts := daemon.Options{KeepVIPs: o.keepVRRP, PreciseTimers: true}
	if filter != nil {
		opts.Filter = filter
	}
	d, err := daemon.New(cfg, daemon.NewLinuxEdges(), opts, log)
	if err != nil {
		log.Error("cannot run the configuration", "err", err)
		return 1
	}
	// Dumps (SIGUSR1, SIGUSR2, keepalived's JSON signal), the control
	// socket and metrics run beside the daemon and stop with it.
	var side sync.WaitGroup
	sideCtx, stopSide := context.WithCancel(ctx)
	defer func() {
		stopSide()
		side.Wait()
	}()
	var src status.Source = d
	if mgr != nil {
		src = withLVS{d, mgr}
	}
	dumper := status.NewDumper(src, status.DumpOptions{RouterID: cfg.Global.RouterID})
	side.Go(func() {
		if err := dumper.Run(sideCtx, log); err != nil {
			log.Warn("state dumps unavailable", "err", err)
		}
	})
	side.Go(func() {
		if err := status.New(src, log).Run(sideCtx, o.socket); err != nil {
			log.Warn("control socket unavailable: vigil status will not answer", "err", err)
		}
	})
	if o.metricsAddr != "" {
		side.Go(func() {
			if err := metrics.Run(sideCtx, o.metricsAddr, src, log); err != nil {
				log.Warn("metrics endpoint unavailable", "addr", o.metricsAddr, "err", err)
			}
		})
	}
	// WatchdogSec in the unit: ping at half the interval while running.
	if wd, err := sddaemon.SdWatchdogEnabled(false); err == nil && wd > 0 {
		side.Go(func() {
			t := time.NewTicker(wd / 2)
			defer t.Stop()
			for {
				select {
				case <-sideCtx.Done():
					return
				case <-t.C:
					_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyWatchdog)
				}
			}
		})
	}
	ready := func() { _, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyReady) }
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go reloadLoop(ctx, o, d, mgr, hup, errorSet(ds), log)
	// IPVS outlives VRRP: it is released after the priority-0 adverts and
	// VIP removal (style §7, shutdown order).
	lvsCtx, stopLVS := context.WithCancel(context.WithoutCancel(ctx))
	lvsDone := make(chan error, 1)
	if mgr != nil {
		go func() { lvsDone <- mgr.Run(lvsCtx) }()
	} else {
		lvsDone <- nil
	}
	if o.checkOnly {
		ready()
		<-ctx.Done()
	} else {
		err = d.Run(ctx, ready)
	}
	_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyStopping)
	stopLVS()
	if lerr := <-lvsDone; lerr != nil && err == nil {
		err = lerr
	}
	if err != nil {
		log.Error("stopped on error", "err", err)
		return 1
	}
	log.Info("Stopped vigil")
	return 0
}

// errorSet is the set of error messages (without positions) of a
// configuration.
func errorSet(ds conf.Diagnostics) map[string]bool {
	m := map[string]bool{}
	for _, d := range ds {
		if d.Sev.IsError() {
			m[d.Msg] = true
		}
	}
	return m
}

// reloadLoop applies the configuration again on each SIGHUP. A
// configuration with an error that the running one did not have is
// refused and the running one is kept untouched, with every finding
// logged. (Errors the running configuration already had, such as an
// unknown keyword keepalived also tolerates, do not block a reload.)
func reloadLoop(ctx context.Context, o options, d *daemon.Daemon, mgr *lvs.Manager, hup <-chan os.Signal, known map[string]bool, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyReloading)
		log.Info("Reloading ...")
		cfg, ds := load(o)
		for _, dg := range ds {
			log.Warn(dg.String())
		}
		var fresh []string
		for _, dg := range ds {
			if dg.Sev.IsError() && !known[dg.Msg] {
				fresh = append(fresh, dg.String())
			}
		}
		if len(fresh) > 0 {
			log.Error("Reload refused: the new configuration has new errors; still running the previous one",
				"errors", strings.Join(fresh, "; "))
			_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyReady)
			continue
		}
		var res daemon.ReloadResult
		var err error
		if !o.checkOnly {
			res, err = d.Reload(ctx, cfg)
		}
		if mgr != nil && err == nil {
			if lerr := mgr.Reload(ctx, cfg); lerr != nil {
				log.Error("IPVS reload failed", "err", lerr)
			}
		}
		if err != nil {
			log.Error("Reload failed; still running the previous configuration", "err", err)
		} else {
			known = errorSet(ds)
			log.Info("Reload finished", "kept", len(res.Kept), "started", res.Started,
				"stopped", res.Stopped, "restarted", res.Restarted)
		}
		_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyReady)
	}
}

// startLVS opens IPVS and builds the virtual servers' manager. On failure
// it logs why and returns nil: VRRP still runs, as keepalived's VRRP
// process does when its checker process cannot.
func startLVS(cfg *conf.Config, o options, log *slog.Logger) *lvs.Manager {
	k, err := ipvs.Open("")
	if err != nil {
		// keepalived loads ip_vs itself when it is missing.
		_ = exec.Command("modprobe", "ip_vs").Run()
		k, err = ipvs.Open("")
	}
	if err != nil {
		log.Error("IPVS unavailable: the virtual servers and their checkers are not running", "err", err)
		return nil
	}
	mgr, err := lvs.New(cfg, lvs.Deps{Kernel: k, Flush: func(context.Context) error { return k.Flush() }, KeepIPVS: o.keepIPVS}, log)
	if err != nil {
		k.Close()
		log.Error("cannot run the virtual servers", "err", err)
		return nil
	}
	return mgr
}

// withLVS adds the virtual servers' real servers to the daemon's status.
type withLVS struct {
	*daemon.Daemon
	m *lvs.Manager
}

// RealServers implements status.RealServerSource.
func (w withLVS) RealServers() []status.RealServerStatus { return w.m.RealServers() }

// IPVSOps implements metrics.IPVSSource.
func (w withLVS) IPVSOps() (map[string]uint64, uint64) { return w.m.IPVSOps() }

func pidFiles(o options) []string {
	main, vrrpPid, check := o.pidFile, o.vrrpPidFile, o.checkPidFile
	if main == "" {
		main = defaultPidFile
	}
	if vrrpPid == "" {
		vrrpPid = defaultVRRPPidFile
	}
	if check == "" {
		check = defaultCheckPidFile
	}
	files := []string{main}
	if !o.checkOnly {
		files = append(files, vrrpPid)
	}
	if !o.vrrpOnly {
		files = append(files, check)
	}
	return files
}

// daemonize starts vigil again in a new session, detached from the
// terminal, and returns at once as keepalived's parent does when it forks.
func daemonize(stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "vigil: cannot daemonize: %v\n", err)
		return 1
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "vigil: cannot daemonize: %v\n", err)
		return 1
	}
	defer devnull.Close()
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonizedEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "vigil: cannot daemonize: %v\n", err)
		return 1
	}
	return 0
}
