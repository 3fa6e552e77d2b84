// Package ble is the BLE GATT transport (protocol.md §8.2): it drives
// BlueZ over D-Bus with github.com/muka/go-bluetooth and godbus.
//
// Open scans for a provisioning device by exact name or name prefix,
// connects, waits for GATT service resolution, maps endpoint names to
// characteristics by reading each characteristic's 0x2901 User Description
// (falling back to the computed UUIDs of old firmware), and pairs when the
// device demands an encrypted link. Exchange writes the request with
// response and reads the same characteristic back.
//
// go-bluetooth's calls take no context and its discovery helper can block
// forever, so every BlueZ method call here goes through the godbus object
// with our deadline (CallWithContext), go-bluetooth constructors run under a
// bounded wait, discovery is our own reference-counted session that is
// stopped on every exit path, and Close disconnects and removes the device
// from BlueZ's cache.
//
// The bus is the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured). go-bluetooth
// caches that connection process-wide; see acquireBus for how a changed
// address is picked up.
package ble

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/muka/go-bluetooth/bluez/profile/adapter"
	"github.com/muka/go-bluetooth/bluez/profile/device"
	"github.com/muka/go-bluetooth/bluez/profile/gatt"

	"github.com/espprov/espprov/transports"
)

// Defaults.
const (
	DefaultAdapter        = "hci0"
	DefaultNamePrefix     = "PROV_"
	DefaultScanTimeout    = 5 * time.Second
	DefaultConnectTimeout = 20 * time.Second
	// MaxMessageSec2 is the per-message budget of firmware built with
	// Security 2 support (CHAR_VAL_LEN_MAX 481 → 480 usable).
	MaxMessageSec2 = 480
	// MaxMessageLegacy is the budget of Security 0/1-only builds.
	MaxMessageLegacy = 256
	// ScanPage is how many Wi-Fi scan results to request per message.
	ScanPage = 4
)

// ErrNoAdapter: the named Bluetooth adapter does not exist (or is off).
var ErrNoAdapter = errors.New("no such Bluetooth adapter")

// PairingError reports that BlueZ could not pair with the device.
type PairingError struct {
	Device string
	Err    error
}

func (e *PairingError) Error() string {
	return "ble: pairing with " + e.Device + " failed: " + e.Err.Error()
}

func (e *PairingError) Unwrap() error { return e.Err }

// DiscoverOptions selects devices to list.
type DiscoverOptions struct {
	// Adapter is the controller name (hci0, hci1, …); default hci0.
	Adapter string
	// Name matches the advertised name exactly (takes precedence).
	Name string
	// NamePrefix matches the advertised name prefix; default PROV_.
	NamePrefix string
	// ServiceUUIDs, when set, also requires the device to advertise one
	// of these service UUIDs.
	ServiceUUIDs []string
	// Timeout is the scan window; default 5 s.
	Timeout time.Duration
}

// Found is a device seen during a scan.
type Found struct {
	Name         string
	Address      string
	RSSI         int16
	ServiceUUIDs []string
}

// Options selects and configures the device to open.
type Options struct {
	// Adapter is the controller name (hci0, hci1, …); default hci0.
	Adapter string
	// Name matches the advertised name exactly (takes precedence).
	Name string
	// NamePrefix matches the first device whose name has this prefix;
	// default PROV_.
	NamePrefix string
	// Address, when set, also requires this device address.
	Address string
	// ServiceUUIDs, when set, also requires one of these advertised UUIDs.
	ServiceUUIDs []string
	// ScanTimeout bounds the search for the device; default 5 s.
	ScanTimeout time.Duration
	// ConnectTimeout bounds connect, service resolution, pairing and
	// endpoint mapping; default 20 s.
	ConnectTimeout time.Duration
	// Pair pairs before touching any attribute (what esp_prov does on
	// Windows). Without it the transport pairs on demand when the device
	// refuses an unencrypted link.
	Pair bool
	// MaxMessage is the per-message size budget; default 480 (Security-2
	// builds). Use 256 for Security 0/1-only firmware.
	MaxMessage int
}

type matcher struct {
	name, prefix, address string
	uuids                 []string
}

