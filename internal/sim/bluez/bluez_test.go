package bluez_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/espprov/espprov/internal/sim/bluez"
	"github.com/espprov/espprov/internal/sim/bluez/dbustest"
)

// echo is a scripted Protocomm: it answers "<endpoint>|<session>|<request>"
// and fails requests equal to "fail".
type echo struct {
	mu     sync.Mutex
	closed []string
}

func (e *echo) Endpoints() []string {
	return []string{"prov-ctrl", "prov-scan", "prov-session", "prov-config", "proto-ver", "custom-data"}
}

func (e *echo) Handle(session, endpoint string, req []byte) ([]byte, error) {
	if string(req) == "fail" {
		return nil, errors.New("handler failed")
	}
	return []byte(endpoint + "|" + session + "|" + string(req)), nil
}

func (e *echo) CloseSession(session string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = append(e.closed, session)
}

func (e *echo) closedSessions() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.closed...)
}

type env struct {
	bus    *dbustest.Bus
	srv    *bluez.Server
	client *dbus.Conn
	sigs   chan *dbus.Signal
}

func setup(t *testing.T, cfg bluez.Config) *env {
	t.Helper()
	bus := dbustest.Start(t)
	srvConn := bus.Conn(t)
	srv, err := bluez.Serve(srvConn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client := bus.Conn(t)
	if err := client.AddMatchSignal(dbus.WithMatchSender(bluez.BusName)); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan *dbus.Signal, 256)
	client.Signal(sigs)
	return &env{bus: bus, srv: srv, client: client, sigs: sigs}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func (e *env) call(t *testing.T, path dbus.ObjectPath, method string, args ...interface{}) *dbus.Call {
	t.Helper()
	return e.client.Object(bluez.BusName, path).CallWithContext(ctx(t), method, 0, args...)
}

func (e *env) objects(t *testing.T) map[dbus.ObjectPath]map[string]map[string]dbus.Variant {
	t.Helper()
	var objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	if err := e.call(t, "/", "org.freedesktop.DBus.ObjectManager.GetManagedObjects").Store(&objs); err != nil {
		t.Fatal(err)
	}
	return objs
}

// waitSignal waits for a signal satisfying pred.
func (e *env) waitSignal(t *testing.T, what string, pred func(*dbus.Signal) bool) *dbus.Signal {
	t.Helper()
	timeout := time.After(3 * time.Second)
	for {
		select {
		case s := <-e.sigs:
			if pred(s) {
				return s
			}
		case <-timeout:
			t.Fatalf("no %s signal", what)
		}
	}
}

func (e *env) prop(t *testing.T, path dbus.ObjectPath, iface, name string) interface{} {
	t.Helper()
	var v dbus.Variant
	if err := e.call(t, path, "org.freedesktop.DBus.Properties.Get", iface, name).Store(&v); err != nil {
		t.Fatalf("Get %s.%s on %s: %v", iface, name, path, err)
	}
	return v.Value()
}

func (e *env) waitProp(t *testing.T, path dbus.ObjectPath, iface, name string, want interface{}) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if e.prop(t, path, iface, name) == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s.%s on %s never became %v", iface, name, path, want)
}

func dbusName(err error) string {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name
	}
	return ""
}

// discoverAndConnect runs discovery until d appears, then connects.
func (e *env) discoverAndConnect(t *testing.T, adapter dbus.ObjectPath, d *bluez.Device) {
	t.Helper()
	if err := e.call(t, adapter, "org.bluez.Adapter1.StartDiscovery").Err; err != nil {
		t.Fatal(err)
	}
	e.waitSignal(t, "InterfacesAdded", func(s *dbus.Signal) bool {
		return s.Name == "org.freedesktop.DBus.ObjectManager.InterfacesAdded" && s.Body[0].(dbus.ObjectPath) == d.Path()
	})
	if err := e.call(t, adapter, "org.bluez.Adapter1.StopDiscovery").Err; err != nil {
		t.Fatal(err)
	}
	if err := e.call(t, d.Path(), "org.bluez.Device1.Connect").Err; err != nil {
		t.Fatal(err)
	}
	e.waitProp(t, d.Path(), "org.bluez.Device1", "ServicesResolved", true)
}

