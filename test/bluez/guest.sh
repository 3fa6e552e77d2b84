#!/bin/bash
# Inside the rig's guest (run by init.sh): the system bus, $CONTROLLERS
# virtual LE controllers linked to each other (btvirt), bluetoothd with the
# rig's main.conf, then the BLE suite (/rig/ble.test with the flags in
# /rig/args). The exit status goes to /rig/out/rc, the daemons' logs beside it.
set -u
out=/rig/out
mkdir -p "$out" /run/dbus
/bb/ip link set lo up
n=$(cat /rig/controllers 2>/dev/null || echo 4)
echo "rig: guest up at $(cut -d' ' -f1 /proc/uptime)s"
dbus-daemon --system --fork || { echo 1 > "$out/rc"; exit 1; }
btvirt -L -l"$n" > /tmp/btvirt.log 2>&1 &
last=/sys/class/bluetooth/hci$((n - 1))
for _ in $(seq 300); do [ -e "$last" ] && break; sleep 0.1; done
[ -e "$last" ] || { echo "rig: btvirt did not create $n controllers"; cat /tmp/btvirt.log; echo 1 > "$out/rc"; exit 1; }
/usr/libexec/bluetooth/bluetoothd -n -f /rig/main.conf > /tmp/bluetoothd.log 2>&1 &
[ -n "${BTMON:-}" ] && { btmon -T > /tmp/btmon.txt 2>&1 & }
echo "rig: bluez started at $(cut -d' ' -f1 /proc/uptime)s"
# Binaries run from the guest's RAM: executed from the 9p share, every page
# fault is a round trip to the host (espprov --help: 7.5 s instead of 0.4 s).
mkdir -p /tmp/bin
cp /rig/bin/* /tmp/bin/
cp /rig/ble.test /tmp/ble.test
mapfile -t args < /rig/args
cd /tmp
ESPPROV_RIG_BIN=/tmp/bin ESPPROV_RIG_CONTROLLERS=$n /tmp/ble.test -test.v "${args[@]}"
rc=$?
echo "$rc" > "$out/rc"
cp /tmp/bluetoothd.log /tmp/btvirt.log "$out/" 2>/dev/null
[ -f /tmp/btmon.txt ] && cp /tmp/btmon.txt "$out/"
sync
exit "$rc"
