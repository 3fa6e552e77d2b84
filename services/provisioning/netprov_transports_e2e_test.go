package provisioning_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/sim/bluez"
	"github.com/espprov/espprov/internal/sim/device"
)

// ESP-IDF 6 devices over the other transports: BLE (simulated BlueZ on a
// private dbus-daemon) and the UART console (a real pty).

// moreThreadNets adds n further Thread networks, so that a scan needs
// several result pages (BLE reads 4 at a time).
func moreThreadNets(t *testing.T, cfg *device.Config, n int) {
	for i := 0; i < n; i++ {
		ds := fmt.Sprintf("00030000%02x01020%03x0208%016x0303%06x0510%032x", 11+i, 0x100+i, 0xa0+i, 0x4e6574+i, 0x77+i)
		cfg.ThreadNetworks = append(cfg.ThreadNetworks, device.ThreadNetwork{Dataset: mustHex(t, ds), RSSI: -85 - i})
	}
}

func TestNetProvBLE(t *testing.T) {
	srv := startBlueZ(t)
	h := startServer(t)
	cfg := netprovConfig(t, true, true)
	moreThreadNets(t, &cfg, 4)
	dev := addBLEDevice(t, srv, "hci0", "PROV_NET6", cfg, bluez.DeviceConfig{})
	bleDev := &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_BLE, Name: "PROV_NET6", DiscoveryTimeout: durationpb.New(3 * time.Second)}

	resp, err := h.client.ScanThread(context.Background(), &espprovv1.ScanThreadRequest{Device: bleDev, Security: sec2Creds, Timeouts: fastTimeouts()})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.GetNetworks()); n != 6 || resp.GetNetworks()[0].GetNetworkName() != "OpenThread" {
		t.Fatalf("%d networks over BLE: %v", n, resp.GetNetworks())
	}
	req := threadReq("", &espprovv1.ThreadCredentials{Dataset: otDataset})
	req.Device = bleDev
	events, err := collect(t, h.client, req)
	if err != nil {
		t.Fatalf("Provision: %v (%v)", err, steps(events))
	}
	if res := lastResult(t, events); !res.GetSuccess() || res.GetThread().GetNetworkName() != "OpenThread" {
		t.Fatalf("result %v", res)
	}
	if dev.Thread().State != device.ThreadAttached {
		t.Fatalf("device %v", dev.Thread())
	}
}

func TestNetProvConsole(t *testing.T) {
	h := startServer(t)
	for _, tc := range []struct {
		name   string
		thread bool
	}{{"thread", true}, {"wifi", false}} {
		t.Run(tc.name, func(t *testing.T) {
			// Security 1: the console line cannot carry a Security 2 handshake.
			cfg := netprovConfig(t, !tc.thread, tc.thread)
			cfg.SecVer, cfg.SecPatchVer, cfg.SRPUsername, cfg.SRPPassword, cfg.PoP = 1, 0, "", "", testPoP
			dev, port := startConsoleDevice(t, cfg)
			req := consoleReq(port, &espprovv1.Security{Pop: testPoP})
			if tc.thread {
				req.Wifi, req.Thread = nil, &espprovv1.ThreadCredentials{Dataset: otDataset}
				req.Timeouts.ThreadAttach = durationpb.New(5 * time.Second)
			}
			events, err := collect(t, h.client, req)
			if err != nil {
				t.Fatalf("Provision: %v (%v)", err, steps(events))
			}
			res := lastResult(t, events)
			switch {
			case !res.GetSuccess():
				t.Fatalf("result %v", res)
			case tc.thread && dev.Thread().State != device.ThreadAttached:
				t.Fatalf("device %v", dev.Thread())
			case !tc.thread && res.GetIp4Address() != dev.Config().StationIP:
				t.Fatalf("result %v", res)
			}
		})
	}
}