func TestTreeAndDiscovery(t *testing.T) {
	e := setup(t, bluez.Config{})
	a := e.srv.Adapter("hci0")
	objs := e.objects(t)
	if _, ok := objs["/org/bluez/hci0"]["org.bluez.Adapter1"]; !ok {
		t.Fatalf("no adapter in %v", objs)
	}
	if _, ok := objs["/org/bluez"]["org.bluez.AgentManager1"]; !ok {
		t.Fatal("no AgentManager1")
	}
	d, err := a.AddDevice(bluez.DeviceConfig{Name: "PROV_0A0B0C", Protocomm: &echo{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.objects(t)[d.Path()]; ok {
		t.Fatal("device visible before discovery")
	}
	if err := e.call(t, a.Path(), "org.bluez.Adapter1.SetDiscoveryFilter",
		map[string]dbus.Variant{"Transport": dbus.MakeVariant("le")}).Err; err != nil {
		t.Fatal(err)
	}
	if err := e.call(t, a.Path(), "org.bluez.Adapter1.StartDiscovery").Err; err != nil {
		t.Fatal(err)
	}
	if err := e.call(t, a.Path(), "org.bluez.Adapter1.StartDiscovery").Err; dbusName(err) != "org.bluez.Error.InProgress" {
		t.Fatalf("second StartDiscovery: %v", err)
	}
	s := e.waitSignal(t, "InterfacesAdded", func(s *dbus.Signal) bool {
		return s.Name == "org.freedesktop.DBus.ObjectManager.InterfacesAdded"
	})
	props := s.Body[1].(map[string]map[string]dbus.Variant)["org.bluez.Device1"]
	if props["Name"].Value() != "PROV_0A0B0C" || props["RSSI"].Value() != int16(-42) ||
		props["Adapter"].Value() != a.Path() {
		t.Fatalf("device props %v", props)
	}
	if !a.Discovering() || e.prop(t, a.Path(), "org.bluez.Adapter1", "Discovering") != true {
		t.Fatal("not discovering")
	}
	if err := e.call(t, a.Path(), "org.bluez.Adapter1.StopDiscovery").Err; err != nil {
		t.Fatal(err)
	}
	if err := e.call(t, a.Path(), "org.bluez.Adapter1.StopDiscovery").Err; dbusName(err) != "org.bluez.Error.Failed" {
		t.Fatalf("StopDiscovery without session: %v", err)
	}
	if a.Discovering() {
		t.Fatal("still discovering")
	}
	if _, ok := e.objects(t)[d.Path()]["org.bluez.Device1"]["RSSI"]; ok {
		t.Fatal("RSSI kept after discovery stopped")
	}
	// A UUID filter that does not match hides the device from a new scan.
	if err := e.call(t, a.Path(), "org.bluez.Adapter1.RemoveDevice", d.Path()).Err; err != nil {
		t.Fatal(err)
	}
	if err := e.call(t, a.Path(), "org.bluez.Adapter1.SetDiscoveryFilter", map[string]dbus.Variant{
		"UUIDs": dbus.MakeVariant([]string{"0000180d-0000-1000-8000-00805f9b34fb"})}).Err; err != nil {
		t.Fatal(err)
	}
	if err := e.call(t, a.Path(), "org.bluez.Adapter1.StartDiscovery").Err; err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if d.Cached() {
		t.Fatal("filtered device reported")
	}
	if err := e.call(t, a.Path(), "org.bluez.Adapter1.StopDiscovery").Err; err != nil {
		t.Fatal(err)
	}
	if err := e.call(t, a.Path(), "org.bluez.Adapter1.RemoveDevice", d.Path()).Err; dbusName(err) != "org.bluez.Error.DoesNotExist" {
		t.Fatalf("RemoveDevice of uncached device: %v", err)
	}
}

func TestGATTExchange(t *testing.T) {
	tests := []struct {
		name       string
		cfg        bluez.DeviceConfig
		service    string
		withDescs  bool
		wantPrefix string
	}{
		{"default service with 0x2901", bluez.DeviceConfig{}, bluez.DefaultServiceUUID, true, "021a"},
		{"scheme_ble service", bluez.DeviceConfig{ServiceUUID: "1775244d-6b43-439b-877c-060f2d9bed07"}, "1775244d-6b43-439b-877c-060f2d9bed07", true, "1775"},
		{"old firmware", bluez.DeviceConfig{NoUserDescriptions: true}, bluez.LegacyServiceUUID, false, "0000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, bluez.Config{})
			pc := &echo{}
			tc.cfg.Protocomm = pc
			d, err := e.srv.Adapter("hci0").AddDevice(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			e.discoverAndConnect(t, "/org/bluez/hci0", d)
			objs := e.objects(t)
			byUUID := map[string]dbus.ObjectPath{}
			descs := map[dbus.ObjectPath]string{}
			for p, ifaces := range objs {
				if c, ok := ifaces["org.bluez.GattCharacteristic1"]; ok {
					byUUID[c["UUID"].Value().(string)] = p
					if flags := c["Flags"].Value().([]string); strings.Join(flags, ",") != "read,write" &&
						c["UUID"].Value() != "00002a05-0000-1000-8000-00805f9b34fb" {
						t.Errorf("flags %v", flags)
					}
				}
				if dsc, ok := ifaces["org.bluez.GattDescriptor1"]; ok {
					if dsc["UUID"].Value() != bluez.UserDescriptionUUID {
						t.Errorf("descriptor UUID %v", dsc["UUID"].Value())
					}
					descs[dsc["Characteristic"].Value().(dbus.ObjectPath)] = string(p)
				}
			}
			want := map[string]uint16{"prov-ctrl": 0xff4f, "prov-scan": 0xff50, "prov-session": 0xff51,
				"prov-config": 0xff52, "proto-ver": 0xff53, "custom-data": 0xff54}
			for ep, id := range want {
				u := bluez.CharUUID(tc.service, id)
				if !strings.HasPrefix(u, tc.wantPrefix) || u[8:] != tc.service[8:] {
					t.Fatalf("CharUUID(%s, %x) = %s", tc.service, id, u)
				}
				cp, ok := byUUID[u]
				if !ok {
					t.Fatalf("no characteristic %s for %s", u, ep)
				}
				dp, hasDesc := descs[cp]
				if hasDesc != tc.withDescs {
					t.Fatalf("%s: descriptor present=%v", ep, hasDesc)
				}
				if hasDesc {
					var name []byte
					if err := e.call(t, dbus.ObjectPath(dp), "org.bluez.GattDescriptor1.ReadValue", map[string]dbus.Variant{}).Store(&name); err != nil {
						t.Fatal(err)
					}
					if string(name) != ep {
						t.Fatalf("descriptor of %s reads %q", ep, name)
					}
				}
				var before []byte
				if err := e.call(t, cp, "org.bluez.GattCharacteristic1.ReadValue", map[string]dbus.Variant{}).Store(&before); err != nil || len(before) != 0 {
					t.Fatalf("read before write: %q %v", before, err)
				}
				if err := e.call(t, cp, "org.bluez.GattCharacteristic1.WriteValue", []byte("hi"),
					map[string]dbus.Variant{"type": dbus.MakeVariant("request")}).Err; err != nil {
					t.Fatal(err)
				}
				var got []byte
				if err := e.call(t, cp, "org.bluez.GattCharacteristic1.ReadValue", map[string]dbus.Variant{}).Store(&got); err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(string(got), ep+"|") || !strings.HasSuffix(string(got), "|hi") {
					t.Fatalf("reply %q", got)
				}
			}
			session := byUUID[bluez.CharUUID(tc.service, 0xff51)]
			// Size limits: ATT maximum, then the device's CHAR_VAL_LEN_MAX.
			for _, c := range []struct {
				n    int
				want string
			}{{513, "org.bluez.Error.InvalidValueLength"}, {482, "org.bluez.Error.Failed"}} {
				err := e.call(t, session, "org.bluez.GattCharacteristic1.WriteValue", bytes.Repeat([]byte{1}, c.n),
					map[string]dbus.Variant{}).Err
				if dbusName(err) != c.want {
					t.Fatalf("write %d bytes: %v, want %s", c.n, err, c.want)
				}
			}
			if !d.Connected() {
				t.Fatal("size errors must not drop the link")
			}
			// A handler error answers with an error and drops the link.
			err = e.call(t, session, "org.bluez.GattCharacteristic1.WriteValue", []byte("fail"), map[string]dbus.Variant{}).Err
			if dbusName(err) != "org.bluez.Error.Failed" {
				t.Fatalf("failing write: %v", err)
			}
			if d.Connected() || e.prop(t, d.Path(), "org.bluez.Device1", "Connected") != false {
				t.Fatal("link not dropped after handler error")
			}
			if got := pc.closedSessions(); len(got) != 1 {
				t.Fatalf("closed sessions %v", got)
			}
			err = e.call(t, session, "org.bluez.GattCharacteristic1.WriteValue", []byte("x"), map[string]dbus.Variant{}).Err
			if dbusName(err) != "org.bluez.Error.Failed" {
				t.Fatalf("write while disconnected: %v", err)
			}
			// Reconnect: a new session id.
			if err := e.call(t, d.Path(), "org.bluez.Device1.Connect").Err; err != nil {
				t.Fatal(err)
			}
			if err := e.call(t, session, "org.bluez.GattCharacteristic1.WriteValue", []byte("again"), map[string]dbus.Variant{}).Err; err != nil {
				t.Fatal(err)
			}
			var got []byte
			_ = e.call(t, session, "org.bluez.GattCharacteristic1.ReadValue", map[string]dbus.Variant{}).Store(&got)
			if strings.Split(string(got), "|")[1] == pc.closedSessions()[0] {
				t.Fatalf("session id reused after reconnect: %q", got)
			}
			if err := e.call(t, d.Path(), "org.bluez.Device1.Disconnect").Err; err != nil {
				t.Fatal(err)
			}
			if err := e.call(t, d.Path(), "org.bluez.Device1.Disconnect").Err; dbusName(err) != "org.bluez.Error.NotConnected" {
				t.Fatalf("second Disconnect: %v", err)
			}
		})
	}
}

type testAgent struct{}

func (testAgent) Release() *dbus.Error { return nil }

func TestPairing(t *testing.T) {
	e := setup(t, bluez.Config{})
	d, err := e.srv.Adapter("hci0").AddDevice(bluez.DeviceConfig{RequirePairing: true, Protocomm: &echo{}})
	if err != nil {
		t.Fatal(err)
	}
	e.discoverAndConnect(t, "/org/bluez/hci0", d)
	var desc dbus.ObjectPath
	for p, ifaces := range e.objects(t) {
		if _, ok := ifaces["org.bluez.GattDescriptor1"]; ok && strings.HasPrefix(string(p), string(d.Path())) {
			desc = p
		}
	}
	err = e.call(t, desc, "org.bluez.GattDescriptor1.ReadValue", map[string]dbus.Variant{}).Err
	if dbusName(err) != "org.bluez.Error.NotPermitted" {
		t.Fatalf("unpaired read: %v", err)
	}
	if err := e.call(t, d.Path(), "org.bluez.Device1.Pair").Err; dbusName(err) != "org.bluez.Error.AuthenticationFailed" {
		t.Fatalf("Pair without agent: %v", err)
	}
	const agentPath = "/test/agent"
	if err := e.client.Export(testAgent{}, agentPath, "org.bluez.Agent1"); err != nil {
		t.Fatal(err)
	}
	if err := e.call(t, "/org/bluez", "org.bluez.AgentManager1.RegisterAgent", dbus.ObjectPath(agentPath), "Bogus").Err; dbusName(err) != "org.bluez.Error.InvalidArguments" {
		t.Fatalf("bad capability: %v", err)
	}
	if err := e.call(t, "/org/bluez", "org.bluez.AgentManager1.RegisterAgent", dbus.ObjectPath(agentPath), "NoInputNoOutput").Err; err != nil {
		t.Fatal(err)
	}
	if !e.srv.AgentRegistered() {
		t.Fatal("agent not registered")
	}
	if err := e.call(t, d.Path(), "org.bluez.Device1.Pair").Err; err != nil {
		t.Fatal(err)
	}
	if !d.Paired() || e.prop(t, d.Path(), "org.bluez.Device1", "Paired") != true {
		t.Fatal("not paired")
	}
	var name []byte
	if err := e.call(t, desc, "org.bluez.GattDescriptor1.ReadValue", map[string]dbus.Variant{}).Store(&name); err != nil || len(name) == 0 {
		t.Fatalf("paired read: %q %v", name, err)
	}
	if err := e.call(t, d.Path(), "org.freedesktop.DBus.Properties.Set", "org.bluez.Device1", "Trusted", dbus.MakeVariant(true)).Err; err != nil {
		t.Fatal(err)
	}
	if err := e.call(t, d.Path(), "org.freedesktop.DBus.Properties.Set", "org.bluez.Device1", "Paired", dbus.MakeVariant(false)).Err; err == nil {
		t.Fatal("Paired must be read-only")
	}
	if err := e.call(t, "/org/bluez", "org.bluez.AgentManager1.UnregisterAgent", dbus.ObjectPath(agentPath)).Err; err != nil {
		t.Fatal(err)
	}
	// RejectPairing fails even with an agent.
	d2, _ := e.srv.Adapter("hci0").AddDevice(bluez.DeviceConfig{RejectPairing: true, Protocomm: &echo{}})
	_ = e.call(t, "/org/bluez", "org.bluez.AgentManager1.RegisterAgent", dbus.ObjectPath(agentPath), "NoInputNoOutput")
	e.discoverAndConnect(t, "/org/bluez/hci0", d2)
	if err := e.call(t, d2.Path(), "org.bluez.Device1.Pair").Err; dbusName(err) != "org.bluez.Error.AuthenticationFailed" {
		t.Fatalf("rejected Pair: %v", err)
	}
}

func TestVanishAndRemove(t *testing.T) {
	e := setup(t, bluez.Config{})
	pc := &echo{}
	a := e.srv.Adapter("hci0")
	d, _ := a.AddDevice(bluez.DeviceConfig{Protocomm: pc})
	e.discoverAndConnect(t, a.Path(), d)
	d.Vanish()
	e.waitSignal(t, "InterfacesRemoved", func(s *dbus.Signal) bool {
		return s.Name == "org.freedesktop.DBus.ObjectManager.InterfacesRemoved" && s.Body[0].(dbus.ObjectPath) == d.Path()
	})
	for p := range e.objects(t) {
		if strings.HasPrefix(string(p), string(d.Path())) {
			t.Fatalf("object %s left after Vanish", p)
		}
	}
	if len(pc.closedSessions()) != 1 {
		t.Fatal("session not closed on vanish")
	}
	if err := e.call(t, d.Path(), "org.bluez.Device1.Connect").Err; dbusName(err) != "org.freedesktop.DBus.Error.UnknownObject" {
		t.Fatalf("Connect to vanished device: %v", err)
	}
	// Back in range: rediscovered; RemoveDevice purges it and its GATT.
	d.Appear()
	e.discoverAndConnect(t, a.Path(), d)
	if err := e.call(t, a.Path(), "org.bluez.Adapter1.RemoveDevice", d.Path()).Err; err != nil {
		t.Fatal(err)
	}
	if d.Cached() || d.Connected() || a.CachedDevices() != 0 {
		t.Fatal("device still cached or connected after RemoveDevice")
	}
}

func TestAdapters(t *testing.T) {
	e := setup(t, bluez.Config{Adapters: []bluez.AdapterConfig{{ID: "hci0"}, {ID: "hci1"}, {ID: "hci2", PoweredOff: true}}})
	d1, _ := e.srv.Adapter("hci1").AddDevice(bluez.DeviceConfig{Name: "PROV_ONE", Protocomm: &echo{}})
	if err := e.call(t, "/org/bluez/hci0", "org.bluez.Adapter1.StartDiscovery").Err; err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if d1.Cached() {
		t.Fatal("hci1 device seen by hci0")
	}
	e.discoverAndConnect(t, "/org/bluez/hci1", d1)
	if !strings.HasPrefix(string(d1.Path()), "/org/bluez/hci1/dev_") {
		t.Fatalf("path %s", d1.Path())
	}
	if err := e.call(t, "/org/bluez/hci2", "org.bluez.Adapter1.StartDiscovery").Err; dbusName(err) != "org.bluez.Error.NotReady" {
		t.Fatalf("discovery on powered-off adapter: %v", err)
	}
	if err := e.call(t, "/org/bluez/hci2", "org.freedesktop.DBus.Properties.Set", "org.bluez.Adapter1", "Powered", dbus.MakeVariant(true)).Err; err != nil {
		t.Fatal(err)
	}
	if err := e.call(t, "/org/bluez/hci2", "org.bluez.Adapter1.StartDiscovery").Err; err != nil {
		t.Fatal(err)
	}
	// The name is taken: a second simulator on the same bus fails.
	if _, err := bluez.Serve(e.bus.Conn(t), bluez.Config{}); err == nil {
		t.Fatal("second Serve on the same bus succeeded")
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
}
