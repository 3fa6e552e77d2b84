//go:build bluezvm

package bluez

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/internal/sim/peripheral"
	"github.com/espprov/espprov/services/provisioning"
)

// inProcess runs the service in this process (so that its goroutines can
// be counted) behind a loopback gRPC server.
func inProcess(t *testing.T) (espprovv1.ProvisioningServiceClient, func()) {
	t.Helper()
	svc := provisioning.New(provisioning.Config{Modules: provisioning.DefaultModules()})
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	srv, err := server.Start(ctx, server.Options{GRPCListen: "127.0.0.1:0", Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	stop := func() {
		cc.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	return espprovv1.NewProvisioningServiceClient(cc), stop
}

// waitGoroutines waits until at most n goroutines run, and reports the
// stacks of the extra ones if that does not happen within the deadline.
func waitGoroutines(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(20 * time.Millisecond)
	}
}

// The device drops the link in the middle of the session: the call ends
// with a typed error within the exchange deadline and leaves no goroutine.
func TestLinkDropMidSession(t *testing.T) {
	sec := &espprovv1.Security{Sec2Username: srpUser, Sec2Password: srpPass}
	cfg := device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: srpUser, SRPPassword: srpPass}
	// Warm up: the process-wide system bus connection and the peripheral's
	// goroutines belong to the baseline.
	warm := startDevice(t, device1, cfg, peripheral.Config{})
	// The dropping device is still joining Wi-Fi when its link goes.
	cfg.ConnectDelay = 2 * time.Minute
	drop := startDevice(t, device2, cfg, peripheral.Config{ReadvertiseFor: []string{central}}) // reached from central, not its pair's
	cl, stop := inProcess(t)
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if evs, err := provision(ctx, cl, provisionReq(bleDevice(warm.name, central), sec)); err != nil || !succeeded(evs) {
		t.Fatalf("warm-up provision: %v", err)
	}
	stop()
	base := runtime.NumGoroutine()

	cl, stop = inProcess(t)
	// The drop comes right after a status poll, once the client polls
	// seldom (its schedule backs off to the 2 s maximum), so that no GATT
	// operation is pending when the link goes: bluetoothd 5.66 keeps a write
	// that was pending at the application when the link went down in the
	// characteristic's queue after freeing it, and crashes when the
	// application is unregistered.
	var (
		mu      sync.Mutex
		applied time.Time
		polled  = make(chan int, 1) // peripheral reads so far, at a late poll
	)
	drop.pc.mu.Lock()
	drop.pc.after = func(endpoint string) {
		if endpoint != "prov-config" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case applied.IsZero() && drop.pc.snapshot()["prov-config"] == 2:
			applied = time.Now()
		case !applied.IsZero() && time.Since(applied) > 6*time.Second:
			select {
			case polled <- drop.p.Stats().Reads:
			default:
			}
		}
	}
	drop.pc.mu.Unlock()
	req := provisionReq(bleDevice(drop.name, central), sec)
	req.Timeouts.StatusPoll = durationpb.New(2 * time.Second)
	req.Timeouts.WifiConnect = durationpb.New(3 * time.Minute)
	type outcome struct {
		evs []*espprovv1.ProvisionResponse
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		evs, err := provision(ctx, cl, req)
		done <- outcome{evs, err}
	}()
	var reads int
	select {
	case reads = <-polled:
	case o := <-done:
		t.Fatalf("the call ended before the drop: %v (%d events)", o.err, len(o.evs))
	}
	// Wait for the client's read of that poll's answer, then switch the
	// device's controller off: the link ends at the controller, as when the
	// firmware crashes or loses power.
	for drop.p.Stats().Reads <= reads {
		select {
		case o := <-done:
			t.Fatalf("the call ended before the drop: %v (%d events)", o.err, len(o.evs))
		case <-time.After(5 * time.Millisecond):
		}
	}
	droppedAt := time.Now()
	setPowered(t, device2, false)
	o := <-done
	took := time.Since(droppedAt)
	if status.Code(o.err) != codes.Unavailable {
		t.Fatalf("after a dropped link: %v (%d events), want Unavailable", o.err, len(o.evs))
	}
	// Three failed polls (the status-poll error budget) at most 2 s apart.
	if took > 30*time.Second {
		t.Errorf("the failure took %v after the drop", took)
	}
	t.Logf("dropped link reported %v after the drop: %v", took.Round(time.Millisecond), o.err)
	stop()
	waitGoroutines(t, base, 30*time.Second)
}

// A wrong proof of possession is refused with PermissionDenied (CLI exit
// code 4).
func TestWrongPoPCLI(t *testing.T) {
	pr := usePair(t)
	name := deviceName()
	espsim(t, "--ble-adapter", pr.device, "--name", name, "--sec-ver", "1", "--pop", pop, "--ap", apFlag)
	r := espprov(t, "provision", exchangeFlag, "--transport", "ble", "--ble-adapter", pr.central, "--device_name", name,
		"--discovery-timeout", discoverS, "--sec_ver", "1", "--pop", "wrong-pop", "--ssid", ssid, "--passphrase", pass, "--no-input")
	if r.code != 4 {
		t.Fatalf("exit %d, want 4 (wrong credentials)\n%s\n%s", r.code, r.out, r.stderr)
	}
	if strings.Contains(r.out+r.stderr, "wrong-pop") {
		t.Errorf("the PoP appears in the output")
	}
}

