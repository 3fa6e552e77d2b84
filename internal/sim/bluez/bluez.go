// Package bluez serves, on a D-Bus connection, an object tree shaped like
// BlueZ 5.6x (org.bluez) backed by simulated ESP32 provisioning devices, so
// that a BLE client written against BlueZ's D-Bus API (go-bluetooth, godbus)
// runs unmodified in tests against a real dbus-daemon.
//
// Served objects:
//
//	/                                   org.freedesktop.DBus.ObjectManager
//	/org/bluez                          org.bluez.AgentManager1
//	/org/bluez/hciN                     org.bluez.Adapter1
//	/org/bluez/hciN/dev_XX_..           org.bluez.Device1            (after discovery)
//	  …/service0028                     org.bluez.GattService1       (after Connect)
//	  …/service0028/char0029            org.bluez.GattCharacteristic1 (one per endpoint)
//	  …/service0028/char0029/desc002b   org.bluez.GattDescriptor1    (0x2901 user description)
//
// Every object also implements org.freedesktop.DBus.Properties with
// PropertiesChanged signals. GATT layout, UUIDs and error behaviour follow
// protocol.md §8.2 (ESP-IDF protocomm_ble).
package bluez

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
)

// Well-known names, interfaces and UUIDs.
const (
	BusName = "org.bluez"

	ifaceObjectManager = "org.freedesktop.DBus.ObjectManager"
	ifaceProperties    = "org.freedesktop.DBus.Properties"
	ifaceAdapter       = "org.bluez.Adapter1"
	ifaceAgentManager  = "org.bluez.AgentManager1"
	ifaceDevice        = "org.bluez.Device1"
	ifaceService       = "org.bluez.GattService1"
	ifaceChar          = "org.bluez.GattCharacteristic1"
	ifaceDesc          = "org.bluez.GattDescriptor1"

	// DefaultServiceUUID is the example-app / esp_prov service (protocol.md §8.2).
	DefaultServiceUUID = "021a9004-0382-4aea-bff4-6b3f1c5adfb4"
	// LegacyServiceUUID is the old-firmware service without 0x2901 descriptors.
	LegacyServiceUUID = "0000ffff-0000-1000-8000-00805f9b34fb"
	// UserDescriptionUUID is the Characteristic User Description descriptor.
	UserDescriptionUUID = "00002901-0000-1000-8000-00805f9b34fb"

	// attMaxValue is the largest attribute value ATT allows (BlueZ rejects
	// longer writes with InvalidValueLength).
	attMaxValue = 512
	// DefaultMaxValueLen is CHAR_VAL_LEN_MAX of a Security-2 build (481).
	DefaultMaxValueLen = 481
)

// Endpoint 16-bit ids (protocol.md §3). Application endpoints get 0xFF54 up.
var standardIDs = map[string]uint16{
	"prov-ctrl":    0xFF4F,
	"prov-scan":    0xFF50,
	"prov-session": 0xFF51,
	"prov-config":  0xFF52,
	"proto-ver":    0xFF53,
}

// EndpointIDs assigns the BLE 16-bit ids to endpoint names the way the
// provisioning manager does: fixed ids for the five manager endpoints, then
// 0xFF54 upward for the others in registration order.
func EndpointIDs(names []string) map[string]uint16 {
	ids := make(map[string]uint16, len(names))
	next := uint16(0xFF54)
	for _, n := range names {
		if id, ok := standardIDs[n]; ok {
			ids[n] = id
			continue
		}
		ids[n] = next
		next++
	}
	return ids
}

// CharUUID returns the characteristic UUID for an endpoint id: the service
// UUID with the id in characters 4–7 of its canonical form.
func CharUUID(service string, id uint16) string {
	s := strings.ToLower(service)
	if len(s) != 36 {
		return s
	}
	return fmt.Sprintf("%s%04x%s", s[:4], id, s[8:])
}

// D-Bus errors as BlueZ names them.
func bluezErr(name, msg string) *dbus.Error {
	return dbus.NewError("org.bluez.Error."+name, []interface{}{msg})
}

// Config configures a Server.
type Config struct {
	// Adapters to expose; default one adapter "hci0".
	Adapters []AdapterConfig
	// ScanDelay is how long after discovery starts (or after a device comes
	// in range during discovery) the device's advertisement is "received".
	// Default 10 ms.
	ScanDelay time.Duration
}

// AdapterConfig describes one simulated controller.
type AdapterConfig struct {
	ID         string // "hci0", "hci1", …
	Address    string // default 00:1A:7D:DA:71:<n>
	Name       string // default "espprov-sim"
	PoweredOff bool
}

