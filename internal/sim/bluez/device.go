package bluez

import (
	"context"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/espprov/espprov/internal/sim/device"
)

// DeviceConfig describes a simulated provisioning device on the air.
type DeviceConfig struct {
	// Name is the advertised complete local name (default PROV_ + last 3
	// address bytes).
	Name string
	// Address is the public address (default 24:0A:C4:…).
	Address string
	// RSSI reported while discovering (default -42).
	RSSI int16
	// ServiceUUID of the provisioning service (default
	// DefaultServiceUUID, or LegacyServiceUUID with NoUserDescriptions).
	ServiceUUID string
	// Protocomm answers the exchanges (required).
	Protocomm device.Protocomm
	// NoUserDescriptions models old firmware: characteristics carry no
	// 0x2901 descriptor, clients must fall back to computed UUIDs.
	NoUserDescriptions bool
	// RequirePairing models CONFIG_WIFI_PROV_BLE_FORCE_ENCRYPTION: every
	// characteristic and descriptor access on an unpaired link fails with
	// org.bluez.Error.NotPermitted.
	RequirePairing bool
	// RejectPairing makes Pair fail with AuthenticationFailed even with an
	// agent registered (the peer refuses).
	RejectPairing bool
	// ConfirmPairing makes BlueZ ask the pairing client's agent to confirm
	// (org.bluez.Agent1.RequestConfirmation) before pairing succeeds, as
	// for a peer with a display; a refusal fails Pair with
	// AuthenticationRejected.
	ConfirmPairing bool
	// StallConnects makes the first n Connect calls hang, as bluetoothd's do
	// while the controller hears no advertisement of the device, until
	// Disconnect cancels them (they then fail with "Cancelled"); a Connect
	// made while one is pending fails with "Operation already in progress".
	StallConnects int
	// FailConnects makes the next n Connect calls fail with
	// le-connection-abort-by-local (the controller could not establish
	// the link).
	FailConnects int
	// ResolveDelay between Connect and ServicesResolved (default 10 ms).
	ResolveDelay time.Duration
	// MaxValueLen is the largest write the device reassembles
	// (CHAR_VAL_LEN_MAX, default 481).
	MaxValueLen int
}

// Device is one simulated BLE peripheral running protocomm_ble.
type Device struct {
	a       *Adapter
	cfg     DeviceConfig
	path    dbus.ObjectPath
	service string

	inRange   bool
	cached    bool // Device1 object exported
	gatt      bool // GATT objects exported
	gattPaths []dbus.ObjectPath
	chars     map[dbus.ObjectPath]*attr

	connected bool
	resolved  bool
	paired    bool
	trusted   bool
	connSeq   int
	session   string
	connects  int
	writes    int
	stalled   int
	failed    int
	pending   chan struct{} // a stalled Connect, closed to cancel it
}

type attr struct {
	endpoint string
	value    []byte
	desc     bool // a 0x2901 descriptor (value = endpoint name)
	other    bool // not a protocomm attribute (Service Changed)
}

// Path returns the device's object path under its adapter.
func (d *Device) Path() dbus.ObjectPath { return d.path }

// Name returns the advertised name.
func (d *Device) Name() string { return d.cfg.Name }

// Address returns the device address.
func (d *Device) Address() string { return d.cfg.Address }

// ServiceUUID returns the provisioning service UUID.
func (d *Device) ServiceUUID() string { return d.service }

// Connected reports whether a central is connected.
func (d *Device) Connected() bool {
	d.a.s.mu.Lock()
	defer d.a.s.mu.Unlock()
	return d.connected
}

// Paired reports whether the device is paired.
func (d *Device) Paired() bool {
	d.a.s.mu.Lock()
	defer d.a.s.mu.Unlock()
	return d.paired
}

// Cached reports whether BlueZ holds a Device1 object for the device.
func (d *Device) Cached() bool {
	d.a.s.mu.Lock()
	defer d.a.s.mu.Unlock()
	return d.cached
}

// Connects counts successful Connect calls.
func (d *Device) Connects() int {
	d.a.s.mu.Lock()
	defer d.a.s.mu.Unlock()
	return d.connects
}

// Writes counts characteristic writes that reached protocomm.
func (d *Device) Writes() int {
	d.a.s.mu.Lock()
	defer d.a.s.mu.Unlock()
	return d.writes
}

// Vanish takes the device off the air mid-session: the link drops
// (Connected=false) and BlueZ removes its objects (InterfacesRemoved).
func (d *Device) Vanish() {
	d.a.s.mu.Lock()
	defer d.a.s.mu.Unlock()
	if !d.inRange {
		return
	}
	d.inRange = false
	if d.connected {
		d.drop()
	}
	d.removeObjects()
}

