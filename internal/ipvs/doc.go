// Package ipvs keeps the kernel's IP Virtual Server table in the state the
// configuration describes, as keepalived's virtual_server blocks do.
//
// It has three layers:
//
//   - desired.go: the desired-state model (Table, Service, Destination),
//     pure, with Validate. The conf → Table mapping lives with the caller.
//   - diff.go: Diff(desired, actual, owned) → ordered, minimal []Op; pure.
//     Services vigil does not own are never touched.
//   - genl.go: the IPVS generic netlink messages (ip_vs.h), encoded and
//     decoded by hand, pure: every service and destination attribute,
//     the persistence engine (IPVS_SVC_ATTR_PE_NAME) and the tunnel
//     type, port and checksum flags (IPVS_DEST_ATTR_TUN_*) included.
//   - kernel_linux.go: the edge, one generic netlink socket: read the
//     table (dumps), apply ops one at a time (Apply) or up to 1,024 per
//     sendmsg (ApplyBatch: only the last op asks for an ack, a refused
//     op's error comes back with its sequence number), name the object
//     in every error.
//   - reconcile.go: Reconciler ties them together. Reconcile reads the
//     kernel table, diffs and applies; Update diffs against the state the
//     last successful pass left, so a weight change is one request rather
//     than a dump of the whole table (10,000 services: seconds). When the
//     KernelTable is a BatchApplier, the ops go in two passes: services
//     first, then the destinations of those not refused, diffed and sent
//     4,096 at a time (a sync from empty never holds all its ops).
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
// uses internal/vmtest; see vm_linux_test.go. github.com/moby/ipvs, the
// previous write path, remains only in the tests, as the op-by-op
// baseline of BenchmarkKernelSyncVsKeepalived.
package ipvs