func (m matcher) match(name, address string, uuids []string) bool {
	if name == "" {
		return false
	}
	if m.name != "" {
		if name != m.name {
			return false
		}
	} else if !strings.HasPrefix(name, m.prefix) {
		return false
	}
	if m.address != "" && !strings.EqualFold(address, m.address) {
		return false
	}
	if len(m.uuids) > 0 {
		for _, want := range m.uuids {
			for _, u := range uuids {
				if strings.EqualFold(u, want) {
					return true
				}
			}
		}
		return false
	}
	return true
}

func (m matcher) String() string {
	if m.name != "" {
		return fmt.Sprintf("%q", m.name)
	}
	return fmt.Sprintf("with name prefix %q", m.prefix)
}

type seen struct {
	Found
	path dbus.ObjectPath
}

// radio is an adapter resolved on the bus.
type radio struct {
	id   string
	path dbus.ObjectPath
	a    *adapter.Adapter1
	obj  dbus.BusObject
}

func openAdapter(ctx context.Context, conn *dbus.Conn, id string) (*radio, error) {
	objs, err := getManagedObjects(ctx, conn)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ble: adapter %s: %w: %w", id, transports.ErrTimeout, ctx.Err())
		}
		return nil, fmt.Errorf("ble: adapter %s: %w: %w", id, ErrNoAdapter, err)
	}
	path := dbus.ObjectPath("/org/bluez/" + id)
	props, ok := objs[path][ifaceAdapter]
	if !ok || strings.Contains(id, "/") {
		return nil, fmt.Errorf("ble: adapter %s: %w", id, ErrNoAdapter)
	}
	if !propBool(props, "Powered") {
		return nil, fmt.Errorf("ble: adapter %s is powered off: %w", id, ErrNoAdapter)
	}
	a, err := bounded(ctx, func() (*adapter.Adapter1, error) { return adapter.NewAdapter1FromAdapterID(id) })
	if err != nil {
		return nil, fmt.Errorf("ble: adapter %s: %w", id, describe(err))
	}
	obj := a.Client().GetDbusObject()
	if obj == nil {
		obj = conn.Object(bluezName, path)
	}
	return &radio{id: id, path: path, a: a, obj: obj}, nil
}

// Devices opened by a Transport of this process. Open never picks one of
// them: a second connection would break the first one's protocomm session,
// and with a name prefix two concurrent Opens must get different devices.
var (
	claimMu sync.Mutex
	claimed = map[dbus.ObjectPath]bool{}
)

func tryClaim(p dbus.ObjectPath) bool {
	claimMu.Lock()
	defer claimMu.Unlock()
	if claimed[p] {
		return false
	}
	claimed[p] = true
	return true
}

func unclaim(p dbus.ObjectPath) {
	claimMu.Lock()
	defer claimMu.Unlock()
	delete(claimed, p)
}

// scan runs a discovery session on r for window (bounded by ctx) and
// returns the matching devices seen advertising during it. With first it
// returns as soon as one matching device not open in this process is
// found, and claims it for the caller. Discovery is stopped on every path.
func scan(ctx context.Context, conn *dbus.Conn, r *radio, m matcher, window time.Duration, first bool) ([]seen, error) {
	release, err := startDiscovery(ctx, r.obj)
	if err != nil {
		return nil, err
	}
	defer release()
	sctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	tick := time.NewTicker(scanPollInterval)
	defer tick.Stop()
	found := map[string]seen{}
	poll := func(pctx context.Context) error {
		objs, err := getManagedObjects(pctx, conn)
		if err != nil {
			return err
		}
		paths := sortedPaths(objs)
		// Strongest signal first, so that a name prefix picks the nearest.
		rssiOf := func(p dbus.ObjectPath) int16 {
			v, _ := objs[p][ifaceDevice]["RSSI"].Value().(int16)
			return v
		}
		sort.SliceStable(paths, func(i, j int) bool { return rssiOf(paths[i]) > rssiOf(paths[j]) })
		for _, path := range paths {
			p, ok := objs[path][ifaceDevice]
			if !ok || propPath(p, "Adapter") != r.path {
				continue
			}
			// Only devices heard during this discovery carry an RSSI;
			// BlueZ keeps stale devices cached without one.
			rssiV, heard := p["RSSI"]
			if !heard {
				continue
			}
			rssi, _ := rssiV.Value().(int16)
			f := Found{Name: propString(p, "Name"), Address: propString(p, "Address"), RSSI: rssi,
				ServiceUUIDs: propStrings(p, "UUIDs")}
			if !m.match(f.Name, f.Address, f.ServiceUUIDs) {
				continue
			}
			if first {
				if tryClaim(path) {
					found[f.Address] = seen{Found: f, path: path}
					return nil
				}
				continue
			}
			found[f.Address] = seen{Found: f, path: path}
		}
		return nil
	}
	for {
		if err := poll(sctx); err != nil && sctx.Err() == nil {
			return nil, err
		}
		if first && len(found) > 0 {
			break
		}
		select {
		case <-sctx.Done():
		case <-tick.C:
			continue
		}
		// The window is over: one last look (with its own short deadline)
		// so that everything heard before the window closed is reported
		// even when the previous poll was cut off.
		if ctx.Err() == nil {
			fctx, fcancel := context.WithTimeout(ctx, time.Second)
			err := poll(fctx)
			fcancel()
			if err != nil && ctx.Err() == nil {
				return nil, err
			}
		}
		break
	}
	if err := ctx.Err(); err != nil && first {
		for _, s := range found {
			unclaim(s.path)
		}
		return nil, err
	}
	out := make([]seen, 0, len(found))
	for _, s := range found {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].RSSI != out[j].RSSI {
			return out[i].RSSI > out[j].RSSI
		}
		return out[i].Name < out[j].Name
	})
	// A listing cut short by the caller's context keeps what was heard
	// (returned with the context's error).
	return out, ctx.Err()
}

