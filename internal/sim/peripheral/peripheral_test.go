package peripheral

import (
	"context"
	"strings"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/espprov/espprov/internal/sim/device"
)

// Configuration errors are refused before the bus is touched. (The
// peripheral itself runs against real BlueZ in the BLE suite, test/bluez.)
func TestStartValidation(t *testing.T) {
	dev, err := device.New(device.Config{SecVer: 0})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Adapter: "hci1", Name: "PROV_1"}, "Protocomm is required"},
		{Config{Adapter: "", Name: "PROV_1", Protocomm: dev}, "bad adapter"},
		{Config{Adapter: "hci1/dev", Name: "PROV_1", Protocomm: dev}, "bad adapter"},
		{Config{Adapter: "hci1", Protocomm: dev}, "Name is required"},
		{Config{Adapter: "hci1", Name: strings.Repeat("P", 30), Protocomm: dev}, "longer than the 29 bytes"},
		{Config{Adapter: "hci1", Name: "PROV_1", ServiceUUID: "ffff", Protocomm: dev}, "not a 128-bit UUID"},
		{Config{Adapter: "hci1", Name: "PROV_1", ServiceUUID: "021a9004-0382-4aea-bff4-6b3f1c5adfbX", Protocomm: dev}, "not a 128-bit UUID"},
	} {
		_, err := Start(context.Background(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start(%+v): %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
}

func TestAddressOf(t *testing.T) {
	for in, want := range map[dbus.ObjectPath]string{
		"/org/bluez/hci1/dev_00_AA_01_00_00_00": "00:AA:01:00:00:00",
		"/somewhere/else":                       "/somewhere/else",
	} {
		if got := addressOf(in); got != want {
			t.Errorf("addressOf(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestParseOptions(t *testing.T) {
	o := parseOptions(map[string]dbus.Variant{
		"device": dbus.MakeVariant(dbus.ObjectPath("/org/bluez/hci1/dev_00_AA_01_00_00_00")),
		"offset": dbus.MakeVariant(uint16(182)),
		"mtu":    dbus.MakeVariant(uint16(185)),
		"type":   dbus.MakeVariant("request"),
	})
	if o.device != "/org/bluez/hci1/dev_00_AA_01_00_00_00" || o.offset != 182 || o.mtu != 185 || o.typ != "request" {
		t.Fatalf("parseOptions: %+v", o)
	}
	if o := parseOptions(nil); o != (options{}) {
		t.Fatalf("parseOptions(nil): %+v", o)
	}
}