// Server is the simulated bluetoothd.
type Server struct {
	conn *dbus.Conn
	cfg  Config

	mu       sync.Mutex
	closed   bool
	objects  map[dbus.ObjectPath]*object
	adapters map[string]*Adapter
	order    []string                   // adapter ids in order
	agents   map[string]dbus.ObjectPath // sender → agent path
	nextAddr int
	timers   map[*time.Timer]struct{}
	wg       sync.WaitGroup
}

type object struct {
	props map[string]map[string]dbus.Variant // iface → props
	owner interface{}                        // *adapterHandler, *deviceHandler, …
}

// Serve exports the BlueZ object tree on conn and requests the name
// org.bluez. conn stays owned by the caller; Close releases the name and
// unexports everything.
func Serve(conn *dbus.Conn, cfg Config) (*Server, error) {
	if len(cfg.Adapters) == 0 {
		cfg.Adapters = []AdapterConfig{{ID: "hci0"}}
	}
	if cfg.ScanDelay <= 0 {
		cfg.ScanDelay = 10 * time.Millisecond
	}
	s := &Server{
		conn:     conn,
		cfg:      cfg,
		objects:  map[dbus.ObjectPath]*object{},
		adapters: map[string]*Adapter{},
		agents:   map[string]dbus.ObjectPath{},
		timers:   map[*time.Timer]struct{}{},
	}
	// Everything is exported once, up front: godbus's per-path Export is
	// not safe against concurrent calls into the subtree, so the objects
	// below /org/bluez are served by subtree dispatchers that look the
	// path up in our own table.
	if err := conn.Export(&objectManager{s}, "/", ifaceObjectManager); err != nil {
		return nil, fmt.Errorf("bluez: export object manager: %w", err)
	}
	for iface, h := range map[string]interface{}{
		ifaceProperties:   &propsDispatch{s},
		ifaceAgentManager: &agentDispatch{s},
		ifaceAdapter:      &adapterDispatch{s},
		ifaceDevice:       &deviceDispatch{s},
		ifaceChar:         &charDispatch{s},
		ifaceDesc:         &descDispatch{s},
	} {
		if err := conn.ExportSubtree(h, "/org/bluez", iface); err != nil {
			return nil, fmt.Errorf("bluez: export %s: %w", iface, err)
		}
	}
	s.mu.Lock()
	s.addObject("/org/bluez", map[string]map[string]dbus.Variant{ifaceAgentManager: {}}, &agentManager{s})
	for i, ac := range cfg.Adapters {
		if ac.ID == "" || !strings.HasPrefix(ac.ID, "hci") {
			s.mu.Unlock()
			s.Close()
			return nil, fmt.Errorf("bluez: bad adapter id %q", ac.ID)
		}
		if _, dup := s.adapters[ac.ID]; dup {
			s.mu.Unlock()
			s.Close()
			return nil, fmt.Errorf("bluez: duplicate adapter %q", ac.ID)
		}
		if ac.Address == "" {
			ac.Address = fmt.Sprintf("00:1A:7D:DA:71:%02X", i)
		}
		if ac.Name == "" {
			ac.Name = "espprov-sim"
		}
		a := &Adapter{
			s:        s,
			id:       ac.ID,
			path:     dbus.ObjectPath("/org/bluez/" + ac.ID),
			sessions: map[string]bool{},
			filters:  map[string]discoveryFilter{},
			devices:  map[dbus.ObjectPath]*Device{},
		}
		s.adapters[ac.ID] = a
		s.order = append(s.order, ac.ID)
		s.addObject(a.path, map[string]map[string]dbus.Variant{ifaceAdapter: {
			"Address":             dbus.MakeVariant(ac.Address),
			"AddressType":         dbus.MakeVariant("public"),
			"Name":                dbus.MakeVariant(ac.Name),
			"Alias":               dbus.MakeVariant(ac.Name),
			"Class":               dbus.MakeVariant(uint32(0)),
			"Powered":             dbus.MakeVariant(!ac.PoweredOff),
			"Discoverable":        dbus.MakeVariant(false),
			"DiscoverableTimeout": dbus.MakeVariant(uint32(180)),
			"Pairable":            dbus.MakeVariant(true),
			"PairableTimeout":     dbus.MakeVariant(uint32(0)),
			"Discovering":         dbus.MakeVariant(false),
			"UUIDs":               dbus.MakeVariant([]string{}),
			"Modalias":            dbus.MakeVariant("usb:v1D6Bp0246d0540"),
			"Roles":               dbus.MakeVariant([]string{"central", "peripheral"}),
		}}, &adapterHandler{a})
	}
	s.mu.Unlock()

	reply, err := conn.RequestName(BusName, dbus.NameFlagDoNotQueue)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("bluez: request name %s: %w", BusName, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		s.Close()
		return nil, fmt.Errorf("bluez: name %s already owned on this bus", BusName)
	}
	return s, nil
}