// Discover scans for provisioning devices for opts.Timeout and returns
// those matching the name (or name prefix), strongest signal first. When
// ctx ends first, it returns the devices heard so far with ctx's error.
func Discover(ctx context.Context, opts DiscoverOptions) ([]Found, error) {
	if opts.Adapter == "" {
		opts.Adapter = DefaultAdapter
	}
	if opts.Name == "" && opts.NamePrefix == "" {
		opts.NamePrefix = DefaultNamePrefix
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultScanTimeout
	}
	conn, err := acquireBus(ctx)
	if err != nil {
		return nil, err
	}
	defer releaseBus()
	r, err := openAdapter(ctx, conn, opts.Adapter)
	if err != nil {
		return nil, err
	}
	m := matcher{name: opts.Name, prefix: opts.NamePrefix, uuids: opts.ServiceUUIDs}
	list, err := scan(ctx, conn, r, m, opts.Timeout, false)
	out := make([]Found, len(list))
	for i, s := range list {
		out[i] = s.Found
	}
	if err != nil {
		// With the caller's context over, the devices heard until then
		// come with the error (a window that began late on a loaded host
		// ends after the caller's deadline: listing nothing was wrong).
		return out, fmt.Errorf("ble: discover on %s: %w", r.id, err)
	}
	return out, nil
}

// Transport is an open BLE link to one provisioning device.
type Transport struct {
	name    string
	address string
	conn    *dbus.Conn
	radio   *radio
	devPath dbus.ObjectPath
	dev     *device.Device1
	devObj  dbus.BusObject
	maxMsg  int

	mu     sync.Mutex // one Exchange at a time
	chars  map[string]*gatt.GattCharacteristic1
	paired bool
	lost   atomic.Bool

	agentHeld atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var (
	_ transports.Transport = (*Transport)(nil)
	_ transports.Limits    = (*Transport)(nil)
)

// Open finds the device, connects and prepares the endpoint map.
func Open(ctx context.Context, opts Options) (*Transport, error) {
	if opts.Adapter == "" {
		opts.Adapter = DefaultAdapter
	}
	if opts.Name == "" && opts.NamePrefix == "" {
		opts.NamePrefix = DefaultNamePrefix
	}
	if opts.ScanTimeout <= 0 {
		opts.ScanTimeout = DefaultScanTimeout
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = defaultConnectTimeout()
	}
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = MaxMessageSec2
	}
	conn, err := acquireBus(ctx)
	if err != nil {
		return nil, err
	}
	r, err := openAdapter(ctx, conn, opts.Adapter)
	if err != nil {
		releaseBus()
		return nil, err
	}
	m := matcher{name: opts.Name, prefix: opts.NamePrefix, address: opts.Address, uuids: opts.ServiceUUIDs}
	list, err := scan(ctx, conn, r, m, opts.ScanTimeout, true)
	if err != nil {
		releaseBus()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ble: looking for device %s on %s: %w: %w", m, r.id, transports.ErrUnreachable, ctx.Err())
		}
		return nil, fmt.Errorf("ble: looking for device %s on %s: %w", m, r.id, err)
	}
	if len(list) == 0 {
		releaseBus()
		return nil, fmt.Errorf("ble: device %s not found on %s within %v: %w", m, r.id, opts.ScanTimeout, transports.ErrUnreachable)
	}
	t := &Transport{
		name:    list[0].Name,
		address: list[0].Address,
		conn:    conn,
		radio:   r,
		devPath: list[0].path,
		devObj:  conn.Object(bluezName, list[0].path),
		maxMsg:  opts.MaxMessage,
	}
	cctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	if err := t.setup(cctx, opts); err != nil {
		_ = t.Close()
		return nil, err
	}
	return t, nil
}

