#!/usr/bin/env bash
# Builds the BLE rig's guest: Debian's own kernel (downloaded with apt, unpacked
# with dpkg -x, never installed) and a small initramfs holding busybox, the
# kernel modules BlueZ needs and our PID 1 (init.sh).
#
# Usage: initramfs.sh CACHE_DIR   → CACHE_DIR/vmlinuz, CACHE_DIR/initramfs.cpio.gz
# The kernel download is kept in CACHE_DIR/kernel and reused.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:?usage: initramfs.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# 1. The kernel package (the linux-image-amd64 metapackage names it).
if [ ! -d "$cache/kernel/boot" ]; then
  rm -rf "$cache/debs" "$cache/kernel.tmp"
  mkdir -p "$cache/debs"
  (
    cd "$cache/debs"
    # A machine whose package lists were never fetched knows no kernel.
    apt-cache show linux-image-amd64 >/dev/null 2>&1 || apt-get update -qq
    apt-get download -q linux-image-amd64 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
    meta=$(ls linux-image-amd64_*.deb)
    pkg=$(dpkg-deb -f "$meta" Depends | tr ',' '\n' | sed -n 's/^ *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -1)
    [ -n "$pkg" ] || { echo "initramfs.sh: cannot tell the kernel package from $meta" >&2; exit 1; }
    apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
  )
  deb=$(ls "$cache"/debs/linux-image-[0-9]*.deb 2>/dev/null | head -1)
  [ -n "$deb" ] || { echo "initramfs.sh: apt-get download of the kernel failed (apt-get update?)" >&2; exit 1; }
  dpkg -x "$deb" "$cache/kernel.tmp"
  mv "$cache/kernel.tmp" "$cache/kernel"
  rm -rf "$cache/debs"
fi
kver=$(ls "$cache/kernel/lib/modules" | head -1)
mods=$cache/kernel/lib/modules/$kver
# The .deb ships no modules.dep.
[ -f "$mods/modules.dep" ] || depmod -b "$cache/kernel" "$kver"
cp "$cache/kernel/boot/vmlinuz-$kver" "$cache/vmlinuz"

# 2. The initramfs tree.
root=$cache/initramfs
rm -rf "$root"
mkdir -p "$root"/{bb,modules,proc,sys,dev}
busybox=$(command -v busybox)
cp "$busybox" "$root/bb/busybox"
for applet in $("$root/bb/busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bb/$applet"
done

# Modules, each after the modules it depends on. The crypto ones come first:
# the random generator (drbg, with sha512 and ctr) before ecdh_generic, whose
# self-test needs it, and AF_ALG (hash + skcipher, ecb, cmac) which btvirt and
# bluetoothd use for LE crypto.
want="virtio_pci virtio-rng sha512_generic ctr drbg ecb cmac algif_hash algif_skcipher
      hci_vhci bluetooth ecdh_generic 9p 9pnet_virtio"
declare -A loaded=()
order=()
add() {
  local m=$1 dep
  [ -n "${loaded[$m]:-}" ] && return 0
  loaded[$m]=1
  for dep in $(grep "^$m:" "$mods/modules.dep" | cut -d: -f2); do add "$dep"; done
  order+=("$m")
}
for w in $want; do
  m=$(grep -E "/$w\.ko(\.xz)?:" "$mods/modules.dep" | cut -d: -f1 || true)
  [ -n "$m" ] && add "$m"   # otherwise built in
done
: > "$root/modules/order"
for m in "${order[@]}"; do
  b=$(basename "$m"); b=${b%.xz}; b=${b%.ko}
  case $m in
    *.xz) xz -dc "$mods/$m" > "$root/modules/$b.ko" ;;
    *) cp "$mods/$m" "$root/modules/$b.ko" ;;
  esac
  echo "$b" >> "$root/modules/order"
done
install -m 755 "$here/init.sh" "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$cache/initramfs.cpio.gz.tmp"
mv "$cache/initramfs.cpio.gz.tmp" "$cache/initramfs.cpio.gz"
echo "initramfs: kernel $kver, modules: $(tr '\n' ' ' < "$root/modules/order")"
