package ble_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/espprov/espprov/internal/sim/bluez"
	"github.com/espprov/espprov/internal/sim/bluez/dbustest"
	"github.com/espprov/espprov/transports"
	"github.com/espprov/espprov/transports/ble"
)

// echo is a scripted Protocomm: it answers "<endpoint>|<session>|<request>",
// fails the request "fail" and answers "slow" after 1 s.
type echo struct {
	eps    []string
	mu     sync.Mutex
	closed []string
}

func (e *echo) Endpoints() []string {
	if e.eps != nil {
		return e.eps
	}
	return []string{"prov-ctrl", "prov-scan", "prov-session", "prov-config", "proto-ver", "custom-data"}
}

func (e *echo) Handle(session, endpoint string, req []byte) ([]byte, error) {
	switch string(req) {
	case "fail":
		return nil, errors.New("handler failed")
	case "slow":
		time.Sleep(time.Second)
	}
	return []byte(endpoint + "|" + session + "|" + string(req)), nil
}

func (e *echo) CloseSession(session string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = append(e.closed, session)
}

// startSim starts a private bus, points the system bus address at it and
// serves the simulated BlueZ there.
func startSim(t *testing.T, cfg bluez.Config) *bluez.Server {
	t.Helper()
	srv, _ := startSimBus(t, cfg)
	return srv
}

