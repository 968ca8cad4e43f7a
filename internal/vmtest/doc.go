// Package vmtest boots a throw-away Linux kernel under qemu and runs a Go
// test binary inside it, so that tests which need kernel features the host
// lacks (IPVS: the ip_vs modules) can run on any machine with qemu.
//
// The pieces, each usable alone:
//
//   - Kernel: a Debian linux-image package fetched with `apt-get download`
//     and unpacked with `dpkg-deb -x` into a cache directory, once.
//   - Archive: a newc cpio writer. The initramfs is two concatenated,
//     uncompressed archives: a cached base (busybox, kernel modules, extra
//     host programs with their shared libraries, /init) and a small
//     per-run archive holding the test binary and its arguments. The Linux
//     initramfs unpacker accepts concatenated archives.
//   - Run: boots qemu under TCG (no KVM: it hangs in nested setups), streams
//     the serial console, and reads the exit status that /init prints as
//     "EXIT=<n>" before `poweroff -f`.
//   - ParseTestOutput and Replay: turn the `-test.v=test2json` output of
//     the binary into a test tree and replay it on the host with t.Run, so
//     that failures inside the VM are ordinary failures with the same names.
//
// Inside the VM the environment variable VIGIL_IN_VM is "1"; tests that need
// the VM check it with InVM and skip otherwise.
//
// Usage, from a package's host-side test:
//
//	func TestVM(t *testing.T) {
//		vmtest.RunGoTest(t, vmtest.GoTest{Run: "^TestKernel", Modules: []string{"ip_vs"}})
//	}
//
// Environment: VIGIL_VM_CACHE overrides the cache directory (default
// MODULE_ROOT/.cache/vmtest, which holds the kernel .deb, its unpacked tree
// with an extracted vmlinux, and the base archives); VIGIL_VM_SERIAL=1
// copies the serial console to stderr as it arrives. With -short nothing
// is downloaded and a missing kernel or qemu skips the test.
//
// Host needs: qemu-system-x86_64 (qemu-system-x86), busybox-static,
// dpkg-deb and apt-get (first run only), xz (xz-utils; without it the
// slower compressed kernel boots), ldd for Programs, and the go command.
//
// The package does not build kernels, does not use KVM, and gives the VM no
// network device.
package vmtest