// Appear brings a vanished device back in range.
func (d *Device) Appear() {
	s := d.a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.inRange || s.closed {
		return
	}
	d.inRange = true
	if len(d.a.sessions) > 0 {
		s.after(s.cfg.ScanDelay, func() { d.a.report(d) })
	}
}

// Drop disconnects the link from the device side (as Bluedroid does after a
// protocomm error).
func (d *Device) Drop() {
	d.a.s.mu.Lock()
	defer d.a.s.mu.Unlock()
	if d.connected {
		d.drop()
	}
}

// drop ends the connection and the protocomm session. Call with s.mu held.
func (d *Device) drop() {
	d.connected = false
	d.resolved = false
	d.cfg.Protocomm.CloseSession(d.session)
	d.a.s.setProps(d.path, ifaceDevice, map[string]interface{}{"ServicesResolved": false, "Connected": false})
}

// removeObjects removes the GATT objects and the Device1 object from the
// cache (RemoveDevice or the device vanishing). Call with s.mu held.
func (d *Device) removeObjects() {
	d.cancelPending()
	for i := len(d.gattPaths) - 1; i >= 0; i-- {
		d.a.s.removeObject(d.gattPaths[i])
	}
	d.gattPaths = nil
	d.chars = nil
	d.gatt = false
	if d.cached {
		d.a.s.removeObject(d.path)
	}
	d.cached = false
	d.paired = false
	d.trusted = false
	delete(d.a.devices, d.path)
}

// exportGATT publishes the GATT database the way BlueZ does after service
// discovery: a Generic Attribute service, then the provisioning service with
// one characteristic per endpoint in registration order, each with its
// 0x2901 descriptor. Call with s.mu held.
func (d *Device) exportGATT() {
	s := d.a.s
	d.chars = map[dbus.ObjectPath]*attr{}
	add := func(p dbus.ObjectPath, props map[string]map[string]dbus.Variant, h interface{}) {
		d.gattPaths = append(d.gattPaths, p)
		s.addObject(p, props, h)
	}
	// Generic Attribute service with Service Changed (indicate only).
	gsvc := d.path + "/service0001"
	add(gsvc, map[string]map[string]dbus.Variant{ifaceService: {
		"UUID": dbus.MakeVariant("00001801-0000-1000-8000-00805f9b34fb"), "Device": dbus.MakeVariant(d.path),
		"Primary": dbus.MakeVariant(true), "Includes": dbus.MakeVariant([]dbus.ObjectPath{}),
	}}, nil)
	gch := gsvc + "/char0002"
	d.chars[gch] = &attr{other: true}
	add(gch, map[string]map[string]dbus.Variant{ifaceChar: {
		"UUID": dbus.MakeVariant("00002a05-0000-1000-8000-00805f9b34fb"), "Service": dbus.MakeVariant(gsvc),
		"Value": dbus.MakeVariant([]byte{}), "Notifying": dbus.MakeVariant(false),
		"Flags": dbus.MakeVariant([]string{"indicate"}), "MTU": dbus.MakeVariant(uint16(517)),
	}}, &charHandler{d: d, path: gch})

	svc := d.path + "/service0028"
	add(svc, map[string]map[string]dbus.Variant{ifaceService: {
		"UUID": dbus.MakeVariant(d.service), "Device": dbus.MakeVariant(d.path),
		"Primary": dbus.MakeVariant(true), "Includes": dbus.MakeVariant([]dbus.ObjectPath{}),
	}}, nil)
	names := d.cfg.Protocomm.Endpoints()
	ids := EndpointIDs(names)
	h := 0x29
	for _, name := range names {
		cp := dbus.ObjectPath(fmt.Sprintf("%s/char%04x", svc, h))
		d.chars[cp] = &attr{endpoint: name}
		add(cp, map[string]map[string]dbus.Variant{ifaceChar: {
			"UUID": dbus.MakeVariant(CharUUID(d.service, ids[name])), "Service": dbus.MakeVariant(svc),
			"Value": dbus.MakeVariant([]byte{}), "Notifying": dbus.MakeVariant(false),
			"Flags": dbus.MakeVariant([]string{"read", "write"}), "MTU": dbus.MakeVariant(uint16(517)),
		}}, &charHandler{d: d, path: cp})
		if !d.cfg.NoUserDescriptions {
			dp := dbus.ObjectPath(fmt.Sprintf("%s/desc%04x", cp, h+2))
			d.chars[dp] = &attr{endpoint: name, desc: true}
			add(dp, map[string]map[string]dbus.Variant{ifaceDesc: {
				"UUID": dbus.MakeVariant(UserDescriptionUUID), "Characteristic": dbus.MakeVariant(cp),
				"Value": dbus.MakeVariant([]byte{}), "Flags": dbus.MakeVariant([]string{"read"}),
			}}, &descHandler{d: d, path: dp})
		}
		h += 3
	}
	d.gatt = true
	s.setProps(d.path, ifaceDevice, map[string]interface{}{
		"UUIDs": []string{"00001801-0000-1000-8000-00805f9b34fb", d.service},
	})
}

