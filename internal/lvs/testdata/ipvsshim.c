/*
 * ipvsshim: an LD_PRELOAD library that lets Debian's keepalived 2.2.7 run
 * its checker process on a kernel without IPVS (BenchmarkHostCheckers in
 * checkbench_host_linux_test.go builds it with gcc and preloads it).
 *
 * keepalived's libipvs first looks for the IPVS generic-netlink family;
 * when the kernel has none, it falls back to the older socket-option
 * interface on a raw IP socket (IP_VS_SO_GET_* / IP_VS_SO_SET_* at level
 * IPPROTO_IP). Without ip_vs the kernel refuses those options and the
 * checker process exits. This library answers them instead:
 *
 *   - getsockopt of an IPVS option zero-fills the caller's buffer; for
 *     IP_VS_SO_GET_INFO it reports version 1.2.1, a connection table of
 *     4096 and no services, as an empty ip_vs would;
 *   - setsockopt of an IPVS option succeeds and changes nothing;
 *   - every other call goes to the C library's own function.
 *
 * So keepalived's checkers run as usual while its IPVS updates cost no
 * kernel work, as vigil's do against the in-memory table of the same
 * benchmark.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/ip_vs.h>

typedef int (*getsockopt_fn)(int, int, int, void *, socklen_t *);
typedef int (*setsockopt_fn)(int, int, int, const void *, socklen_t);

/* The IPVS options share one range: the GET options from
 * IP_VS_BASE_CTL to IP_VS_SO_GET_MAX, the SET options from
 * IP_VS_BASE_CTL to IP_VS_SO_SET_MAX (the larger). */
static int is_ipvs_option(int level, int name)
{
	return level == IPPROTO_IP && name >= IP_VS_BASE_CTL && name <= IP_VS_SO_SET_MAX;
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	static getsockopt_fn next;

	if (is_ipvs_option(level, name)) {
		if (val != NULL && len != NULL)
			memset(val, 0, *len);
		if (name == IP_VS_SO_GET_INFO) {
			struct ip_vs_getinfo info = {
				.version = (1 << 16) | (2 << 8) | 1, /* 1.2.1 */
				.size = 4096,
				.num_services = 0,
			};
			if (val == NULL || len == NULL || *len < sizeof(info)) {
				errno = EINVAL;
				return -1;
			}
			memcpy(val, &info, sizeof(info));
		}
		return 0;
	}
	if (next == NULL)
		next = (getsockopt_fn)dlsym(RTLD_NEXT, "getsockopt");
	return next(fd, level, name, val, len);
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	static setsockopt_fn next;

	if (is_ipvs_option(level, name))
		return 0;
	if (next == NULL)
		next = (setsockopt_fn)dlsym(RTLD_NEXT, "setsockopt");
	return next(fd, level, name, val, len);
}
