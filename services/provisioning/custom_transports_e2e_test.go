package provisioning_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/sim/bluez"
	simconsole "github.com/espprov/espprov/internal/sim/console"
	"github.com/espprov/espprov/internal/sim/device"
)

// echoDevice is a Security 1 device with echo application endpoints,
// created before any transport exposes it (BLE numbers them from 0xFF54).
func echoDevice(t *testing.T, name string, endpoints ...string) *device.Device {
	t.Helper()
	dev, err := device.New(device.Config{Name: name, SecVer: 1, PoP: testPoP, APs: testAPs,
		ConnectDelay: 20 * time.Millisecond, CleanupDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range endpoints {
		if err := dev.RegisterEndpoint(n, device.EchoHandler(n)); err != nil {
			t.Fatal(err)
		}
	}
	return dev
}

// checkCustom provisions with custom_data and checks the reply events; then
// asks for an endpoint the device lacks and checks the typed error and that
// no credential was sent.
func checkCustom(t *testing.T, h *harness, req func() *espprovv1.ProvisionRequest, dev *device.Device, lacking func() (*espprovv1.ProvisionRequest, *device.Device)) {
	t.Helper()
	r := req()
	r.CustomData = map[string][]byte{"custom-data": []byte("hi")}
	events, err := collect(t, h.client, r)
	if err != nil || !lastResult(t, events).GetSuccess() {
		t.Fatalf("provision: %v %v", err, steps(events))
	}
	got := ""
	for _, e := range events {
		if e.GetStep() == espprovv1.Step_STEP_CUSTOM_DATA {
			got = e.GetCustomData().GetEndpoint() + "=" + string(e.GetCustomData().GetReply())
		}
	}
	if got != "custom-data=espsim-echo:custom-data:hi" {
		t.Errorf("custom data event %q", got)
	}
	r2, bare := lacking()
	r2.CustomData = map[string][]byte{"custom-data": []byte("hi")}
	_, err = collect(t, h.client, r2)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), `"custom-data"`) {
		t.Fatalf("missing endpoint: %v", err)
	}
	if n := bare.Stats().Exchanges["prov-config"]; n != 0 {
		t.Errorf("%d prov-config exchanges after a missing endpoint", n)
	}
}

func TestCustomDataOverBLE(t *testing.T) {
	srv := startBlueZ(t)
	h := startServer(t)
	add := func(name string, eps ...string) *device.Device {
		dev := echoDevice(t, name, eps...)
		if _, err := srv.Adapter("hci0").AddDevice(bluez.DeviceConfig{Name: name, Protocomm: dev}); err != nil {
			t.Fatal(err)
		}
		return dev
	}
	sec := &espprovv1.Security{Pop: testPoP}
	dev := add("PROV_CUST", "custom-data")
	checkCustom(t, h, func() *espprovv1.ProvisionRequest { return bleReq("PROV_CUST", sec) }, dev,
		func() (*espprovv1.ProvisionRequest, *device.Device) {
			return bleReq("PROV_BARE", sec), add("PROV_BARE")
		})
}

func TestCustomDataOverConsole(t *testing.T) {
	h := startServer(t)
	serve := func(dev *device.Device) string {
		c, err := simconsole.Serve(context.Background(), dev, simconsole.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c.Path()
	}
	sec := &espprovv1.Security{Pop: testPoP}
	dev := echoDevice(t, "", "custom-data")
	port := serve(dev)
	checkCustom(t, h, func() *espprovv1.ProvisionRequest { return consoleReq(port, sec) }, dev,
		func() (*espprovv1.ProvisionRequest, *device.Device) {
			bare := echoDevice(t, "")
			return consoleReq(serve(bare), sec), bare
		})
}
