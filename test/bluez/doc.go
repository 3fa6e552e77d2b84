// Package bluez is the BLE suite that runs against real BlueZ: bluetoothd
// 5.66 with virtual LE controllers (btvirt) inside a QEMU guest booted from
// Debian's own kernel. The tests are built with the bluezvm tag and run only
// in that guest; run.sh builds everything, boots the guest and reports the
// result (make test-ble).
//
// Controllers in the guest: hci0 and hci2 are centrals (espprov, espprovd,
// the BLE transport), hci1 and hci3 serve simulated devices (espsim
// --ble-adapter, or the peripheral package in-process).
package bluez
