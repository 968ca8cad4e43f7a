// Package ipvs keeps the kernel's IP Virtual Server table in the state the
// configuration describes, as keepalived's virtual_server blocks do.
//
// It has three layers:
//
//   - desired.go: the desired-state model (Table, Service, Destination),
//     pure, with Validate. The conf → Table mapping lives with the caller.
//   - diff.go: Diff(desired, actual, owned) → ordered, minimal []Op; pure.
//     Services vigil does not own are never touched.
//   - kernel_linux.go: the edge over github.com/moby/ipvs: read the
//     table, apply ops, name the object in every error.
//   - reconcile.go: Reconciler ties them together. Reconcile reads the
//     kernel table, diffs and applies; Update diffs against the state the
//     last successful pass left, so a weight change is one request rather
//     than a dump of the whole table (10,000 services: seconds).
//
// See keepalived.conf(5), "LVS CONFIGURATION", and ipvsadm(8) for the
// meaning of schedulers, flags, persistence and forwarding methods.
//
// Not done here: health checks (internal/check decides weights and
// membership), virtual_server_group expansion and the sorry server
// (the conf mapping turns them into plain services and destinations),
// IPVS sync daemon and connection timeouts (ipvsadm --set).
//
// Kernel tests (TestKernel*) run only inside a VM booted by TestVM, which
// uses internal/vmtest; see kernel_vm_test.go.
package ipvs
