package provisioning_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	"github.com/espprov/espprov/services/provisioning"
)

// holdScan starts a slow ScanWifi on dev and returns once the device is
// scanning; the returned channel gets the call's result.
func holdScan(t *testing.T, h *harness, dev *device.Device, target *espprovv1.Device) chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		// The device scans for seconds: long enough for the other calls even
		// on a loaded machine; the exchange timeout allows for it.
		_, err := h.client.ScanWifi(context.Background(), &espprovv1.ScanWifiRequest{Device: target, Timeouts: slowScan()})
		done <- err
	}()
	deadline := time.Now().Add(20 * time.Second)
	for dev.Stats().Exchanges["prov-scan"] == 0 {
		select {
		case err := <-done:
			t.Fatalf("the first scan ended early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the first scan did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return done
}

func slowScan() *espprovv1.Timeouts {
	to := fastTimeouts()
	to.Exchange = durationpb.New(20 * time.Second)
	return to
}

// TestDeviceLockIdentity: the one-call-per-device lock is keyed on the
// resolved device, so other spellings of a busy device are refused with
// Aborted "device busy" naming the holder, before anything is sent.
func TestDeviceLockIdentity(t *testing.T) {
	resolver := func(ctx context.Context, host string) ([]netip.Addr, error) {
		if host == "bench-7.local" {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return provisioning.ResolveHost(ctx, host)
	}
	h := startServerWith(t, provisioning.Config{Modules: provisioning.DefaultModules(), ResolveHost: resolver}, server.Options{})
	d := startDevice(t, device.Config{SecVer: 0, ScanDuration: 4 * time.Second}, simhttpd.Options{})
	other := startDevice(t, device.Config{SecVer: 0}, simhttpd.Options{})
	_, port, _ := net.SplitHostPort(d.addr)
	httpd := func(addr string) *espprovv1.Device {
		return &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: addr}
	}
	first := holdScan(t, h, d.dev, httpd(d.addr))
	before := d.dev.Stats()
	for _, alias := range []*espprovv1.Device{
		httpd("localhost:" + port),
		httpd("[::ffff:127.0.0.1]:" + port),
		httpd("bench-7.local:" + port), // through the configured resolver
		{Transport: espprovv1.Transport_TRANSPORT_SOFTAP, Address: "127.0.0.1:" + port},
		{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK, Address: "localhost:" + port},
	} {
		var err error
		if alias.GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK {
			_, err = h.client.DisableChallengeResponse(context.Background(), &espprovv1.DisableChallengeResponseRequest{Device: alias, Timeouts: fastTimeouts()})
		} else {
			_, err = h.client.ScanWifi(context.Background(), &espprovv1.ScanWifiRequest{Device: alias, Timeouts: fastTimeouts()})
		}
		msg := status.Convert(err).Message()
		if status.Code(err) != codes.Aborted || !strings.Contains(msg, "device busy") || !strings.Contains(msg, "ScanWifi") || !strings.Contains(msg, "tcp 127.0.0.1:"+port) {
			t.Errorf("%s %s while busy: %v, want Aborted \"device busy\" naming the holder", alias.GetTransport(), alias.GetAddress(), err)
		}
	}
	if after := d.dev.Stats(); after.SessionsOpened != before.SessionsOpened || after.Exchanges["proto-ver"] != before.Exchanges["proto-ver"] {
		t.Errorf("a refused call reached the busy device: %+v → %+v", before, after)
	}
	// Another device is not affected.
	if _, err := h.client.ScanWifi(context.Background(), &espprovv1.ScanWifiRequest{Device: httpd(other.addr), Timeouts: fastTimeouts()}); err != nil {
		t.Errorf("another device while the first is busy: %v", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("the first call was disturbed: %v", err)
	}
	if _, err := h.client.ScanWifi(context.Background(), &espprovv1.ScanWifiRequest{Device: httpd("localhost:" + port), Timeouts: slowScan()}); err != nil {
		t.Fatalf("the alias after the first call ended: %v", err)
	}
}

// TestDeviceLockSerialRealPath: a serial port named through a symbolic
// link is the same device as its real path.
func TestDeviceLockSerialRealPath(t *testing.T) {
	h := startServer(t)
	dev, port := startConsoleDevice(t, device.Config{SecVer: 0, ScanDuration: 4 * time.Second})
	link := filepath.Join(t.TempDir(), "by-id-usb-Espressif_ESP32")
	if err := os.Symlink(port, link); err != nil {
		t.Fatal(err)
	}
	console := func(p string) *espprovv1.Device {
		return &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_CONSOLE, SerialPort: p}
	}
	first := holdScan(t, h, dev, console(port))
	_, err := h.client.ScanWifi(context.Background(), &espprovv1.ScanWifiRequest{Device: console(link), Timeouts: fastTimeouts()})
	if status.Code(err) != codes.Aborted || !strings.Contains(status.Convert(err).Message(), "device busy") {
		t.Errorf("the port through a link while busy: %v, want Aborted \"device busy\"", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("the first call was disturbed: %v", err)
	}
}