// Close releases org.bluez, unexports every object and stops pending
// timers. Sessions of connected devices are closed. Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for t := range s.timers {
		if t.Stop() {
			s.wg.Done()
		}
	}
	s.timers = map[*time.Timer]struct{}{}
	for _, a := range s.adapters {
		for _, d := range a.all {
			d.cancelPending()
			if d.connected && d.cfg.Protocomm != nil {
				d.cfg.Protocomm.CloseSession(d.session)
			}
			d.connected = false
		}
	}
	s.objects = map[dbus.ObjectPath]*object{}
	s.mu.Unlock()
	s.wg.Wait()
	_ = s.conn.Export(nil, "/", ifaceObjectManager)
	for _, iface := range []string{ifaceProperties, ifaceAgentManager, ifaceAdapter, ifaceDevice, ifaceChar, ifaceDesc} {
		_ = s.conn.Export(nil, "/org/bluez", iface)
	}
	_, err := s.conn.ReleaseName(BusName)
	if err != nil {
		return fmt.Errorf("bluez: release name: %w", err)
	}
	return nil
}

// Adapter returns the simulated controller with the given id, or nil.
func (s *Server) Adapter(id string) *Adapter {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.adapters[id]
}

// Agent returns the bus name and object path of a registered agent
// (ok false when none is registered).
func (s *Server) Agent() (sender string, path dbus.ObjectPath, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for snd, p := range s.agents {
		return snd, p, true
	}
	return "", "", false
}

// AgentRegistered reports whether a client has an agent registered.
func (s *Server) AgentRegistered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.agents) > 0
}

// after runs fn under s.mu after d unless the server is closed. Call with
// s.mu held.
func (s *Server) after(d time.Duration, fn func()) {
	s.wg.Add(1)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		defer s.wg.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.timers, t)
		if s.closed {
			return
		}
		fn()
	})
	s.timers[t] = struct{}{}
}

// --- object tree -------------------------------------------------------------

// addObject publishes an object and announces it. Call with s.mu held.
func (s *Server) addObject(path dbus.ObjectPath, props map[string]map[string]dbus.Variant, owner interface{}) {
	s.objects[path] = &object{props: props, owner: owner}
	_ = s.conn.Emit("/", ifaceObjectManager+".InterfacesAdded", path, copyIfaces(props))
}

// removeObject withdraws an object and announces it. Call with s.mu held.
func (s *Server) removeObject(path dbus.ObjectPath) {
	o, ok := s.objects[path]
	if !ok {
		return
	}
	delete(s.objects, path)
	ifaces := make([]string, 0, len(o.props))
	for iface := range o.props {
		ifaces = append(ifaces, iface)
	}
	sort.Strings(ifaces)
	ifaces = append(ifaces, ifaceProperties)
	_ = s.conn.Emit("/", ifaceObjectManager+".InterfacesRemoved", path, ifaces)
}

// setProps updates properties and emits PropertiesChanged. A nil value in
// changed invalidates (removes) the property. Call with s.mu held.
func (s *Server) setProps(path dbus.ObjectPath, iface string, changed map[string]interface{}) {
	o, ok := s.objects[path]
	if !ok {
		return
	}
	props := o.props[iface]
	out := map[string]dbus.Variant{}
	invalid := []string{}
	for k, v := range changed {
		if v == nil {
			if _, had := props[k]; had {
				delete(props, k)
				invalid = append(invalid, k)
			}
			continue
		}
		nv := dbus.MakeVariant(v)
		if old, had := props[k]; had && fmt.Sprint(old.Value()) == fmt.Sprint(v) {
			continue
		}
		props[k] = nv
		out[k] = nv
	}
	if len(out) == 0 && len(invalid) == 0 {
		return
	}
	sort.Strings(invalid)
	_ = s.conn.Emit(path, ifaceProperties+".PropertiesChanged", iface, out, invalid)
}

func copyIfaces(in map[string]map[string]dbus.Variant) map[string]map[string]dbus.Variant {
	out := make(map[string]map[string]dbus.Variant, len(in))
	for iface, props := range in {
		p := make(map[string]dbus.Variant, len(props))
		for k, v := range props {
			p[k] = v
		}
		out[iface] = p
	}
	return out
}

type objectManager struct{ s *Server }