// ConnectTimeoutEnv overrides DefaultConnectTimeout for every Open that
// sets no ConnectTimeout (a Go duration such as 60s): for stations whose
// adapters or hosts are much slower than a phone (the BLE rig's emulated
// controllers on a loaded machine resolve services 20–50 times slower).
const ConnectTimeoutEnv = "ESPPROV_BLE_CONNECT_TIMEOUT"

func defaultConnectTimeout() time.Duration {
	if v := os.Getenv(ConnectTimeoutEnv); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			return d
		}
	}
	return DefaultConnectTimeout
}

// Name returns the device's advertised name.
func (t *Transport) Name() string { return t.name }

// Address returns the device address.
func (t *Transport) Address() string { return t.address }

// Adapter returns the adapter the device is connected through.
func (t *Transport) Adapter() string { return t.radio.id }

// MaxMessage implements transports.Limits.
func (t *Transport) MaxMessage() int { return t.maxMsg }

// ScanPageSize implements transports.Limits (esp_prov fetches 4 per request).
func (t *Transport) ScanPageSize() int { return ScanPage }

// Endpoints lists the mapped endpoint names, sorted.
func (t *Transport) Endpoints() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.chars))
	for n := range t.chars {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (t *Transport) String() string {
	return fmt.Sprintf("ble:%s/%s(%s)", t.radio.id, t.name, t.address)
}

func (t *Transport) unreachable(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("ble: %s %s: %w: %w", what, t.name, transports.ErrUnreachable, ctx.Err())
	}
	return fmt.Errorf("ble: %s %s: %w: %w", what, t.name, transports.ErrUnreachable, describe(err))
}

func (t *Transport) setup(ctx context.Context, opts Options) error {
	dev, err := bounded(ctx, func() (*device.Device1, error) { return device.NewDevice1(t.devPath) })
	if err != nil {
		return t.unreachable(ctx, "load device", err)
	}
	t.dev = dev
	if obj := dev.Client().GetDbusObject(); obj != nil {
		t.devObj = obj
	}
	if err := t.connect(ctx); err != nil {
		return err
	}
	if err := t.waitResolved(ctx); err != nil {
		return err
	}
	if opts.Pair {
		if err := t.pair(ctx); err != nil {
			return err
		}
	}
	return t.mapEndpoints(ctx)
}

// connectAttempt bounds one LE connection attempt. BlueZ connects to an
// LE device once the controller hears one of its advertisements (the kernel
// scans for it, with a 20 s limit of its own); an attempt that hears none in
// this time is cancelled and made again. A variable for tests.
var connectAttempt = 5 * time.Second

// connectRetryPause separates a failed attempt from the next one.
const connectRetryPause = 200 * time.Millisecond