// Old firmware: no 0x2901 descriptors, characteristics found by UUID.
func TestLegacyLayoutCLI(t *testing.T) {
	pr := usePair(t)
	name := deviceName()
	espsim(t, "--ble-adapter", pr.device, "--ble-legacy", "--name", name, "--sec-ver", "1", "--pop", pop, "--ap", apFlag)
	r := espprov(t, "provision", exchangeFlag, "--transport", "ble", "--ble-adapter", pr.central, "--device_name", name,
		"--discovery-timeout", discoverS, "--sec_ver", "1", "--pop", pop, "--ssid", ssid, "--passphrase", pass, "--no-input")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.out, r.stderr)
	}
}

// The same device (same address, same name) provisioned again right after
// the first run, as a new device on the air: bluetoothd's cache of the
// first must not get in the way.
func TestSecondProvision(t *testing.T) {
	pr := usePair(t)
	cl := espprovd(t)
	sec := &espprovv1.Security{Pop: pop}
	cfg := device.Config{SecVer: 1, PoP: pop}
	first := startDevice(t, pr.device, cfg, peripheral.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if evs, err := provision(ctx, cl, provisionReq(bleDevice(first.name, pr.central), sec)); err != nil || !succeeded(evs) {
		t.Fatalf("first provision: %v", err)
	}
	if err := first.p.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Name = first.name
	second := startDevice(t, pr.device, cfg, peripheral.Config{})
	t0 := time.Now()
	evs, err := provision(ctx, cl, provisionReq(bleDevice(second.name, pr.central), sec))
	if err != nil || !succeeded(evs) {
		t.Fatalf("second provision: %v", err)
	}
	if got := second.dev.Wifi(); !strings.Contains(fmt.Sprint(got), "connected ssid") {
		t.Errorf("second device Wi-Fi state %v", got)
	}
	t.Logf("second provision took %v", time.Since(t0).Round(time.Millisecond))
}

// Wi-Fi scan results come in pages of 4 over BLE.
func TestScanPages(t *testing.T) {
	pr := usePair(t)
	cl := espprovd(t)
	var aps []device.AP
	for i := range scanAPs {
		aps = append(aps, device.AP{SSID: fmt.Sprintf("net-%02d", i), Passphrase: "password-" + fmt.Sprint(i), Channel: 1 + i%11, RSSI: -40 - i})
	}
	d := startDevice(t, pr.device, device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: srpUser, SRPPassword: srpPass, APs: aps}, peripheral.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	resp, err := cl.ScanWifi(ctx, &espprovv1.ScanWifiRequest{Device: bleDevice(d.name, pr.central),
		Security: &espprovv1.Security{Sec2Username: srpUser, Sec2Password: srpPass}})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(resp.GetAccessPoints()); got != scanAPs {
		t.Fatalf("%d networks, want %d", got, scanAPs)
	}
	// ScanStart, ScanStatus until finished, then ceil(10/4) = 3 ScanResult.
	ex := d.pc.snapshot()
	if ex["prov-scan"] < 1+1+3 {
		t.Errorf("prov-scan exchanges %d: want ScanStart, ScanStatus and 3 pages", ex["prov-scan"])
	}
	metric(t, "scan of %d networks: exchanges %v", scanAPs, ex)
}

// setPowered switches an adapter; switching one off is undone at cleanup.
func setPowered(t *testing.T, adapter string, on bool) {
	t.Helper()
	conn, err := dbus.ConnectSystemBus()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = conn.Object("org.bluez", dbus.ObjectPath("/org/bluez/"+adapter)).CallWithContext(ctx,
		"org.freedesktop.DBus.Properties.Set", 0, "org.bluez.Adapter1", "Powered", dbus.MakeVariant(on)).Err
	if err != nil {
		t.Fatalf("power %s %v: %v", adapter, on, err)
	}
	if !on {
		t.Cleanup(func() { setPowered(t, adapter, true) })
	}
}

// Custom endpoints (espsim --custom-endpoint, wifi_prov_mgr_endpoint_create)
// get characteristics numbered after proto-ver, with their names in 0x2901,
// and answer over BLE.
func TestCustomEndpoint(t *testing.T) {
	pr := usePair(t)
	cl := espprovd(t)
	d := startDevice(t, pr.device, device.Config{SecVer: 1, PoP: pop}, peripheral.Config{}, func(dev *device.Device) {
		if err := dev.RegisterEndpoint("custom-data", device.EchoHandler("custom-data")); err != nil {
			t.Fatal(err)
		}
	})
	if u := d.p.CharacteristicUUIDs()["custom-data"]; !strings.HasPrefix(u, "021aff54-") {
		t.Fatalf("custom-data characteristic %q, want 021aff54-… (the id after proto-ver's 0xff53)", u)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	req := provisionReq(bleDevice(d.name, pr.central), &espprovv1.Security{Pop: pop})
	req.CustomData = map[string][]byte{"custom-data": []byte("hello over BLE")}
	evs, err := provision(ctx, cl, req)
	if err != nil || !succeeded(evs) {
		t.Fatalf("Provision: %v", err)
	}
	for _, ev := range evs {
		if cd := ev.GetCustomData(); cd != nil {
			if want := device.EchoReplyPrefix + "custom-data:hello over BLE"; cd.GetEndpoint() != "custom-data" || string(cd.GetReply()) != want {
				t.Fatalf("custom data reply %q from %q, want %q", cd.GetReply(), cd.GetEndpoint(), want)
			}
			return
		}
	}
	t.Fatalf("no custom data event among %d events", len(evs))
}
