#!/usr/bin/env bash
# make demo: a lab of network namespaces (a bridge and three hosts) running
# two vigil nodes and one Debian keepalived node on demo/keepalived.conf.
# Shows who holds the VIP, kills the master, shows the VIP move, cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "make demo needs root (network namespaces)"; exit 1; }
VIGIL=$PWD/bin/vigil
CONF=$PWD/demo/keepalived.conf
VIP=10.99.0.100
tag=vd$$
sw=$tag-sw
run=$(mktemp -d /tmp/vigil-demo.XXXXXX)
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for n in 1 2 3; do ip netns del "$tag-h$n" 2>/dev/null || true; done
  ip netns del "$sw" 2>/dev/null || true
  rm -rf "$run"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

holder() {
  local who=""
  for n in 1 2 3; do
    if ip -n "$tag-h$n" -4 addr show dev eth0 2>/dev/null | grep -q " $VIP/"; then who+="node$n "; fi
  done
  echo "${who:-nobody}"
}

wait_holder() { # wait_holder NODE SECONDS
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(holder)" = "$1 " ] && return 0
    sleep 0.2
  done
  return 1
}

say "building the lab: bridge namespace $sw and hosts $tag-h1..3 on 10.99.0.0/24"
ip netns add "$sw"
ip -n "$sw" link add br0 type bridge mcast_snooping 0
ip -n "$sw" link set br0 up
for n in 1 2 3; do
  h=$tag-h$n
  ip netns add "$h"
  ip link add eth0 netns "$h" type veth peer name p$n netns "$sw"
  ip -n "$sw" link set p$n master br0 up
  ip -n "$h" link set lo up
  ip -n "$h" addr add 10.99.0.1$n/24 dev eth0
  ip -n "$h" link set eth0 up
done

say "vigil -t on the demo config (as node1)"
"$VIGIL" -t -i node1 -f "$CONF" && echo "config OK"

say "starting node1 (vigil, priority 150), node2 (vigil, 100), node3 (keepalived, 50)"
for n in 1 2; do
  ip netns exec "$tag-h$n" "$VIGIL" -n -l -i node$n -f "$CONF" \
    -p "$run/n$n.pid" -r "$run/n$n-vrrp.pid" -c "$run/n$n-check.pid" --socket "$run/n$n.sock" \
    >"$run/node$n.log" 2>&1 &
  pids+=($!)
done
ip netns exec "$tag-h3" keepalived -n -l -D -P -i node3 -f "$CONF" \
  -p "$run/n3.pid" -r "$run/n3-vrrp.pid" -c "$run/n3-check.pid" >"$run/node3.log" 2>&1 &
pids+=($!)

if wait_holder node1 10; then echo "VIP $VIP is on: $(holder)"; else echo "unexpected: VIP on $(holder)"; fi

say "vigil status on node2, and why it is not master"
"$VIGIL" status --socket "$run/n2.sock" || true
"$VIGIL" explain VI_1 --socket "$run/n2.sock" || true

say "powering off node1: SIGKILL (no goodbye advert), then its host disappears"
kill -9 "${pids[0]}"
wait "${pids[0]}" 2>/dev/null || true
ip netns del "$tag-h1"
start=$(date +%s.%N)
if wait_holder node2 10; then
  printf "VIP %s moved to: %s after %s s\n" "$VIP" "$(holder)" "$(awk -v a="$start" -v b="$(date +%s.%N)" "BEGIN{printf \"%.2f\", b-a}")"
else
  echo "unexpected: VIP on $(holder)"
fi

say "stopping node2 gracefully (SIGTERM: priority-0 advert, keepalived takes over)"
kill -TERM "${pids[1]}"
if wait_holder node3 10; then echo "VIP $VIP is on: $(holder)"; else echo "unexpected: VIP on $(holder)"; fi

say "logs"
for n in 1 2 3; do echo "--- node$n"; grep -E "Entering|priority 0|VIP|error" "$run/node$n.log" | cut -c1-160 | head -20 || true; done
say "done; cleaning up"
