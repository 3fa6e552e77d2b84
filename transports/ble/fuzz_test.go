package ble

import (
	"errors"
	"slices"
	"testing"

	"github.com/godbus/dbus/v5"
)

const fuzzDev = dbus.ObjectPath("/org/bluez/hci0/dev_00_AA_01_00_00_01")

// gattDB builds BlueZ's view of a device's GATT database from fuzzed parts:
// one service, three characteristics with their UUIDs and, for each non-empty
// value, a 0x2901 descriptor holding that value. Bits of layout move a
// characteristic to another device, put the service among the SIG services,
// or give a descriptor another UUID.
func gattDB(svc string, charUUIDs [3]string, descs [3][]byte, layout uint8) (managedObjects, map[dbus.ObjectPath][]byte) {
	objs := managedObjects{}
	values := map[dbus.ObjectPath][]byte{}
	svcUUID := svc
	if layout&1 != 0 {
		svcUUID = "00001800-0000-1000-8000-00805f9b34fb" // Generic Access
	}
	sp := fuzzDev + "/service0001"
	objs[sp] = map[string]map[string]dbus.Variant{ifaceService: {"UUID": dbus.MakeVariant(svcUUID)}}
	for i, u := range charUUIDs {
		dev := fuzzDev
		if layout&(2<<i) != 0 {
			dev = "/org/bluez/hci0/dev_00_AA_01_00_00_02"
		}
		cp := dev + dbus.ObjectPath("/service0001/char000"+string(rune('a'+i)))
		objs[cp] = map[string]map[string]dbus.Variant{ifaceChar: {
			"UUID": dbus.MakeVariant(u), "Service": dbus.MakeVariant(sp),
		}}
		if len(descs[i]) == 0 {
			continue
		}
		du := userDescUUID
		if layout&(16<<i) != 0 {
			du = "00002902-0000-1000-8000-00805f9b34fb"
		}
		dp := cp + "/desc0001"
		objs[dp] = map[string]map[string]dbus.Variant{ifaceDesc: {
			"UUID": dbus.MakeVariant(du), "Characteristic": dbus.MakeVariant(cp),
		}}
		values[dp] = descs[i]
	}
	return objs, values
}

// FuzzEndpointMap feeds arbitrary GATT databases (service and characteristic
// UUIDs, endpoint-name descriptor values as read, NUL padding included) to
// the endpoint mapping. It must never panic, map only characteristics of the
// device, name an endpoint after a descriptor only with that descriptor's
// trimmed value, and fall back to computed UUIDs only for protocomm's own
// endpoints.
func FuzzEndpointMap(f *testing.F) {
	svc := "021a9004-0382-4aea-bff4-6b3f1c5adfb4"
	f.Add(svc, charUUID(svc, 0xff51), charUUID(svc, 0xff52), charUUID(svc, 0xff53),
		[]byte("prov-session"), []byte("prov-config\x00\x00"), []byte("proto-ver"), uint8(0), false)
	f.Add(svc, charUUID(svc, 0xff51), charUUID(svc, 0xff52), charUUID(svc, 0xff53), []byte{}, []byte{}, []byte{}, uint8(0), false)
	f.Add(svc, charUUID(legacyService, 0xff51), charUUID(legacyService, 0xff53), "", []byte("custom-data"), []byte{0}, []byte{}, uint8(0x45), false)
	f.Add("", "", "", "", []byte("prov-session"), []byte("prov-session"), []byte("\x00prov-config"), uint8(0xff), true)
	f.Fuzz(func(t *testing.T, svc, c1, c2, c3 string, d1, d2, d3 []byte, layout uint8, failRead bool) {
		objs, values := gattDB(svc, [3]string{c1, c2, c3}, [3][]byte{d1, d2, d3}, layout)
		errRead := errors.New("read failed")
		reads := 0
		names, err := endpointMap(objs, fuzzDev, func(dp dbus.ObjectPath) (string, error) {
			reads++
			if failRead {
				return "", errRead
			}
			v, ok := values[dp]
			if !ok {
				t.Fatalf("read of %s, not an endpoint-name descriptor", dp)
			}
			return descriptorName(v), nil
		})
		if err != nil {
			if !errors.Is(err, errRead) || reads == 0 {
				t.Fatalf("endpointMap: %v after %d reads", err, reads)
			}
			return
		}
		fromDesc := map[string]bool{}
		for dp, v := range values {
			if propString(objs[dp][ifaceDesc], "UUID") == userDescUUID {
				fromDesc[descriptorName(v)] = true
			}
		}
		for name, cp := range names {
			if name == "" {
				t.Fatal("empty endpoint name mapped")
			}
			if _, ok := objs[cp][ifaceChar]; !ok || !isUnder(cp, fuzzDev) {
				t.Fatalf("%s mapped to %s, not a characteristic of the device", name, cp)
			}
			builtin := slices.ContainsFunc(endpointIDs, func(e struct {
				name string
				id   uint16
			}) bool {
				return e.name == name
			})
			if !fromDesc[name] && !builtin {
				t.Fatalf("%s mapped without a descriptor naming it", name)
			}
		}
	})
}

func isUnder(p, dev dbus.ObjectPath) bool {
	return len(p) > len(dev) && string(p[:len(dev)+1]) == string(dev)+"/"
}
