// Package daemon wires vigil together: it turns a typed configuration into
// running VRRP instances (and, as they land, IPVS and checkers), owns their
// goroutines and orders their shutdown: priority-0 adverts and VIP removal
// before the process exits.
package daemon