// connect opens the LE link, in attempts, until ctx ends. An attempt ends
// without a link when the controller could not establish it
// (le-connection-abort-by-local: HCI "Connection Failed to be Established",
// frequent on real radios, or the device stopped advertising for a moment)
// or when no advertisement of the device was heard within connectAttempt
// (one missed, a device that re-advertises seldom, a stuck attempt).
// Device1.Disconnect cancels a pending attempt in bluetoothd, which would
// otherwise refuse the next Connect ("Operation already in progress").
func (t *Transport) connect(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, connectAttempt)
		err := t.devObj.CallWithContext(actx, ifaceDevice+".Connect", 0).Err
		stalled := actx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil || errName(err) == "org.bluez.Error.AlreadyConnected" {
			return nil
		}
		if ctx.Err() != nil || gone(err) || errName(err) == "org.bluez.Error.NotReady" {
			return t.unreachable(ctx, fmt.Sprintf("connect (attempt %d) to", attempt), err)
		}
		if stalled || errName(err) == "org.bluez.Error.InProgress" || strings.Contains(err.Error(), "already in progress") {
			// Cancel bluetoothd's pending attempt (bounded by ctx: Close
			// disconnects anyway).
			dctx, dcancel := context.WithTimeout(ctx, cleanupTimeout)
			_ = t.devObj.CallWithContext(dctx, ifaceDevice+".Disconnect", 0).Err
			dcancel()
			continue
		}
		select {
		case <-time.After(connectRetryPause):
		case <-ctx.Done():
			return t.unreachable(ctx, fmt.Sprintf("connect (attempt %d) to", attempt), err)
		}
	}
}

func (t *Transport) deviceProps(ctx context.Context) (map[string]dbus.Variant, error) {
	var props map[string]dbus.Variant
	err := t.devObj.CallWithContext(ctx, ifaceProps+".GetAll", 0, ifaceDevice).Store(&props)
	return props, err
}

func (t *Transport) waitResolved(ctx context.Context) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		props, err := t.deviceProps(ctx)
		if err != nil {
			return t.unreachable(ctx, "wait for services of", err)
		}
		if !propBool(props, "Connected") {
			return fmt.Errorf("ble: %s disconnected while resolving services: %w", t.name, transports.ErrUnreachable)
		}
		if propBool(props, "ServicesResolved") {
			t.paired = propBool(props, "Paired")
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("ble: services of %s not resolved: %w: %w", t.name, transports.ErrUnreachable, ctx.Err())
		}
	}
}

// pair pairs with the device through a NoInputNoOutput agent.
func (t *Transport) pair(ctx context.Context) error {
	if t.paired {
		return nil
	}
	if !t.agentHeld.Load() {
		if err := acquireAgent(ctx, t.conn); err != nil {
			return &PairingError{Device: t.name, Err: err}
		}
		t.agentHeld.Store(true)
	}
	done := theAgent.allow(t.devPath)
	defer done()
	err := t.devObj.CallWithContext(ctx, ifaceDevice+".Pair", 0).Err
	if err != nil && errName(err) != "org.bluez.Error.AlreadyExists" {
		if ctx.Err() != nil {
			return &PairingError{Device: t.name, Err: fmt.Errorf("%w: %w", transports.ErrTimeout, ctx.Err())}
		}
		return &PairingError{Device: t.name, Err: describe(err)}
	}
	t.paired = true
	// Trust the device so a reconnect does not need the agent (best effort).
	_ = t.devObj.CallWithContext(ctx, ifaceProps+".Set", 0, ifaceDevice, "Trusted", dbus.MakeVariant(true)).Err
	return nil
}

// Endpoint 16-bit ids (protocol.md §3), used by the fallback for firmware
// without 0x2901 descriptors.
var endpointIDs = []struct {
	name string
	id   uint16
}{
	{"prov-ctrl", 0xFF4F}, {"prov-scan", 0xFF50}, {"prov-session", 0xFF51},
	{"prov-config", 0xFF52}, {"proto-ver", 0xFF53},
}

// charUUID puts an endpoint id into characters 4–7 of a service UUID.
func charUUID(service string, id uint16) string {
	s := strings.ToLower(service)
	if len(s) != 36 {
		return ""
	}
	return fmt.Sprintf("%s%04x%s", s[:4], id, s[8:])
}

// isSIGService reports 16-bit SIG services (Generic Access, GATT, …) in the
// Bluetooth base UUID, except the legacy provisioning service 0xFFFF.
func isSIGService(u string) bool {
	u = strings.ToLower(u)
	return strings.HasPrefix(u, "0000") && strings.HasSuffix(u, "-0000-1000-8000-00805f9b34fb") && u != legacyService
}