type deviceHandler struct{ d *Device }

func (h *deviceHandler) Connect() *dbus.Error {
	d := h.d
	s := d.a.s
	s.mu.Lock()
	if !d.cached {
		s.mu.Unlock()
		return unknownObject(d.path)
	}
	if d.pending != nil {
		s.mu.Unlock()
		return bluezErr("Failed", "Operation already in progress")
	}
	if !d.connected && d.inRange && d.a.powered() {
		if d.failed < d.cfg.FailConnects {
			d.failed++
			s.mu.Unlock()
			return bluezErr("Failed", "le-connection-abort-by-local")
		}
		if d.stalled < d.cfg.StallConnects {
			d.stalled++
			cancelled := make(chan struct{})
			d.pending = cancelled
			s.mu.Unlock()
			<-cancelled // Disconnect, or Close
			return bluezErr("Failed", "Cancelled")
		}
	}
	defer s.mu.Unlock()
	return d.connect()
}

// cancelPending ends a stalled Connect. Call with s.mu held.
func (d *Device) cancelPending() bool {
	if d.pending == nil {
		return false
	}
	close(d.pending)
	d.pending = nil
	return true
}

// StalledConnects counts the Connect calls that hung until cancelled.
func (d *Device) StalledConnects() int {
	d.a.s.mu.Lock()
	defer d.a.s.mu.Unlock()
	return d.stalled
}

// connect opens a link. Call with s.mu held.
func (d *Device) connect() *dbus.Error {
	if !d.a.powered() {
		return bluezErr("NotReady", "Resource Not Ready")
	}
	if !d.inRange {
		return bluezErr("Failed", "le-connection-abort-by-local")
	}
	if d.connected {
		return bluezErr("AlreadyConnected", "Already Connected")
	}
	d.connected = true
	d.connSeq++
	d.connects++
	d.session = fmt.Sprintf("%s#%d", d.path, d.connSeq)
	d.a.s.setProps(d.path, ifaceDevice, map[string]interface{}{"Connected": true})
	if !d.gatt {
		d.exportGATT()
	}
	seq := d.connSeq
	d.a.s.after(d.cfg.ResolveDelay, func() {
		if d.connected && d.connSeq == seq {
			d.resolved = true
			d.a.s.setProps(d.path, ifaceDevice, map[string]interface{}{"ServicesResolved": true})
		}
	})
	return nil
}

func (h *deviceHandler) Disconnect() *dbus.Error {
	d := h.d
	d.a.s.mu.Lock()
	defer d.a.s.mu.Unlock()
	if !d.cached {
		return unknownObject(d.path)
	}
	if d.cancelPending() {
		return nil
	}
	if !d.connected {
		return bluezErr("NotConnected", "Not Connected")
	}
	d.drop()
	return nil
}

