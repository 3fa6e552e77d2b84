#!/bb/busybox sh
# PID 1 of the BLE rig's guest. The root is the initramfs; the host's /usr and
# /etc come read-only over 9p (merged /usr: that is every host binary), the
# rig's work folder read-write at /rig. Runs the script named by guest= on the
# kernel command line and powers off.
export PATH=/bb
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod /modules/$m.ko || echo "rig: insmod $m failed"; done
mkdir -p /usr /etc /run /tmp /root /rig /dev/pts /dev/shm /var/lib/bluetooth /var/lib/dbus
opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o $opts,ro,cache=loose usr /usr || { echo "rig: cannot mount /usr"; poweroff -f; }
mount -t 9p -o $opts,ro,cache=loose etc /etc || { echo "rig: cannot mount /etc"; poweroff -f; }
mount -t 9p -o $opts rig /rig || { echo "rig: cannot mount /rig"; poweroff -f; }
ln -s usr/bin /bin; ln -s usr/sbin /sbin; ln -s usr/lib /lib; ln -s usr/lib64 /lib64
ln -s /run /var/run
ln -s /etc/machine-id /var/lib/dbus/machine-id
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t devpts devpts /dev/pts
hostname bluezvm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin HOME=/root
guest=$(sed -n 's/.*guest=\([^ ]*\).*/\1/p' /proc/cmdline)
/bin/bash "${guest:-/rig/guest.sh}"
echo "rig: guest script exited with $?"
sync
poweroff -f
