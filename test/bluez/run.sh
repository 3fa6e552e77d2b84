#!/usr/bin/env bash
# Runs the BLE suite against real BlueZ: builds the suite and the commands,
# the guest (initramfs.sh, cached), boots it under QEMU with software
# emulation and reports the suite's result.
#
# Usage: test/bluez/run.sh [flags for the suite's test binary, e.g. -test.run Provision]
# Environment: ESPPROV_BLUEZ_CACHE (default .cache/bluezvm in the repository),
# CONTROLLERS (virtual controllers, default 4), VM_TIMEOUT (seconds, default 600),
# RACE (1: build the suite with the race detector, default 1), BTMON (the guest
# always records an HCI trace with btmon and keeps it in out/ when the suite
# fails; 1: keep it from every run, 0: do not record), KEEP (1: keep the run's folder).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${ESPPROV_BLUEZ_CACHE:-$repo/.cache/bluezvm}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
GO=${GO:-go}

# The guest, rebuilt when its recipe changes.
stamp=$(cat "$here/init.sh" "$here/initramfs.sh" | sha256sum | cut -c1-16)
if [ ! -f "$cache/initramfs.cpio.gz" ] || [ "$(cat "$cache/stamp" 2>/dev/null)" != "$stamp" ]; then
  (
    flock 9
    if [ "$(cat "$cache/stamp" 2>/dev/null)" != "$stamp" ]; then
      "$here/initramfs.sh" "$cache"
      echo "$stamp" > "$cache/stamp"
    fi
  ) 9> "$cache/.lock"
fi

# One folder per run (shared with the guest as /rig), so runs may overlap.
work=$(mktemp -d "$cache/run.XXXXXX")
cleanup() { [ "${KEEP:-}" = 1 ] || rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/bin" "$work/out"
cp "$here/guest.sh" "$here/main.conf" "$work/"
echo "${CONTROLLERS:-4}" > "$work/controllers"
printf '%s\n' "$@" > "$work/args"
race=()
[ "${RACE:-1}" = 1 ] && race=(-race)
(cd "$repo" && $GO test "${race[@]}" -c -tags bluezvm -o "$work/ble.test" ./test/bluez)
(cd "$repo" && CGO_ENABLED=0 $GO build -o "$work/bin/" ./cmd/espsim ./cmd/espprov ./cmd/espprovd)

start=$(date +%s)
set +e
# -accel tcg: this host's /dev/kvm only runs specially built guests.
# no_timer_check: a starved emulator fails the kernel's boot-time timer check
# ("IO-APIC + timer doesn't work!", a panic at 0.04 s, seen at load 37).
timeout "${VM_TIMEOUT:-600}" qemu-system-x86_64 -accel tcg -cpu max -M pc -m 1024 -smp 2 \
  -nodefaults -no-user-config -display none -serial stdio -no-reboot \
  -kernel "$cache/vmlinuz" -initrd "$cache/initramfs.cpio.gz" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 no_timer_check guest=/rig/guest.sh${BTMON:+ BTMON=$BTMON}" \
  -virtfs local,path=/usr,mount_tag=usr,security_model=none,readonly=on \
  -virtfs local,path=/etc,mount_tag=etc,security_model=none,readonly=on \
  -virtfs "local,path=$work,mount_tag=rig,security_model=none" \
  -device virtio-rng-pci < /dev/null 2>&1 | tee "$work/console.log"
qrc=${PIPESTATUS[0]}
set -e
echo "rig: VM ran $(( $(date +%s) - start )) s (qemu status $qrc)"
if [ ! -f "$work/out/rc" ]; then
  echo "rig: the suite did not finish (VM timeout or crash); run folder kept: $work" >&2
  KEEP=1
  exit 1
fi
rc=$(cat "$work/out/rc")
[ -f "$work/out/metrics.txt" ] && { echo "rig: metrics of this run:"; cat "$work/out/metrics.txt"; }
if [ "$rc" != 0 ]; then
  echo "rig: BLE suite failed (status $rc); bluetoothd log tail:" >&2
  tail -40 "$work/out/bluetoothd.log" >&2 || true
  KEEP=1
  echo "rig: run folder kept: $work" >&2
fi
exit "$rc"