func startSimBus(t *testing.T, cfg bluez.Config) (*bluez.Server, *dbustest.Bus) {
	t.Helper()
	bus := dbustest.Start(t)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.Address)
	srv, err := bluez.Serve(bus.Conn(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, bus
}

func addDevice(t *testing.T, srv *bluez.Server, adapter string, cfg bluez.DeviceConfig) *bluez.Device {
	t.Helper()
	if cfg.Protocomm == nil {
		cfg.Protocomm = &echo{}
	}
	d, err := srv.Adapter(adapter).AddDevice(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// warmUp opens the process-wide bus connection so that goroutine counts
// taken afterwards are a stable baseline.
func warmUp(t *testing.T) int {
	t.Helper()
	if _, err := ble.Discover(testCtx(t), ble.DiscoverOptions{Timeout: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	return runtime.NumGoroutine()
}

func checkNoLeak(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d, baseline %d\n%s", runtime.NumGoroutine(), baseline, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOpenExchangeClose(t *testing.T) {
	tests := []struct {
		name    string
		cfg     bluez.DeviceConfig
		mapped  []string
		service string
	}{
		{"0x2901 names", bluez.DeviceConfig{Name: "PROV_A1B2C3"},
			[]string{"custom-data", "proto-ver", "prov-config", "prov-ctrl", "prov-scan", "prov-session"}, bluez.DefaultServiceUUID},
		{"scheme_ble service", bluez.DeviceConfig{Name: "PROV_A1B2C3", ServiceUUID: "1775244d-6b43-439b-877c-060f2d9bed07"},
			[]string{"custom-data", "proto-ver", "prov-config", "prov-ctrl", "prov-scan", "prov-session"}, "1775244d-6b43-439b-877c-060f2d9bed07"},
		// Old firmware: no descriptors, legacy service; the fallback finds
		// the manager endpoints by UUID, custom endpoints are not
		// identifiable.
		{"old firmware fallback", bluez.DeviceConfig{Name: "PROV_A1B2C3", NoUserDescriptions: true},
			[]string{"proto-ver", "prov-config", "prov-ctrl", "prov-scan", "prov-session"}, bluez.LegacyServiceUUID},
		{"old firmware, example service", bluez.DeviceConfig{Name: "PROV_A1B2C3", NoUserDescriptions: true, ServiceUUID: bluez.DefaultServiceUUID},
			[]string{"proto-ver", "prov-config", "prov-ctrl", "prov-scan", "prov-session"}, bluez.DefaultServiceUUID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSim(t, bluez.Config{})
			pc := &echo{}
			tc.cfg.Protocomm = pc
			d := addDevice(t, srv, "hci0", tc.cfg)
			addDevice(t, srv, "hci0", bluez.DeviceConfig{Name: "PROV_OTHER"})
			baseline := warmUp(t)

			tr, err := ble.Open(testCtx(t), ble.Options{Name: "PROV_A1B2C3", ScanTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if tr.Name() != "PROV_A1B2C3" || tr.Address() != d.Address() || tr.Adapter() != "hci0" {
				t.Fatalf("opened %v", tr)
			}
			if got := strings.Join(tr.Endpoints(), ","); got != strings.Join(tc.mapped, ",") {
				t.Fatalf("endpoints %s, want %s", got, strings.Join(tc.mapped, ","))
			}
			if tr.MaxMessage() != 480 || tr.ScanPageSize() != 4 {
				t.Fatalf("limits %d/%d", tr.MaxMessage(), tr.ScanPageSize())
			}
			if srv.Adapter("hci0").Discovering() {
				t.Fatal("discovery still running after Open")
			}
			for _, ep := range tc.mapped {
				req := []byte("hello " + ep)
				reply, err := tr.Exchange(testCtx(t), ep, req)
				if err != nil {
					t.Fatal(err)
				}
				parts := strings.SplitN(string(reply), "|", 3)
				if len(parts) != 3 || parts[0] != ep || parts[2] != string(req) {
					t.Fatalf("%s: reply %q", ep, reply)
				}
			}
			// The largest allowed message goes through; one more byte is refused
			// before touching the device.
			if _, err := tr.Exchange(testCtx(t), "prov-session", bytes.Repeat([]byte{'x'}, 480)); err != nil {
				t.Fatalf("480 bytes: %v", err)
			}
			writes := d.Writes()
			if _, err := tr.Exchange(testCtx(t), "prov-session", make([]byte, 481)); !errors.Is(err, transports.ErrTooLarge) {
				t.Fatalf("481 bytes: %v", err)
			}
			if _, err := tr.Exchange(testCtx(t), "no-such-endpoint", []byte("x")); !errors.Is(err, transports.ErrNoEndpoint) {
				t.Fatalf("unknown endpoint: %v", err)
			}
			if d.Writes() != writes {
				t.Fatal("refused requests reached the device")
			}
			start := time.Now()
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			if err := tr.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			if time.Since(start) > 2500*time.Millisecond {
				t.Fatalf("Close took %v", time.Since(start))
			}
			if d.Connected() || d.Cached() {
				t.Fatal("device still connected or cached in BlueZ after Close")
			}
			if len(pc.closed) != 1 {
				t.Fatalf("sessions closed: %v", pc.closed)
			}
			if _, err := tr.Exchange(testCtx(t), "proto-ver", []byte("x")); !errors.Is(err, transports.ErrClosed) {
				t.Fatalf("exchange after Close: %v", err)
			}
			checkNoLeak(t, baseline)
		})
	}
}

func TestDiscover(t *testing.T) {
	srv := startSim(t, bluez.Config{})
	addDevice(t, srv, "hci0", bluez.DeviceConfig{Name: "PROV_AAA", RSSI: -40})
	addDevice(t, srv, "hci0", bluez.DeviceConfig{Name: "PROV_BBB", RSSI: -60})
	addDevice(t, srv, "hci0", bluez.DeviceConfig{Name: "PROV_CCC", RSSI: -50, NoUserDescriptions: true})
	addDevice(t, srv, "hci0", bluez.DeviceConfig{Name: "OTHER", RSSI: -30})
	tests := []struct {
		name    string
		opts    ble.DiscoverOptions
		want    string
		wantErr error
	}{
		{"default prefix", ble.DiscoverOptions{}, "PROV_AAA,PROV_CCC,PROV_BBB", nil},
		{"exact name", ble.DiscoverOptions{Name: "PROV_BBB"}, "PROV_BBB", nil},
		{"exact name is not a prefix", ble.DiscoverOptions{Name: "PROV_BB"}, "", nil},
		{"other prefix", ble.DiscoverOptions{NamePrefix: "OTH"}, "OTHER", nil},
		{"service UUID", ble.DiscoverOptions{ServiceUUIDs: []string{strings.ToUpper(bluez.LegacyServiceUUID)}}, "PROV_CCC", nil},
		{"unknown adapter", ble.DiscoverOptions{Adapter: "hci7"}, "", ble.ErrNoAdapter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Timeout = 300 * time.Millisecond
			start := time.Now()
			found, err := ble.Discover(testCtx(t), tc.opts)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.opts.Adapter) {
					t.Fatalf("err %v, want %v naming %s", err, tc.wantErr, tc.opts.Adapter)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el < 290*time.Millisecond || el > 4*time.Second {
				t.Fatalf("scan took %v for a 300ms window", el)
			}
			names := []string{}
			for _, f := range found {
				names = append(names, f.Name)
				if f.Address == "" || f.RSSI == 0 || len(f.ServiceUUIDs) == 0 {
					t.Fatalf("incomplete %+v", f)
				}
			}
			if got := strings.Join(names, ","); got != tc.want {
				t.Fatalf("found %s, want %s", got, tc.want)
			}
			if srv.Adapter("hci0").Discovering() {
				t.Fatal("discovery not stopped")
			}
		})
	}
	t.Run("context ends first", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		defer cancel()
		start := time.Now()
		found, err := ble.Discover(ctx, ble.DiscoverOptions{Timeout: 5 * time.Second})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
			t.Fatalf("err %v after %v", err, time.Since(start))
		}
		// What was heard before the caller's deadline is kept.
		if len(found) != 3 {
			t.Fatalf("found %+v with the context's end, want the 3 PROV_ devices", found)
		}
		if srv.Adapter("hci0").Discovering() {
			t.Fatal("discovery not stopped")
		}
	})
}

func TestOpenErrors(t *testing.T) {
	srv := startSim(t, bluez.Config{Adapters: []bluez.AdapterConfig{{ID: "hci0"}, {ID: "hci1", PoweredOff: true}}})
	addDevice(t, srv, "hci0", bluez.DeviceConfig{Name: "PROV_HERE"})
	baseline := warmUp(t)
	tests := []struct {
		name    string
		opts    ble.Options
		wantErr error
		wantMsg string
	}{
		{"unknown adapter", ble.Options{Adapter: "hci5"}, ble.ErrNoAdapter, "hci5"},
		{"powered off adapter", ble.Options{Adapter: "hci1"}, ble.ErrNoAdapter, "powered off"},
		{"no such device", ble.Options{Name: "PROV_GONE"}, transports.ErrUnreachable, `"PROV_GONE" not found on hci0`},
		{"no prefix match", ble.Options{NamePrefix: "ESP_"}, transports.ErrUnreachable, `prefix "ESP_"`},
		{"address mismatch", ble.Options{Name: "PROV_HERE", Address: "11:22:33:44:55:66"}, transports.ErrUnreachable, "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.ScanTimeout = 150 * time.Millisecond
			start := time.Now()
			tr, err := ble.Open(testCtx(t), tc.opts)
			if err == nil {
				tr.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err %q, want %v containing %q", err, tc.wantErr, tc.wantMsg)
			}
			if time.Since(start) > 2*time.Second {
				t.Fatalf("took %v", time.Since(start))
			}
			if srv.Adapter("hci0").Discovering() {
				t.Fatal("discovery not stopped")
			}
		})
	}
	checkNoLeak(t, baseline)
}

func TestExchangeFailures(t *testing.T) {
	srv := startSim(t, bluez.Config{})
	pc := &echo{}
	d := addDevice(t, srv, "hci0", bluez.DeviceConfig{Protocomm: pc})
	baseline := warmUp(t)
	open := func(t *testing.T) *ble.Transport {
		tr, err := ble.Open(testCtx(t), ble.Options{Name: d.Name()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}

	t.Run("handler error drops the link", func(t *testing.T) {
		tr := open(t)
		_, err := tr.Exchange(testCtx(t), "prov-session", []byte("fail"))
		if !errors.Is(err, transports.ErrClosed) {
			t.Fatalf("err %v", err)
		}
		writes := d.Writes()
		if _, err := tr.Exchange(testCtx(t), "proto-ver", []byte("x")); !errors.Is(err, transports.ErrClosed) {
			t.Fatalf("after drop: %v", err)
		}
		if d.Writes() != writes {
			t.Fatal("exchange on a dropped link reached the device")
		}
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
		if d.Cached() {
			t.Fatal("not removed from cache")
		}
	})

	t.Run("deadline", func(t *testing.T) {
		tr := open(t)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := tr.Exchange(ctx, "prov-config", []byte("slow"))
		if !errors.Is(err, transports.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v", err)
		}
		if time.Since(start) > 700*time.Millisecond {
			t.Fatalf("deadline not honoured: %v", time.Since(start))
		}
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("device vanishes mid-session", func(t *testing.T) {
		tr := open(t)
		if _, err := tr.Exchange(testCtx(t), "proto-ver", []byte("v")); err != nil {
			t.Fatal(err)
		}
		d.Vanish()
		_, err := tr.Exchange(testCtx(t), "prov-session", []byte("x"))
		if !errors.Is(err, transports.ErrClosed) {
			t.Fatalf("err %v", err)
		}
		start := time.Now()
		if err := tr.Close(); err != nil {
			t.Fatalf("Close after vanish: %v", err)
		}
		if time.Since(start) > 2500*time.Millisecond {
			t.Fatalf("Close took %v", time.Since(start))
		}
		d.Appear()
	})

	t.Run("bluetoothd goes away", func(t *testing.T) {
		tr := open(t)
		srv.Close()
		_, err := tr.Exchange(testCtx(t), "prov-session", []byte("x"))
		if !errors.Is(err, transports.ErrClosed) {
			t.Fatalf("err %v", err)
		}
		start := time.Now()
		_ = tr.Close() // may report the missing service; must be bounded
		if time.Since(start) > 4*time.Second {
			t.Fatalf("Close took %v", time.Since(start))
		}
	})
	checkNoLeak(t, baseline)
}

func TestPairing(t *testing.T) {
	tests := []struct {
		name     string
		cfg      bluez.DeviceConfig
		pair     bool
		wantErr  string
		exchange bool
	}{
		{"pair on demand", bluez.DeviceConfig{RequirePairing: true}, false, "", true},
		{"pair up front", bluez.DeviceConfig{RequirePairing: true}, true, "", true},
		{"pair up front, no encryption needed", bluez.DeviceConfig{}, true, "", true},
		{"agent asked to confirm", bluez.DeviceConfig{RequirePairing: true, ConfirmPairing: true}, false, "", true},
		{"old firmware pairs at first write", bluez.DeviceConfig{RequirePairing: true, NoUserDescriptions: true}, false, "", true},
		{"device refuses", bluez.DeviceConfig{RequirePairing: true, RejectPairing: true}, false,
			"ble: pairing with PROV_SECURE failed: org.bluez.Error.AuthenticationFailed", false},
		{"device refuses, up front", bluez.DeviceConfig{RejectPairing: true}, true,
			"ble: pairing with PROV_SECURE failed: org.bluez.Error.AuthenticationFailed", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, bus := startSimBus(t, bluez.Config{})
			tc.cfg.Name = "PROV_SECURE"
			d := addDevice(t, srv, "hci0", tc.cfg)
			baseline := warmUp(t)
			tr, err := ble.Open(testCtx(t), ble.Options{Name: "PROV_SECURE", Pair: tc.pair})
			if tc.wantErr != "" {
				if err == nil {
					tr.Close()
					t.Fatal("Open succeeded")
				}
				var pe *ble.PairingError
				if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("err %q, want prefix %q", err, tc.wantErr)
				}
				if d.Connected() || d.Cached() || srv.AgentRegistered() {
					t.Fatal("failed Open left the device connected/cached or the agent registered")
				}
				checkNoLeak(t, baseline)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			reply, err := tr.Exchange(testCtx(t), "prov-session", []byte("hi"))
			if err != nil || !strings.HasSuffix(string(reply), "|hi") {
				t.Fatalf("exchange: %q %v", reply, err)
			}
			if tc.cfg.RequirePairing && !d.Paired() {
				t.Fatal("not paired")
			}
			var probe *dbus.Conn
			if tc.cfg.RequirePairing {
				// Our agent is registered while the session is open, and
				// accepts nothing outside an ongoing Pair of our device.
				sender, path, ok := srv.Agent()
				if !ok {
					t.Fatal("agent not registered while paired session is open")
				}
				probe, err = bus.Dial()
				if err != nil {
					t.Fatal(err)
				}
				defer probe.Close()
				for _, dev := range []dbus.ObjectPath{d.Path(), "/org/bluez/hci0/dev_66_55_44_33_22_11"} {
					err := probe.Object(sender, path).CallWithContext(testCtx(t),
						"org.bluez.Agent1.RequestConfirmation", 0, dev, uint32(1)).Err
					var de dbus.Error
					if !errors.As(err, &de) || de.Name != "org.bluez.Error.Rejected" {
						t.Fatalf("agent confirmation for %s outside pairing: %v", dev, err)
					}
				}
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			if probe != nil {
				probe.Close()
			}
			if srv.AgentRegistered() {
				t.Fatal("agent still registered after Close")
			}
			checkNoLeak(t, baseline)
		})
	}
}

func TestTwoDevicesOneAdapter(t *testing.T) {
	srv := startSim(t, bluez.Config{})
	d1 := addDevice(t, srv, "hci0", bluez.DeviceConfig{Name: "PROV_111111"})
	d2 := addDevice(t, srv, "hci0", bluez.DeviceConfig{Name: "PROV_222222", RequirePairing: true})
	baseline := warmUp(t)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, d := range []*bluez.Device{d1, d2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr, err := ble.Open(testCtx(t), ble.Options{Name: d.Name()})
			if err != nil {
				errs <- err
				return
			}
			defer tr.Close()
			session := ""
			for i := 0; i < 20; i++ {
				req := fmt.Sprintf("%s-%d", d.Name(), i)
				reply, err := tr.Exchange(testCtx(t), "prov-config", []byte(req))
				if err != nil {
					errs <- err
					return
				}
				parts := strings.SplitN(string(reply), "|", 3)
				if parts[2] != req || (session != "" && parts[1] != session) {
					errs <- fmt.Errorf("%s: reply %q (session %s)", d.Name(), reply, session)
					return
				}
				session = parts[1]
			}
			if err := tr.Close(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if d1.Cached() || d2.Cached() || srv.Adapter("hci0").Discovering() {
		t.Fatal("devices cached or discovery running after both sessions")
	}

	// With only a name prefix, two concurrent Opens get different devices,
	// and a device open in this process cannot be opened again.
	trs := make([]*ble.Transport, 2)
	for i := range trs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr, err := ble.Open(testCtx(t), ble.Options{ScanTimeout: 2 * time.Second})
			if err != nil {
				t.Error(err)
				return
			}
			trs[i] = tr
		}()
	}
	wg.Wait()
	if trs[0] == nil || trs[1] == nil {
		t.FailNow()
	}
	if trs[0].Name() == trs[1].Name() {
		t.Fatalf("both prefix Opens got %s", trs[0].Name())
	}
	if tr, err := ble.Open(testCtx(t), ble.Options{Name: d1.Name(), ScanTimeout: 200 * time.Millisecond}); !errors.Is(err, transports.ErrUnreachable) {
		if tr != nil {
			tr.Close()
		}
		t.Fatalf("second Open of an open device: %v", err)
	}
	for _, tr := range trs {
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
	}
	checkNoLeak(t, baseline)
}

func TestAdapterSelection(t *testing.T) {
	srv := startSim(t, bluez.Config{Adapters: []bluez.AdapterConfig{{ID: "hci0"}, {ID: "hci1"}}})
	d := addDevice(t, srv, "hci1", bluez.DeviceConfig{Name: "PROV_FAR"})
	if _, err := ble.Open(testCtx(t), ble.Options{Name: "PROV_FAR", ScanTimeout: 150 * time.Millisecond}); !errors.Is(err, transports.ErrUnreachable) {
		t.Fatalf("hci0 sees a device only in range of hci1: %v", err)
	}
	tr, err := ble.Open(testCtx(t), ble.Options{Adapter: "hci1", Name: "PROV_FAR"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Exchange(testCtx(t), "proto-ver", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(d.Path()), "/org/bluez/hci1/") || tr.Adapter() != "hci1" {
		t.Fatalf("wrong adapter: %s %s", d.Path(), tr.Adapter())
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
}

// hung is an org.bluez that never answers: go-bluetooth would block
// forever; our calls must give up at the caller's deadline.
type hung struct{ release chan struct{} }

func (h *hung) GetManagedObjects() (map[dbus.ObjectPath]map[string]map[string]dbus.Variant, *dbus.Error) {
	<-h.release
	return nil, dbus.NewError("org.bluez.Error.Failed", []interface{}{"released"})
}

func TestHungBluetoothd(t *testing.T) {
	bus := dbustest.Start(t)
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.Address)
	conn := bus.Conn(t)
	h := &hung{release: make(chan struct{})}
	if err := conn.Export(h, "/", "org.freedesktop.DBus.ObjectManager"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.RequestName("org.bluez", dbus.NameFlagDoNotQueue); err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"Discover", "Open"} {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		start := time.Now()
		var err error
		if op == "Discover" {
			_, err = ble.Discover(ctx, ble.DiscoverOptions{})
		} else {
			_, err = ble.Open(ctx, ble.Options{})
		}
		cancel()
		if !errors.Is(err, transports.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: %v", op, err)
		}
		if time.Since(start) > time.Second {
			t.Fatalf("%s returned after %v", op, time.Since(start))
		}
	}
	close(h.release)
}

func TestNoSystemBus(t *testing.T) {
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+t.TempDir()+"/missing")
	start := time.Now()
	_, err := ble.Open(testCtx(t), ble.Options{})
	if !errors.Is(err, transports.ErrUnreachable) || !strings.Contains(err.Error(), "system bus") {
		t.Fatalf("err %v", err)
	}
	if _, err := ble.Discover(testCtx(t), ble.DiscoverOptions{}); !errors.Is(err, transports.ErrUnreachable) {
		t.Fatalf("Discover: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}