// mapEndpoints builds endpoint name → characteristic from the 0x2901
// descriptors, then fills the essential endpoints of old firmware from
// computed UUIDs.
func (t *Transport) mapEndpoints(ctx context.Context) error {
	objs, err := getManagedObjects(ctx, t.conn)
	if err != nil {
		return t.unreachable(ctx, "list services of", err)
	}
	names, err := endpointMap(objs, t.devPath, func(dp dbus.ObjectPath) (string, error) {
		return t.readDescriptor(ctx, dp)
	})
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("ble: %s has no protocomm characteristics: %w", t.name, transports.ErrNoEndpoint)
	}
	t.chars = make(map[string]*gatt.GattCharacteristic1, len(names))
	for name, cp := range names {
		ch, err := bounded(ctx, func() (*gatt.GattCharacteristic1, error) { return gatt.NewGattCharacteristic1(cp) })
		if err != nil {
			return t.unreachable(ctx, "load characteristic "+name+" of", err)
		}
		t.chars[name] = ch
	}
	return nil
}

// endpointMap maps endpoint names to the characteristics of the device at
// devPath in BlueZ's copy of its GATT database (which the device controls:
// UUIDs, descriptors and their values), reading each 0x2901 descriptor with
// readName. It only fails when readName does.
func endpointMap(objs managedObjects, devPath dbus.ObjectPath, readName func(dbus.ObjectPath) (string, error)) (map[string]dbus.ObjectPath, error) {
	prefix := string(devPath) + "/"
	services := map[dbus.ObjectPath]string{}
	chars := map[dbus.ObjectPath]map[string]dbus.Variant{}
	descs := map[dbus.ObjectPath]dbus.ObjectPath{} // 0x2901 descriptor → characteristic
	for path, ifaces := range objs {
		if !strings.HasPrefix(string(path), prefix) {
			continue
		}
		if p, ok := ifaces[ifaceService]; ok {
			services[path] = strings.ToLower(propString(p, "UUID"))
		}
		if p, ok := ifaces[ifaceChar]; ok {
			chars[path] = p
		}
		if p, ok := ifaces[ifaceDesc]; ok && strings.EqualFold(propString(p, "UUID"), userDescUUID) {
			descs[path] = propPath(p, "Characteristic")
		}
	}
	names := map[string]dbus.ObjectPath{}
	for _, dp := range sortedPaths(descs) {
		cp := descs[dp]
		if _, ok := chars[cp]; !ok || isSIGService(services[propPath(chars[cp], "Service")]) {
			continue
		}
		name, err := readName(dp)
		if err != nil {
			return nil, err
		}
		if name == "" {
			continue
		}
		if _, dup := names[name]; !dup {
			names[name] = cp
		}
	}
	if names["prov-session"] == "" || names["prov-config"] == "" || names["proto-ver"] == "" {
		// Old firmware: no descriptors. The characteristic UUID is the
		// service UUID with the endpoint id in characters 4–7; esp_prov
		// and the RainMaker CLI also try the legacy 0000ffff service.
		byUUID := map[string]dbus.ObjectPath{}
		for _, cp := range sortedPaths(chars) {
			u := strings.ToLower(propString(chars[cp], "UUID"))
			if _, dup := byUUID[u]; !dup {
				byUUID[u] = cp
			}
		}
		candidates := []string{}
		for _, sp := range sortedPaths(services) {
			if u := services[sp]; !isSIGService(u) {
				candidates = append(candidates, u)
			}
		}
		candidates = append(candidates, legacyService)
		for _, ep := range endpointIDs {
			if names[ep.name] != "" {
				continue
			}
			for _, svc := range candidates {
				if cp, ok := byUUID[charUUID(svc, ep.id)]; ok {
					names[ep.name] = cp
					break
				}
			}
		}
	}
	return names, nil
}

// descriptorName is an endpoint name as read from a 0x2901 descriptor
// (firmware pads some with NULs).
func descriptorName(v []byte) string { return strings.TrimRight(string(v), "\x00") }

func (t *Transport) readDescriptor(ctx context.Context, path dbus.ObjectPath) (string, error) {
	d, err := bounded(ctx, func() (*gatt.GattDescriptor1, error) { return gatt.NewGattDescriptor1(path) })
	if err != nil {
		return "", t.unreachable(ctx, "load descriptor of", err)
	}
	obj := d.Client().GetDbusObject()
	if obj == nil {
		obj = t.conn.Object(bluezName, path)
	}
	for attempt := 0; ; attempt++ {
		var v []byte
		err = obj.CallWithContext(ctx, ifaceDesc+".ReadValue", 0, map[string]dbus.Variant{}).Store(&v)
		if err == nil {
			return descriptorName(v), nil
		}
		if attempt == 0 && !t.paired && needsPairing(err) {
			if perr := t.pair(ctx); perr != nil {
				return "", perr
			}
			continue
		}
		return "", t.unreachable(ctx, "read endpoint name of", err)
	}
}