func (h *deviceHandler) Pair(sender dbus.Sender) *dbus.Error {
	d := h.d
	s := d.a.s
	s.mu.Lock()
	if !d.cached {
		s.mu.Unlock()
		return unknownObject(d.path)
	}
	if d.paired {
		s.mu.Unlock()
		return bluezErr("AlreadyExists", "Already Exists")
	}
	if !d.connected {
		if err := d.connect(); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	agent, ok := s.agents[string(sender)]
	reject, confirm := d.cfg.RejectPairing, d.cfg.ConfirmPairing
	s.mu.Unlock()
	if !ok {
		return bluezErr("AuthenticationFailed", "Authentication Failed")
	}
	// The agent must be alive on the bus (BlueZ talks to it during pairing).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	agentObj := s.conn.Object(string(sender), agent)
	if err := agentObj.CallWithContext(ctx, "org.freedesktop.DBus.Peer.Ping", 0).Err; err != nil {
		return bluezErr("AuthenticationFailed", "Authentication Failed")
	}
	if confirm {
		if err := agentObj.CallWithContext(ctx, "org.bluez.Agent1.RequestConfirmation", 0, d.path, uint32(123456)).Err; err != nil {
			return bluezErr("AuthenticationRejected", "Authentication Rejected")
		}
	}
	if reject {
		return bluezErr("AuthenticationFailed", "Authentication Failed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !d.connected {
		return bluezErr("AuthenticationCanceled", "Authentication Canceled")
	}
	d.paired = true
	s.setProps(d.path, ifaceDevice, map[string]interface{}{"Paired": true})
	return nil
}

func (h *deviceHandler) CancelPairing() *dbus.Error {
	return bluezErr("DoesNotExist", "Does Not Exist")
}

// access checks the link state for an attribute operation. Call with s.mu held.
func (d *Device) access(path dbus.ObjectPath) (*attr, *dbus.Error) {
	a, ok := d.chars[path]
	if !ok {
		return nil, unknownObject(path)
	}
	if !d.connected {
		return nil, bluezErr("Failed", "Not connected")
	}
	if a.other {
		return nil, bluezErr("NotPermitted", "Read not permitted")
	}
	if d.cfg.RequirePairing && !d.paired {
		return nil, bluezErr("NotPermitted", "Insufficient Encryption")
	}
	return a, nil
}

func offsetOption(opts map[string]dbus.Variant) (uint16, *dbus.Error) {
	v, ok := opts["offset"]
	if !ok {
		return 0, nil
	}
	off, ok := v.Value().(uint16)
	if !ok {
		return 0, bluezErr("InvalidArguments", "Invalid arguments in method call")
	}
	return off, nil
}

type charHandler struct {
	d    *Device
	path dbus.ObjectPath
}

func (h *charHandler) ReadValue(opts map[string]dbus.Variant) ([]byte, *dbus.Error) {
	d := h.d
	d.a.s.mu.Lock()
	defer d.a.s.mu.Unlock()
	a, err := d.access(h.path)
	if err != nil {
		return nil, err
	}
	off, err := offsetOption(opts)
	if err != nil {
		return nil, err
	}
	if int(off) > len(a.value) {
		return nil, bluezErr("InvalidOffset", "Invalid offset")
	}
	return append([]byte{}, a.value[off:]...), nil
}

func (h *charHandler) WriteValue(value []byte, opts map[string]dbus.Variant) *dbus.Error {
	d := h.d
	s := d.a.s
	s.mu.Lock()
	a, err := d.access(h.path)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	if t, ok := opts["type"]; ok {
		if ts, _ := t.Value().(string); ts != "request" {
			s.mu.Unlock()
			return bluezErr("NotSupported", "Operation is not supported")
		}
	}
	if off, err := offsetOption(opts); err != nil || off != 0 {
		s.mu.Unlock()
		return bluezErr("NotSupported", "Operation is not supported")
	}
	if len(value) > attMaxValue {
		s.mu.Unlock()
		return bluezErr("InvalidValueLength", "Invalid Length")
	}
	if len(value) > d.cfg.MaxValueLen {
		s.mu.Unlock()
		return bluezErr("Failed", "Operation failed with ATT error: 0x0d")
	}
	session, seq := d.session, d.connSeq
	d.writes++
	pc := d.cfg.Protocomm
	s.mu.Unlock()

	reply, herr := pc.Handle(session, a.endpoint, value)

	s.mu.Lock()
	defer s.mu.Unlock()
	if !d.connected || d.connSeq != seq {
		return bluezErr("Failed", "Not connected")
	}
	if herr != nil {
		// Bluedroid drops the link when a protocomm handler fails.
		d.drop()
		return bluezErr("Failed", "Operation failed: remote device disconnected")
	}
	a.value = append([]byte{}, reply...)
	return nil
}

func (h *charHandler) StartNotify() *dbus.Error {
	return bluezErr("NotSupported", "Operation is not supported")
}

func (h *charHandler) StopNotify() *dbus.Error {
	return bluezErr("Failed", "No notify session started")
}

type descHandler struct {
	d    *Device
	path dbus.ObjectPath
}

func (h *descHandler) ReadValue(opts map[string]dbus.Variant) ([]byte, *dbus.Error) {
	d := h.d
	d.a.s.mu.Lock()
	defer d.a.s.mu.Unlock()
	a, err := d.access(h.path)
	if err != nil {
		return nil, err
	}
	off, err := offsetOption(opts)
	if err != nil {
		return nil, err
	}
	name := []byte(a.endpoint)
	if int(off) > len(name) {
		return nil, bluezErr("InvalidOffset", "Invalid offset")
	}
	return name[off:], nil
}

func (h *descHandler) WriteValue(value []byte, opts map[string]dbus.Variant) *dbus.Error {
	return bluezErr("NotPermitted", "Write not permitted")
}
