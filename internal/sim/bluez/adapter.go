package bluez

import (
	"fmt"
	"strings"

	"github.com/godbus/dbus/v5"
)

// Adapter is one simulated controller (org.bluez.Adapter1).
type Adapter struct {
	s    *Server
	id   string
	path dbus.ObjectPath

	sessions map[string]bool             // sender → has a discovery session
	filters  map[string]discoveryFilter  // sender → discovery filter
	devices  map[dbus.ObjectPath]*Device // devices in BlueZ's cache (objects exported)
	all      []*Device                   // every simulated device of this adapter
}

type discoveryFilter struct {
	uuids     []string
	rssi      int16
	transport string
	pattern   string
}

func (f discoveryFilter) matches(d *Device) bool {
	if len(f.uuids) > 0 {
		ok := false
		for _, u := range f.uuids {
			if strings.EqualFold(u, d.service) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if f.rssi != 0 && d.cfg.RSSI < f.rssi {
		return false
	}
	if f.pattern != "" && !strings.HasPrefix(d.cfg.Name, f.pattern) && !strings.HasPrefix(d.cfg.Address, f.pattern) {
		return false
	}
	return f.transport != "bredr"
}

// ID returns the adapter id (hci0…).
func (a *Adapter) ID() string { return a.id }

// Path returns the adapter object path.
func (a *Adapter) Path() dbus.ObjectPath { return a.path }

// Discovering reports whether any client has a discovery session.
func (a *Adapter) Discovering() bool {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return len(a.sessions) > 0
}

// CachedDevices returns how many Device1 objects the adapter holds.
func (a *Adapter) CachedDevices() int {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return len(a.devices)
}

// AddDevice puts a simulated device in range of the adapter. It shows up as
// a Device1 object once a discovery session receives its advertisement.
func (a *Adapter) AddDevice(cfg DeviceConfig) (*Device, error) {
	if cfg.Protocomm == nil {
		return nil, fmt.Errorf("bluez: device %q: no Protocomm", cfg.Name)
	}
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if a.s.closed {
		return nil, errClosed
	}
	a.s.nextAddr++
	if cfg.Address == "" {
		n := a.s.nextAddr
		cfg.Address = fmt.Sprintf("24:0A:C4:%02X:%02X:%02X", 0xA0+(n>>16)&0xff, (n>>8)&0xff, n&0xff)
	}
	cfg.Address = strings.ToUpper(cfg.Address)
	if cfg.Name == "" {
		b := strings.Split(cfg.Address, ":")
		cfg.Name = "PROV_" + strings.Join(b[3:], "")
	}
	if cfg.RSSI == 0 {
		cfg.RSSI = -42
	}
	if cfg.ResolveDelay <= 0 {
		cfg.ResolveDelay = 10e6 // 10 ms
	}
	if cfg.MaxValueLen <= 0 {
		cfg.MaxValueLen = DefaultMaxValueLen
	}
	service := cfg.ServiceUUID
	if service == "" {
		service = DefaultServiceUUID
		if cfg.NoUserDescriptions {
			service = LegacyServiceUUID
		}
	}
	path := dbus.ObjectPath(fmt.Sprintf("%s/dev_%s", a.path, strings.ReplaceAll(cfg.Address, ":", "_")))
	for _, o := range a.all {
		if o.path == path && o.inRange {
			return nil, fmt.Errorf("bluez: device %s already in range", cfg.Address)
		}
	}
	d := &Device{a: a, cfg: cfg, path: path, service: strings.ToLower(service), inRange: true}
	a.all = append(a.all, d)
	if len(a.sessions) > 0 {
		a.s.after(a.s.cfg.ScanDelay, func() { a.report(d) })
	}
	return d, nil
}

// report handles a received advertisement of d during discovery. Call with
// s.mu held.
func (a *Adapter) report(d *Device) {
	if !d.inRange || len(a.sessions) == 0 || !a.filterMatches(d) {
		return
	}
	if d.cached {
		a.s.setProps(d.path, ifaceDevice, map[string]interface{}{"RSSI": d.cfg.RSSI})
		return
	}
	d.cached = true
	a.devices[d.path] = d
	a.s.addObject(d.path, map[string]map[string]dbus.Variant{ifaceDevice: {
		"Address":          dbus.MakeVariant(d.cfg.Address),
		"AddressType":      dbus.MakeVariant("public"),
		"Name":             dbus.MakeVariant(d.cfg.Name),
		"Alias":            dbus.MakeVariant(d.cfg.Name),
		"Paired":           dbus.MakeVariant(false),
		"Trusted":          dbus.MakeVariant(false),
		"Blocked":          dbus.MakeVariant(false),
		"LegacyPairing":    dbus.MakeVariant(false),
		"Connected":        dbus.MakeVariant(false),
		"ServicesResolved": dbus.MakeVariant(false),
		"UUIDs":            dbus.MakeVariant([]string{d.service}),
		"Adapter":          dbus.MakeVariant(a.path),
		"RSSI":             dbus.MakeVariant(d.cfg.RSSI),
	}}, &deviceHandler{d})
}

// filterMatches merges the filters of all sessions the way BlueZ does: a
// session without a filter sees everything.
func (a *Adapter) filterMatches(d *Device) bool {
	for sender := range a.sessions {
		f, ok := a.filters[sender]
		if !ok || f.matches(d) {
			return true
		}
	}
	return false
}

func (a *Adapter) powered() bool {
	o := a.s.objects[a.path]
	return o != nil && o.props[ifaceAdapter]["Powered"].Value().(bool)
}

// setPowered switches the controller; powering off ends discovery and
// drops every connection. Call with s.mu held.
func (a *Adapter) setPowered(on bool) {
	if !on {
		for _, d := range a.all {
			if d.connected {
				d.drop()
			}
		}
		if len(a.sessions) > 0 {
			a.sessions = map[string]bool{}
			a.discoveryStopped()
		}
	}
	a.s.setProps(a.path, ifaceAdapter, map[string]interface{}{"Powered": on})
}

// discoveryStopped clears the Discovering flag and the RSSI of cached
// devices (BlueZ drops RSSI when discovery ends). Call with s.mu held.
func (a *Adapter) discoveryStopped() {
	a.s.setProps(a.path, ifaceAdapter, map[string]interface{}{"Discovering": false})
	for _, d := range a.devices {
		a.s.setProps(d.path, ifaceDevice, map[string]interface{}{"RSSI": nil})
	}
}

type adapterHandler struct{ a *Adapter }

func (h *adapterHandler) StartDiscovery(sender dbus.Sender) *dbus.Error {
	a := h.a
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if !a.powered() {
		return bluezErr("NotReady", "Resource Not Ready")
	}
	if a.sessions[string(sender)] {
		return bluezErr("InProgress", "Operation already in progress")
	}
	first := len(a.sessions) == 0
	a.sessions[string(sender)] = true
	if first {
		a.s.setProps(a.path, ifaceAdapter, map[string]interface{}{"Discovering": true})
	}
	for _, d := range a.all {
		if d.inRange {
			d := d
			a.s.after(a.s.cfg.ScanDelay, func() { a.report(d) })
		}
	}
	return nil
}

func (h *adapterHandler) StopDiscovery(sender dbus.Sender) *dbus.Error {
	a := h.a
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if !a.powered() {
		return bluezErr("NotReady", "Resource Not Ready")
	}
	if !a.sessions[string(sender)] {
		return bluezErr("Failed", "No discovery started")
	}
	delete(a.sessions, string(sender))
	if len(a.sessions) == 0 {
		a.discoveryStopped()
	}
	return nil
}

func (h *adapterHandler) SetDiscoveryFilter(sender dbus.Sender, filter map[string]dbus.Variant) *dbus.Error {
	a := h.a
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if len(filter) == 0 {
		delete(a.filters, string(sender))
		return nil
	}
	bad := bluezErr("InvalidArguments", "Invalid Arguments in method call")
	f := discoveryFilter{transport: "auto"}
	for k, v := range filter {
		var ok bool
		switch k {
		case "UUIDs":
			f.uuids, ok = v.Value().([]string)
		case "RSSI":
			f.rssi, ok = v.Value().(int16)
		case "Pathloss":
			_, ok = v.Value().(uint16)
		case "Transport":
			f.transport, ok = v.Value().(string)
			ok = ok && (f.transport == "auto" || f.transport == "le" || f.transport == "bredr")
		case "DuplicateData", "Discoverable":
			_, ok = v.Value().(bool)
		case "Pattern":
			f.pattern, ok = v.Value().(string)
		}
		if !ok {
			return bad
		}
	}
	a.filters[string(sender)] = f
	return nil
}

func (h *adapterHandler) GetDiscoveryFilters() ([]string, *dbus.Error) {
	return []string{"UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable", "Pattern"}, nil
}

func (h *adapterHandler) RemoveDevice(path dbus.ObjectPath) *dbus.Error {
	a := h.a
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	d, ok := a.devices[path]
	if !ok {
		return bluezErr("DoesNotExist", "Does Not Exist")
	}
	if d.connected {
		d.drop()
	}
	d.removeObjects()
	return nil
}