// Exchange writes request to the endpoint's characteristic (write with
// response) and reads the reply from the same characteristic.
func (t *Transport) Exchange(ctx context.Context, endpoint string, request []byte) ([]byte, error) {
	if len(request) > t.maxMsg {
		return nil, fmt.Errorf("ble: %s request of %d bytes exceeds %d: %w", endpoint, len(request), t.maxMsg, transports.ErrTooLarge)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return nil, fmt.Errorf("ble: %s: transport closed: %w", endpoint, transports.ErrClosed)
	}
	if t.lost.Load() {
		return nil, fmt.Errorf("ble: %s: link to %s lost: %w", endpoint, t.name, transports.ErrClosed)
	}
	ch, ok := t.chars[endpoint]
	if !ok {
		return nil, fmt.Errorf("ble: %s on %s: %w", endpoint, t.name, transports.ErrNoEndpoint)
	}
	obj := ch.Client().GetDbusObject()
	if obj == nil {
		obj = t.conn.Object(bluezName, ch.Path())
	}
	opts := map[string]dbus.Variant{"type": dbus.MakeVariant("request")}
	for attempt := 0; ; attempt++ {
		err := obj.CallWithContext(ctx, ifaceChar+".WriteValue", 0, request, opts).Err
		if err == nil {
			break
		}
		if attempt == 0 && !t.paired && needsPairing(err) && ctx.Err() == nil {
			if perr := t.pair(ctx); perr != nil {
				return nil, perr
			}
			continue
		}
		return nil, t.exchangeError(ctx, "write", endpoint, err)
	}
	var reply []byte
	if err := obj.CallWithContext(ctx, ifaceChar+".ReadValue", 0, map[string]dbus.Variant{}).Store(&reply); err != nil {
		return nil, t.exchangeError(ctx, "read", endpoint, err)
	}
	return reply, nil
}

func (t *Transport) exchangeError(ctx context.Context, op, endpoint string, err error) error {
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("ble: %s %s on %s: %w: %w", op, endpoint, t.name, transports.ErrTimeout, ctx.Err())
		}
		return fmt.Errorf("ble: %s %s on %s: %w", op, endpoint, t.name, ctx.Err())
	}
	if errName(err) == "org.bluez.Error.InvalidValueLength" {
		return fmt.Errorf("ble: %s %s on %s: %w: %w", op, endpoint, t.name, transports.ErrTooLarge, describe(err))
	}
	if t.closed.Load() {
		return fmt.Errorf("ble: %s %s: transport closed: %w", op, endpoint, transports.ErrClosed)
	}
	// Protocomm drops the link when a request fails; find out whether it
	// did so that later exchanges fail fast.
	cctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	props, perr := t.deviceProps(cctx)
	if perr != nil || !propBool(props, "Connected") {
		t.lost.Store(true)
		return fmt.Errorf("ble: %s %s: %s dropped the link: %w: %w", op, endpoint, t.name, transports.ErrClosed, describe(err))
	}
	return fmt.Errorf("ble: %s %s on %s: %w: %w", op, endpoint, t.name, transports.ErrClosed, describe(err))
}

// Close disconnects and removes the device from BlueZ's cache (which also
// purges its cached GATT database). It is idempotent and bounded in time.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
		defer cancel()
		var errs []error
		if err := t.devObj.CallWithContext(ctx, ifaceDevice+".Disconnect", 0).Err; err != nil &&
			!gone(err) && errName(err) != "org.bluez.Error.NotConnected" {
			errs = append(errs, fmt.Errorf("disconnect: %w", describe(err)))
		}
		if err := t.radio.obj.CallWithContext(ctx, ifaceAdapter+".RemoveDevice", 0, t.devPath).Err; err != nil && !gone(err) {
			errs = append(errs, fmt.Errorf("remove device: %w", describe(err)))
		}
		if t.agentHeld.Swap(false) {
			releaseAgent()
		}
		unclaim(t.devPath)
		releaseBus()
		if len(errs) > 0 {
			t.closeErr = fmt.Errorf("ble: close %s: %w", t.name, errors.Join(errs...))
		}
	})
	return t.closeErr
}
