package provisioning_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/sim/bluez"
	"github.com/espprov/espprov/internal/sim/bluez/dbustest"
	"github.com/espprov/espprov/internal/sim/device"
)

// startBlueZ runs a private dbus-daemon with the simulated BlueZ on it
// (adapters hci0 and hci1) and points this process's system bus there.
func startBlueZ(t *testing.T) *bluez.Server {
	t.Helper()
	bus := dbustest.Start(t)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.Address)
	srv, err := bluez.Serve(bus.Conn(t), bluez.Config{Adapters: []bluez.AdapterConfig{{ID: "hci0"}, {ID: "hci1"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func addBLEDevice(t *testing.T, srv *bluez.Server, adapter, name string, cfg device.Config, dc bluez.DeviceConfig) *device.Device {
	t.Helper()
	if cfg.APs == nil {
		cfg.APs = testAPs
	}
	cfg.Name = name
	cfg.ConnectDelay = 20 * time.Millisecond
	cfg.CleanupDelay = 50 * time.Millisecond
	dev, err := device.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc.Name, dc.Protocomm = name, dev
	if _, err := srv.Adapter(adapter).AddDevice(dc); err != nil {
		t.Fatal(err)
	}
	return dev
}

func bleReq(name string, sec *espprovv1.Security) *espprovv1.ProvisionRequest {
	r := provisionReq("", sec, testSSID, testPass)
	r.Device = &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_BLE, Name: name, DiscoveryTimeout: durationpb.New(3 * time.Second)}
	return r
}

func TestBLEProvision(t *testing.T) {
	srv := startBlueZ(t)
	h := startServer(t)
	tests := []struct {
		name string
		cfg  device.Config
		dc   bluez.DeviceConfig
		sec  *espprovv1.Security
	}{
		{"PROV_S0", device.Config{SecVer: 0}, bluez.DeviceConfig{}, nil},
		{"PROV_S1", device.Config{SecVer: 1, PoP: testPoP}, bluez.DeviceConfig{}, &espprovv1.Security{Pop: testPoP}},
		{"PROV_S2P0", device.Config{SecVer: 2, SRPUsername: testUser, SRPPassword: testPoP}, bluez.DeviceConfig{}, &espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP}},
		{"PROV_S2P1", device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP}, bluez.DeviceConfig{}, &espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP}},
		{"PROV_OLD", device.Config{SecVer: 1, PoP: testPoP}, bluez.DeviceConfig{NoUserDescriptions: true}, &espprovv1.Security{Pop: testPoP}},
		{"PROV_PAIR", device.Config{SecVer: 1, PoP: testPoP}, bluez.DeviceConfig{RequirePairing: true}, &espprovv1.Security{Pop: testPoP}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dev := addBLEDevice(t, srv, "hci0", tc.name, tc.cfg, tc.dc)
			events, err := collect(t, h.client, bleReq(tc.name, tc.sec))
			if err != nil {
				t.Fatalf("Provision: %v (%v)", err, steps(events))
			}
			if res := lastResult(t, events); !res.GetSuccess() || res.GetIp4Address() != dev.Config().StationIP {
				t.Fatalf("result %v", res)
			}
		})
	}
}

func TestBLEScanAndDiscover(t *testing.T) {
	srv := startBlueZ(t)
	h := startServer(t)
	aps := []device.AP{}
	for i := 0; i < 10; i++ {
		aps = append(aps, device.AP{SSID: "net-" + string(rune('a'+i)), Passphrase: "password", Channel: 1 + i, RSSI: -30 - i})
	}
	dev := addBLEDevice(t, srv, "hci1", "PROV_SCAN", device.Config{SecVer: 1, APs: aps}, bluez.DeviceConfig{})
	resp, err := h.client.ScanWifi(context.Background(), &espprovv1.ScanWifiRequest{
		Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_BLE, Name: "PROV_SCAN", Adapter: "hci1"}, Timeouts: fastTimeouts()})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetAccessPoints()) != 10 || resp.GetAccessPoints()[0].GetSsid() != "net-a" {
		t.Fatalf("scan = %v", resp.GetAccessPoints())
	}
	if n := dev.Stats().Exchanges["prov-scan"]; n != 2+3 { // start, status, 3 pages of 4
		t.Errorf("prov-scan exchanges = %d, want 5 (pages of 4 over BLE)", n)
	}
	stream, err := h.client.Discover(context.Background(), &espprovv1.DiscoverRequest{
		Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_BLE, Adapter: "hci1"}, Timeout: durationpb.New(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, r.GetName())
	}
	if len(names) != 1 || names[0] != "PROV_SCAN" {
		t.Fatalf("Discover on hci1 = %v", names)
	}
	// Bad adapters are invalid arguments.
	for _, a := range []string{"wlan0", "hci7"} {
		_, err := h.client.ScanWifi(context.Background(), &espprovv1.ScanWifiRequest{
			Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_BLE, Name: "PROV_SCAN", Adapter: a}, Timeouts: fastTimeouts()})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("adapter %s: %v", a, err)
		}
	}
}

func TestBLEFaults(t *testing.T) {
	srv := startBlueZ(t)
	h := startServer(t)
	t.Run("device not found", func(t *testing.T) {
		req := bleReq("PROV_NOBODY", nil)
		req.Device.DiscoveryTimeout = durationpb.New(300 * time.Millisecond)
		if _, err := collect(t, h.client, req); status.Code(err) != codes.Unavailable {
			t.Fatalf("%v", err)
		}
	})
	t.Run("pairing refused", func(t *testing.T) {
		addBLEDevice(t, srv, "hci0", "PROV_NOPAIR", device.Config{SecVer: 0}, bluez.DeviceConfig{RequirePairing: true, RejectPairing: true})
		_, err := collect(t, h.client, bleReq("PROV_NOPAIR", nil))
		if st := status.Convert(err); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "pairing") {
			t.Fatalf("%v", err)
		}
	})
	t.Run("wrong pop", func(t *testing.T) {
		addBLEDevice(t, srv, "hci0", "PROV_WRONG", device.Config{SecVer: 1, PoP: testPoP}, bluez.DeviceConfig{})
		_, err := collect(t, h.client, bleReq("PROV_WRONG", &espprovv1.Security{Pop: "not-it"}))
		if st := status.Convert(err); st.Code() != codes.PermissionDenied {
			t.Fatalf("%v", err)
		}
	})
}
