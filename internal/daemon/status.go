package daemon

import "github.com/vigil-ha/vigil/internal/status"

// Instances implements status.Source: every running instance in config
// order, with its configuration for versions, intervals and VIP prefixes.
func (d *Daemon) Instances() []status.InstanceStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []status.InstanceStatus
	for _, key := range d.order {
		r := d.insts[key]
		if r == nil {
			continue
		}
		for i, rn := range r.runners {
			var cfg = &r.plan.Members[i].Runner
			st := status.FromRunner(rn, cfg)
			st.SyncGroup = r.plan.Group
			out = append(out, st)
		}
	}
	return out
}
