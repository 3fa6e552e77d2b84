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
BLUEZ_DEBUG=${BLUEZ_DEBUG:-src/adapter.c:src/device.c}
echo "rig: guest up at $(cut -d' ' -f1 /proc/uptime)s"
dbus-daemon --system --fork || { echo 1 > "$out/rc"; exit 1; }
# Under heavy host load the kernel's HCI command timeout can expire while
# btvirt (a guest process under software emulation) initialises a controller;
# such a controller never reaches bluetoothd. Then everything is started over.
adapters() {
  timeout 10 dbus-send --system --print-reply --dest=org.bluez / \
    org.freedesktop.DBus.ObjectManager.GetManagedObjects 2>/dev/null | grep -c '"org.bluez.Adapter1"'
}
start_bluez() {
  btvirt -L -l"$n" > /tmp/btvirt.log 2>&1 &
  btvirt_pid=$!
  last=/sys/class/bluetooth/hci$((n - 1))
  local end=$(( $(date +%s) + 60 ))
  while [ ! -e "$last" ] && [ "$(date +%s)" -lt "$end" ]; do sleep 0.1; done
  [ -e "$last" ] || return 1
  # Debug output of the adapter and device code (discovery, connect, GATT
  # client), so that a failed run explains itself.
  /usr/libexec/bluetooth/bluetoothd -n -f /rig/main.conf -d "$BLUEZ_DEBUG" > /tmp/bluetoothd.log 2>&1 &
  bluetoothd_pid=$!
  local end=$(( $(date +%s) + 60 ))
  while [ "$(date +%s)" -lt "$end" ]; do
    [ "$(adapters)" -ge "$n" ] && return 0
    sleep 0.2
  done
  return 1
}
# Read the daemons and their libraries once: their first start otherwise
# pages them in over 9p, slowly enough for the kernel's HCI command timeout
# to hit a controller's initialisation.
for f in /usr/bin/btvirt /usr/libexec/bluetooth/bluetoothd /usr/bin/dbus-send; do
  cat "$f" $(ldd "$f" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p') > /dev/null 2>&1
done
ok=
for attempt in 1 2 3; do
  if start_bluez; then ok=1; break; fi
  echo "rig: attempt $attempt: $n controllers did not all come up; starting over"
  kill "$bluetoothd_pid" "$btvirt_pid" 2>/dev/null
  wait "$bluetoothd_pid" "$btvirt_pid" 2>/dev/null
  end=$(( $(date +%s) + 30 ))
  while [ -e /sys/class/bluetooth/hci0 ] && [ "$(date +%s)" -lt "$end" ]; do sleep 0.1; done
done
[ -n "$ok" ] || { echo "rig: BlueZ did not come up"; cat /tmp/btvirt.log; echo 1 > "$out/rc"; exit 1; }
# The HCI trace of every controller (BTMON=0 on the kernel command line
# switches it off).
[ "${BTMON:-1}" != 0 ] && { btmon -T > /tmp/btmon.txt 2>&1 & }
echo "rig: bluez up ($n controllers) at $(cut -d' ' -f1 /proc/uptime)s"
# Binaries run from the guest's RAM: executed from the 9p share, every page
# fault is a round trip to the host (espprov --help: 7.5 s instead of 0.4 s).
mkdir -p /tmp/bin
cp /rig/bin/* /tmp/bin/
cp /rig/ble.test /tmp/ble.test
mapfile -t args < /rig/args
cd /tmp
# Emulated controllers on a loaded host resolve services and read
# descriptors 20–50 times slower than a phone: the BLE transport's connect
# deadline (connect, service resolution, endpoint names; 20 s by default)
# is scaled for every process of the suite.
export ESPPROV_BLE_CONNECT_TIMEOUT=${ESPPROV_BLE_CONNECT_TIMEOUT:-60s}
ESPPROV_RIG_BIN=/tmp/bin ESPPROV_RIG_CONTROLLERS=$n /tmp/ble.test -test.v "${args[@]}"
rc=$?
echo "$rc" > "$out/rc"
cp /tmp/bluetoothd.log /tmp/btvirt.log "$out/" 2>/dev/null
dmesg > "$out/dmesg.txt" 2>/dev/null
# The trace is large: a failed run keeps it (BTMON=1: every run).
if [ -f /tmp/btmon.txt ] && { [ "$rc" != 0 ] || [ "${BTMON:-}" = 1 ]; }; then cp /tmp/btmon.txt "$out/"; fi
sync
exit "$rc"