func (m *objectManager) GetManagedObjects() (map[dbus.ObjectPath]map[string]map[string]dbus.Variant, *dbus.Error) {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	out := make(map[dbus.ObjectPath]map[string]map[string]dbus.Variant, len(m.s.objects))
	for p, o := range m.s.objects {
		out[p] = copyIfaces(o.props)
	}
	return out, nil
}

// propsHandler serves org.freedesktop.DBus.Properties for one path.
type propsHandler struct {
	s    *Server
	path dbus.ObjectPath
}

func (h *propsHandler) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	o, ok := h.s.objects[h.path]
	if !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownObject", []interface{}{string(h.path)})
	}
	props, ok := o.props[iface]
	if !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []interface{}{"No such interface '" + iface + "'"})
	}
	v, ok := props[name]
	if !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []interface{}{"No such property '" + name + "'"})
	}
	return v, nil
}

func (h *propsHandler) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	o, ok := h.s.objects[h.path]
	if !ok {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.UnknownObject", []interface{}{string(h.path)})
	}
	props, ok := o.props[iface]
	if !ok {
		return nil, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []interface{}{"No such interface '" + iface + "'"})
	}
	out := make(map[string]dbus.Variant, len(props))
	for k, v := range props {
		out[k] = v
	}
	return out, nil
}

var writable = map[string]map[string]bool{
	ifaceAdapter: {"Powered": true, "Discoverable": true, "Pairable": true, "Alias": true,
		"DiscoverableTimeout": true, "PairableTimeout": true},
	ifaceDevice: {"Trusted": true, "Blocked": true, "Alias": true},
}

func (h *propsHandler) Set(iface, name string, v dbus.Variant) *dbus.Error {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	o, ok := h.s.objects[h.path]
	if !ok {
		return dbus.NewError("org.freedesktop.DBus.Error.UnknownObject", []interface{}{string(h.path)})
	}
	props, ok := o.props[iface]
	if !ok {
		return dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []interface{}{"No such interface '" + iface + "'"})
	}
	old, ok := props[name]
	if !ok {
		return dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []interface{}{"No such property '" + name + "'"})
	}
	if !writable[iface][name] {
		return dbus.NewError("org.freedesktop.DBus.Error.PropertyReadOnly", []interface{}{"Property '" + name + "' is not writable"})
	}
	if old.Signature() != v.Signature() {
		return dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []interface{}{"Invalid argument type: '" + v.Signature().String() + "'"})
	}
	if iface == ifaceAdapter && name == "Powered" {
		for _, a := range h.s.adapters {
			if a.path == h.path {
				a.setPowered(v.Value().(bool))
				return nil
			}
		}
	}
	if iface == ifaceDevice {
		if d := h.s.deviceAt(h.path); d != nil {
			switch name {
			case "Trusted":
				d.trusted = v.Value().(bool)
			case "Alias":
				if v.Value().(string) == "" {
					v = dbus.MakeVariant(d.cfg.Name)
				}
			}
		}
	}
	h.s.setProps(h.path, iface, map[string]interface{}{name: v.Value()})
	return nil
}

func (s *Server) deviceAt(path dbus.ObjectPath) *Device {
	for _, a := range s.adapters {
		if d, ok := a.devices[path]; ok {
			return d
		}
	}
	return nil
}

// --- agents ------------------------------------------------------------------

type agentManager struct{ s *Server }

var validCaps = map[string]bool{"": true, "DisplayOnly": true, "DisplayYesNo": true,
	"KeyboardOnly": true, "NoInputNoOutput": true, "KeyboardDisplay": true}

func (m *agentManager) RegisterAgent(sender dbus.Sender, path dbus.ObjectPath, capability string) *dbus.Error {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	if !validCaps[capability] {
		return bluezErr("InvalidArguments", "Invalid Arguments in method call")
	}
	if _, ok := m.s.agents[string(sender)]; ok {
		return bluezErr("AlreadyExists", "Already Exists")
	}
	m.s.agents[string(sender)] = path
	return nil
}

func (m *agentManager) UnregisterAgent(sender dbus.Sender, path dbus.ObjectPath) *dbus.Error {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	if p, ok := m.s.agents[string(sender)]; !ok || p != path {
		return bluezErr("DoesNotExist", "Does Not Exist")
	}
	delete(m.s.agents, string(sender))
	return nil
}

func (m *agentManager) RequestDefaultAgent(sender dbus.Sender, path dbus.ObjectPath) *dbus.Error {
	m.s.mu.Lock()
	defer m.s.mu.Unlock()
	if p, ok := m.s.agents[string(sender)]; !ok || p != path {
		return bluezErr("DoesNotExist", "Does Not Exist")
	}
	return nil
}

// errClosed is returned by mutators after Close.
var errClosed = errors.New("bluez: server closed")
