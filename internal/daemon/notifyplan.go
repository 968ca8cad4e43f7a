package daemon

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/vigil-ha/vigil/internal/conf"
	"github.com/vigil-ha/vigil/internal/notify"
	"github.com/vigil-ha/vigil/internal/track"
	"github.com/vigil-ha/vigil/internal/vrrp"
)

// planNotify maps the configuration's notify scripts, FIFOs and mail
// settings onto the notifier's configuration. Problems that keepalived
// reports and then runs without (a script user that does not exist) are
// returned as warnings, and the script is left out.
func planNotify(c *conf.Config) (notify.Config, []string) {
	g := &c.Global
	var warns []string
	def, err := notify.DefaultCredential(g.ScriptUser, g.ScriptGroup, g.EnableScriptSecurity)
	noDefault := errors.Is(err, notify.ErrNoDefaultUser)
	if err != nil && !noDefault {
		warns = append(warns, err.Error())
		def = notify.Self()
	}
	cmd := func(owner string, s *conf.Script) *notify.Command {
		if s == nil {
			return nil
		}
		args, err := notify.ParseCommand(s.Cmd)
		if err != nil {
			warns = append(warns, fmt.Sprintf("%s: (%s) script %q: %v - ignoring", s.Pos, owner, s.Cmd, err))
			return nil
		}
		nc := &notify.Command{Args: args}
		if s.User != "" {
			cred, err := notify.LookupCredential(s.User, s.Group)
			if err != nil {
				warns = append(warns, fmt.Sprintf("%s: (%s) %v - ignoring script", s.Pos, owner, err))
				return nil
			}
			nc.User = &cred
		} else if noDefault {
			// keepalived: with enable_script_security and no default
			// user, scripts without their own user are not run.
			warns = append(warns, fmt.Sprintf("%s: (%s) %v %s - ignoring", s.Pos, owner, notify.ErrNoDefaultUser, s.Cmd))
			return nil
		}
		return nc
	}
	scripts := func(owner string, n conf.Notify, alert *bool) notify.Scripts {
		return notify.Scripts{
			Master: cmd(owner, n.Master), Backup: cmd(owner, n.Backup), Fault: cmd(owner, n.Fault),
			Stop: cmd(owner, n.Stop), Deleted: cmd(owner, n.Deleted), Notify: cmd(owner, n.Any),
			MasterRxLowerPri: cmd(owner, n.MasterRxLowerPri),
			NotifyDeleted:    n.Deleted != nil,
			// smtp_alert: the instance's, else smtp_alert_vrrp, else smtp_alert.
			SMTPAlert: boolOr(alert, boolOr(g.SMTPAlertVRRP, boolOr(g.SMTPAlert, false))),
		}
	}
	nc := notify.Config{
		Instances:      map[string]notify.Scripts{},
		Groups:         map[string]notify.Scripts{},
		ScriptSecurity: g.EnableScriptSecurity,
		DefaultUser:    &def,
		NoEmailFaults:  g.NoEmailFaults,
		Mail: notify.MailConfig{
			HeloName: g.SMTPHeloName, From: g.NotificationEmailFrom, To: g.NotificationEmail,
			RouterID: g.RouterID, ConnectTimeout: g.SMTPConnectTimeout,
		},
	}
	if g.SMTPServer.IsValid() {
		nc.Mail.Server = net.JoinHostPort(g.SMTPServer.Addr().String(), strconv.Itoa(int(g.SMTPServer.Port())))
	}
	// notify_fifo and vrrp_notify_fifo both get every VRRP line.
	for _, f := range []*conf.FIFO{g.NotifyFIFO, g.VRRPNotifyFIFO} {
		if f == nil || f.Path == "" {
			continue
		}
		nf := notify.FIFO{Path: f.Path, Script: cmd("notify fifo "+f.Path, f.Script)}
		if f.User != "" {
			cred, err := notify.LookupCredential(f.User, f.Group)
			if err != nil {
				warns = append(warns, fmt.Sprintf("%s: notify fifo %s: %v - using the daemon's user", f.Pos, f.Path, err))
			} else {
				nf.Owner = &cred
			}
		}
		nc.FIFOs = append(nc.FIFOs, nf)
	}
	for _, vi := range c.Instances {
		nc.Instances[vi.Name] = scripts(vi.Name, vi.Notify, vi.SMTPAlert)
	}
	for _, sg := range c.SyncGroups {
		nc.Groups[sg.Name] = scripts(sg.Name, sg.Notify, sg.SMTPAlert)
	}
	return nc, warns
}

// planTrack maps vrrp_script and vrrp_track_file blocks onto the
// tracker's configuration; only objects some instance tracks (used, from
// trackAgg.used, after the sync group rules) are run, as keepalived does.
func planTrack(c *conf.Config, ncfg notify.Config, used map[objKey]bool) (track.Config, []string) {
	var warns []string
	tc := track.Config{ScriptSecurity: ncfg.ScriptSecurity, DefaultUser: ncfg.DefaultUser}
	for _, s := range c.VRRPScripts {
		if !used[objKey{kindScript, s.Name}] {
			continue
		}
		args, err := notify.ParseCommand(s.Script)
		if err != nil {
			warns = append(warns, fmt.Sprintf("%s: vrrp_script %s: %v - disabling", s.Pos, s.Name, err))
			continue
		}
		cmd := notify.Command{Args: args}
		if s.User != "" {
			cred, err := notify.LookupCredential(s.User, s.Group)
			if err != nil {
				warns = append(warns, fmt.Sprintf("%s: vrrp_script %s: %v - disabling", s.Pos, s.Name, err))
				continue
			}
			cmd.User = &cred
		}
		tc.Scripts = append(tc.Scripts, track.Script{
			Name: s.Name, Cmd: cmd, Interval: s.Interval, Timeout: s.Timeout,
			Weight: s.Weight, Reverse: s.WeightReverse, Rise: s.Rise, Fall: s.Fall, InitFail: s.InitFail,
		})
	}
	for _, f := range c.VRRPTrackFiles {
		if !used[objKey{kindFile, f.Name}] {
			continue
		}
		tf := track.File{Name: f.Name, Path: f.File, Weight: f.Weight, Reverse: f.WeightReverse}
		if f.InitFile != nil {
			tf.Init = &track.FileInit{Value: f.InitFile.Value, Overwrite: f.InitFile.Overwrite}
		}
		tc.Files = append(tc.Files, tf)
	}
	return tc, warns
}

// notifyState maps a VRRP state onto the word notify scripts get.
func notifyState(s vrrp.State) (notify.State, bool) {
	switch s {
	case vrrp.StateMaster:
		return notify.StateMaster, true
	case vrrp.StateBackup:
		return notify.StateBackup, true
	case vrrp.StateFault:
		return notify.StateFault, true
	case vrrp.StateStop:
		return notify.StateStop, true
	}
	return 0, false
}
