package cli

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/sim/bluez"
	"github.com/espprov/espprov/internal/sim/bluez/dbustest"
	"github.com/espprov/espprov/internal/sim/device"
)

// startBlueZ runs a private dbus-daemon with the simulated BlueZ (adapter
// hci0) and returns the env that points the CLI's system bus at it.
func startBlueZ(t *testing.T) (*bluez.Server, []string) {
	t.Helper()
	bus := dbustest.Start(t)
	srv, err := bluez.Serve(bus.Conn(t), bluez.Config{Adapters: []bluez.AdapterConfig{{ID: "hci0"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, []string{"DBUS_SYSTEM_BUS_ADDRESS=" + bus.Address}
}

func addBLEDevice(t *testing.T, srv *bluez.Server, name string, cfg device.Config, rssi int16) *device.Device {
	t.Helper()
	cfg.APs = testAPs
	cfg.Name = name
	cfg.ConnectDelay = 20 * time.Millisecond
	cfg.CleanupDelay = 50 * time.Millisecond
	dev, err := device.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Adapter("hci0").AddDevice(bluez.DeviceConfig{Name: name, Protocomm: dev, RSSI: rssi}); err != nil {
		t.Fatal(err)
	}
	return dev
}

// TestBLE provisions over BLE through the simulated BlueZ: by --device_name,
// from a QR code (Security 2, D15), the only device found, and (at a
// terminal) one picked from the discovery list.
func TestBLE(t *testing.T) {
	srv, env := startBlueZ(t)
	s1 := addBLEDevice(t, srv, "PROV_aa0001", device.Config{SecVer: 1, PoP: testPoP}, -50)
	creds := []string{"--ssid", testSSID, "--passphrase", testPass, "--status-poll", "50ms", "--discovery-timeout", "2"}

	r := runCLI(t, env, "", append([]string{"provision", "--transport", "ble", "--device_name", "PROV_aa0001", "--pop", testPoP}, creds...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "Looking for BLE device: PROV_aa0001") || !strings.Contains(r.stdout, "Wi-Fi Provisioning Successful") {
		t.Fatalf("--device_name: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if s1.Stats().Exchanges["prov-config"] == 0 {
		t.Errorf("device PROV_aa0001 was not provisioned: %+v", s1.Stats())
	}

	s2 := addBLEDevice(t, srv, "PROV_aa0002", device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: "7a9d365e"}, -60)
	r = runCLI(t, env, "", append([]string{"provision", "--qrcode", `{"ver":"v1","name":"PROV_aa0002","username":"wifiprov","pop":"7a9d365e","transport":"ble"}`}, creds...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "Wi-Fi Provisioning Successful") {
		t.Fatalf("QR Security 2: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if s2.Stats().HandshakesCompleted != 1 {
		t.Errorf("PROV_aa0002 handshakes = %d", s2.Stats().HandshakesCompleted)
	}

	r = runCLI(t, env, "", "discover", "--transport", "ble", "--timeout", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "PROV_aa0001") || !strings.Contains(r.stdout, "PROV_aa0002") || !strings.Contains(r.stdout, "Discovered") {
		t.Errorf("discover ble: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// Several devices advertise: a script without --device_name must choose.
	addBLEDevice(t, srv, "PROV_aa0003", device.Config{SecVer: 0}, -40)
	addBLEDevice(t, srv, "PROV_aa0004", device.Config{SecVer: 0}, -70)
	r = runCLI(t, env, "", append([]string{"provision", "--transport", "ble", "--sec_ver", "0"}, creds...)...)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "choose one with --device_name") {
		t.Fatalf("several devices in a script: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestBLEInteractiveList picks a device from the BLE discovery list in a
// pseudo-terminal.
func TestBLEInteractiveList(t *testing.T) {
	srv, env := startBlueZ(t)
	a := addBLEDevice(t, srv, "PROV_bb0001", device.Config{SecVer: 0}, -40)
	b := addBLEDevice(t, srv, "PROV_bb0002", device.Config{SecVer: 0}, -70)
	s := startPTYEnv(t, env, "provision", "--transport", "ble", "--sec_ver", "0", "--ssid", testSSID, "--passphrase", testPass, "--status-poll", "50ms", "--discovery-timeout", "2")
	s.expect("==== BLE Discovery results ====")
	s.expect("PROV_bb0002")
	s.expect("Select device by number (0 to rescan) : ")
	s.send("7\r")
	s.expect("Invalid selection! Retry")
	s.send("0\r")
	s.expect("==== BLE Discovery results ====")
	s.expect("Select device by number (0 to rescan) : ")
	// The list is ordered by the engine; find PROV_bb0002's number.
	out := s.output()
	m := regexp.MustCompile(`\[\s*(\d+)\] PROV_bb0002`).FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		t.Fatalf("PROV_bb0002 not listed:\n%s", out)
	}
	num := m[len(m)-1][1]
	s.send(num + "\r")
	s.expect("Wi-Fi Provisioning Successful")
	if code := s.wait(); code != 0 {
		t.Fatalf("exit %d\n%s", code, s.output())
	}
	if b.Stats().Exchanges["prov-config"] == 0 || a.Stats().Exchanges["prov-config"] != 0 {
		t.Errorf("wrong device provisioned: chosen %+v, other %+v", b.Stats(), a.Stats())
	}
}
