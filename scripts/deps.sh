#!/usr/bin/env bash
# Installs the Debian packages vigil's tests, demo and benchmarks use, when
# they are missing. Idempotent: runs apt-get only if something is absent.
# Usage: scripts/deps.sh [GROUP...]   groups: test (default), vm, bench
set -euo pipefail

groups=("$@")
[ ${#groups[@]} -gt 0 ] || groups=(test)

pkgs=()
for g in "${groups[@]}"; do
  case "$g" in
    # gcc and libc6-dev build internal/lvs/testdata/ipvsshim.c, which lets
    # keepalived's checker process run on a host kernel without ip_vs.
    test)  pkgs+=(keepalived iproute2 procps nftables nginx dnsmasq-base exim4-daemon-light
                  ipvsadm qemu-system-x86 busybox-static xz-utils systemd gcc libc6-dev) ;;
    vm)    pkgs+=(qemu-system-x86 busybox-static xz-utils ipvsadm keepalived) ;;
    bench) pkgs+=(keepalived iproute2 tcpdump gcc libc6-dev) ;;
    *) echo "deps.sh: unknown group $g" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: missing Debian packages (${missing[*]}); run as root to install them" >&2
  exit 0
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
