// Package peripheral serves a simulated provisioning device as a real BLE
// peripheral through BlueZ (bluetoothd 5.5x+): the protocomm GATT service is
// registered with org.bluez.GattManager1 and the device advertises through
// org.bluez.LEAdvertisingManager1, on any local adapter. Phones, esp_prov and
// espprov then provision the simulated device over real radio (or over
// emulated controllers, see Config.ReadvertiseFor).
//
// The GATT layout is the firmware's (protocol.md §8.2, ESP-IDF
// protocomm_ble): one primary 128-bit service; one Read|Write characteristic
// per endpoint in registration order, its UUID the service UUID with the
// endpoint's 16-bit id in characters 4–7 (prov-ctrl 0xFF4F … proto-ver
// 0xFF53, application endpoints 0xFF54 upward); a 0x2901 User Description
// descriptor holding the endpoint name. Config.Legacy serves the layout of old
// firmware instead: the 0000ffff service and no descriptors.
//
// The peripheral is a transport adapter: it knows bytes and endpoint names and
// hands every exchange to a device.Protocomm. A write (BlueZ reassembles long
// writes, Prepare + Execute, into one WriteValue) is one protocomm request; its
// reply becomes the characteristic value, which the central reads back (long
// reads arrive as ReadValue calls at increasing offsets). Values are limited to
// the firmware's CHAR_VAL_LEN_MAX. A failed exchange is answered with an
// ATT error (NimBLE's behaviour); a disconnect ends the protocomm session.
package peripheral

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/espprov/espprov/internal/sim/bluez"
	"github.com/espprov/espprov/internal/sim/device"
)

// BlueZ names.
const (
	bluezName        = "org.bluez"
	ifaceProps       = "org.freedesktop.DBus.Properties"
	ifaceObjectMgr   = "org.freedesktop.DBus.ObjectManager"
	ifaceAdapter     = "org.bluez.Adapter1"
	ifaceDevice      = "org.bluez.Device1"
	ifaceGattManager = "org.bluez.GattManager1"
	ifaceAdvManager  = "org.bluez.LEAdvertisingManager1"
	ifaceService     = "org.bluez.GattService1"
	ifaceChar        = "org.bluez.GattCharacteristic1"
	ifaceDesc        = "org.bluez.GattDescriptor1"
	ifaceAdv         = "org.bluez.LEAdvertisement1"
)

// Defaults.
const (
	// DefaultServiceUUID is the service of the ESP-IDF provisioning
	// examples (and RainMaker apps), the one esp_prov falls back to.
	DefaultServiceUUID = bluez.DefaultServiceUUID
	// LegacyServiceUUID is old firmware's service, without descriptors.
	LegacyServiceUUID = bluez.LegacyServiceUUID
	// DefaultMaxValueLen is CHAR_VAL_LEN_MAX of firmware built with
	// Security 2 support; Security 0/1-only builds use 257.
	DefaultMaxValueLen = bluez.DefaultMaxValueLen
	userDescUUID       = bluez.UserDescriptionUUID
	callTimeout        = 10 * time.Second
	// readvertiseEvery paces Config.ReadvertiseFor while a scanner discovers.
	readvertiseEvery = time.Second
)

// Config configures a Peripheral.
type Config struct {
	// Adapter is the local controller (hci0, hci1, …).
	Adapter string
	// Name is the advertised complete local name (PROV_xxxxxx), also set
	// as the adapter's alias (the GAP device name, as on the firmware).
	Name string
	// ServiceUUID is the 128-bit provisioning service (default
	// DefaultServiceUUID; LegacyServiceUUID with Legacy).
	ServiceUUID string
	// Legacy serves old firmware's layout: no 0x2901 descriptors (and the
	// 0000ffff service unless ServiceUUID is set).
	Legacy bool
	// MaxValueLen is the longest request the device reassembles (default
	// 481).
	MaxValueLen int
	// Protocomm answers the exchanges (required).
	Protocomm device.Protocomm
	// ReadvertiseFor lists local adapters acting as centrals on emulated
	// controllers (btvirt). Those controllers deliver an advertising report
	// only when advertising or scanning is switched on, and the kernel drops
	// a report that arrives before its discovery is fully started, so a
	// scan can miss a device that advertises continuously. With this set,
	// the advertisement is re-registered whenever one of these adapters
	// starts discovering (BlueZ's Discovering turns true only once the
	// kernel accepts reports), and every second while one discovers, which
	// is what a real controller's periodic advertising gives; never while a
	// central is linked. Leave empty on real radios.
	ReadvertiseFor []string
	// Conn is the system bus connection to use; default a private
	// connection to the system bus, closed by Close.
	Conn *dbus.Conn
}

// Stats counts the GATT operations the peripheral served.
type Stats struct {
	// Writes counts WriteValue calls (one per request: BlueZ reassembles
	// long writes).
	Writes int
	// LongWrites counts writes longer than the ATT MTU allows in one
	// Write Request (sent as Prepare Write + Execute Write).
	LongWrites int
	// Reads counts characteristic ReadValue calls, one per ATT Read or
	// Read Blob request.
	Reads int
	// BlobReads counts the reads at a non-zero offset (Read Blob).
	BlobReads int
	// DescReads counts 0x2901 descriptor reads.
	DescReads int
	// Exchanges counts protocomm requests handled, Failures those that
	// failed (and dropped the link).
	Exchanges, Failures int
	// MTU is the largest ATT MTU BlueZ reported for a link.
	MTU int
	// Connects counts links seen (distinct protocomm sessions).
	Connects int
}

// Peripheral is a registered GATT application and advertisement.
type Peripheral struct {
	cfg       Config
	conn      *dbus.Conn
	ownConn   bool
	adapter   dbus.BusObject
	root      dbus.ObjectPath
	advPath   dbus.ObjectPath
	chars     []*characteristic
	objects   map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	oldAlias  string
	signals   chan *dbus.Signal
	done      chan struct{}
	wg        sync.WaitGroup
	advMu     sync.Mutex // serialises (re-)registration of the advertisement
	advActive bool

	mu       sync.Mutex
	sessions map[dbus.ObjectPath]string // connected central → protocomm session
	centrals []string                   // addresses of the centrals seen, in order
	links    map[dbus.ObjectPath]bool   // centrals linked now (Device1.Connected)
	seq      int
	stats    Stats
	closed   atomic.Bool
	closeErr error
	once     sync.Once
}

type characteristic struct {
	p        *Peripheral
	endpoint string
	uuid     string
	path     dbus.ObjectPath
	mu       sync.Mutex
	value    []byte
}

var appSeq atomic.Int64

// Start registers the GATT application and the advertisement on
// cfg.Adapter. The adapter is powered on if it is not.
func Start(ctx context.Context, cfg Config) (*Peripheral, error) {
	if cfg.Protocomm == nil {
		return nil, errors.New("peripheral: Config.Protocomm is required")
	}
	if cfg.Adapter == "" || strings.Contains(cfg.Adapter, "/") {
		return nil, fmt.Errorf("peripheral: bad adapter name %q", cfg.Adapter)
	}
	if cfg.Name == "" {
		return nil, errors.New("peripheral: Config.Name is required")
	}
	if len(cfg.Name) > 29 {
		return nil, fmt.Errorf("peripheral: name %q is longer than the 29 bytes an advertisement carries", cfg.Name)
	}
	if cfg.ServiceUUID == "" {
		cfg.ServiceUUID = DefaultServiceUUID
		if cfg.Legacy {
			cfg.ServiceUUID = LegacyServiceUUID
		}
	}
	cfg.ServiceUUID = strings.ToLower(cfg.ServiceUUID)
	if !validUUID(cfg.ServiceUUID) {
		return nil, fmt.Errorf("peripheral: service UUID %q is not a 128-bit UUID", cfg.ServiceUUID)
	}
	if cfg.MaxValueLen <= 0 {
		cfg.MaxValueLen = DefaultMaxValueLen
	}
	p := &Peripheral{
		cfg:      cfg,
		conn:     cfg.Conn,
		objects:  map[dbus.ObjectPath]map[string]map[string]dbus.Variant{},
		sessions: map[dbus.ObjectPath]string{},
		links:    map[dbus.ObjectPath]bool{},
		done:     make(chan struct{}),
	}
	if p.conn == nil {
		c, err := dbus.ConnectSystemBus() // not WithContext: that would end the connection with ctx
		if err != nil {
			return nil, fmt.Errorf("peripheral: connect to the system bus: %w", err)
		}
		p.conn, p.ownConn = c, true
	}
	p.adapter = p.conn.Object(bluezName, dbus.ObjectPath("/org/bluez/"+cfg.Adapter))
	p.root = dbus.ObjectPath(fmt.Sprintf("/com/github/espprov/sim/%s/app%d", cfg.Adapter, appSeq.Add(1)))
	p.advPath = p.root + "/adv"
	if err := p.start(ctx); err != nil {
		_ = p.Close()
		return nil, err
	}
	return p, nil
}

func validUUID(u string) bool {
	if len(u) != 36 {
		return false
	}
	for i, c := range u {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
	}
	return true
}

func (p *Peripheral) start(ctx context.Context) error {
	var alias string
	if err := p.adapter.CallWithContext(ctx, ifaceProps+".Get", 0, ifaceAdapter, "Alias").Store(&alias); err != nil {
		return fmt.Errorf("peripheral: adapter %s: %w", p.cfg.Adapter, err)
	}
	p.oldAlias = alias
	if err := p.setAdapter(ctx, "Powered", true); err != nil {
		return err
	}
	if err := p.setAdapter(ctx, "Alias", p.cfg.Name); err != nil {
		return err
	}
	p.export()
	if err := p.watch(); err != nil {
		return err
	}
	opts := map[string]dbus.Variant{}
	if err := p.adapter.CallWithContext(ctx, ifaceGattManager+".RegisterApplication", 0, p.root, opts).Err; err != nil {
		return fmt.Errorf("peripheral: register GATT application on %s: %w", p.cfg.Adapter, err)
	}
	if err := p.advertise(ctx); err != nil {
		return err
	}
	return nil
}

func (p *Peripheral) setAdapter(ctx context.Context, prop string, v any) error {
	err := p.adapter.CallWithContext(ctx, ifaceProps+".Set", 0, ifaceAdapter, prop, dbus.MakeVariant(v)).Err
	if err != nil {
		return fmt.Errorf("peripheral: set %s of %s: %w", prop, p.cfg.Adapter, err)
	}
	return nil
}

// export puts the whole object tree on the bus before BlueZ is told about it.
func (p *Peripheral) export() {
	svcPath := p.root + "/service0"
	p.objects[svcPath] = map[string]map[string]dbus.Variant{ifaceService: {
		"UUID":     dbus.MakeVariant(p.cfg.ServiceUUID),
		"Primary":  dbus.MakeVariant(true),
		"Includes": dbus.MakeVariant([]dbus.ObjectPath{}),
	}}
	names := p.cfg.Protocomm.Endpoints()
	ids := bluez.EndpointIDs(names)
	for i, name := range names {
		c := &characteristic{p: p, endpoint: name, uuid: bluez.CharUUID(p.cfg.ServiceUUID, ids[name]),
			path: dbus.ObjectPath(fmt.Sprintf("%s/char%d", svcPath, i))}
		p.chars = append(p.chars, c)
		p.objects[c.path] = map[string]map[string]dbus.Variant{ifaceChar: {
			"UUID":    dbus.MakeVariant(c.uuid),
			"Service": dbus.MakeVariant(svcPath),
			"Flags":   dbus.MakeVariant([]string{"read", "write"}),
		}}
		_ = p.conn.Export(c, c.path, ifaceChar)
		_ = p.conn.Export(props{p, c.path}, c.path, ifaceProps)
		if !p.cfg.Legacy {
			dp := c.path + "/desc0"
			p.objects[dp] = map[string]map[string]dbus.Variant{ifaceDesc: {
				"UUID":           dbus.MakeVariant(userDescUUID),
				"Characteristic": dbus.MakeVariant(c.path),
				"Flags":          dbus.MakeVariant([]string{"read"}),
			}}
			_ = p.conn.Export(&userDescription{c}, dp, ifaceDesc)
			_ = p.conn.Export(props{p, dp}, dp, ifaceProps)
		}
	}
	_ = p.conn.Export(props{p, svcPath}, svcPath, ifaceProps)
	_ = p.conn.Export(objectManager{p}, p.root, ifaceObjectMgr)

	adv := map[string]map[string]dbus.Variant{ifaceAdv: {
		"Type":         dbus.MakeVariant("peripheral"),
		"ServiceUUIDs": dbus.MakeVariant([]string{p.cfg.ServiceUUID}),
		"LocalName":    dbus.MakeVariant(p.cfg.Name),
	}}
	p.objects[p.advPath] = adv
	_ = p.conn.Export(advertisement{}, p.advPath, ifaceAdv)
	_ = p.conn.Export(props{p, p.advPath}, p.advPath, ifaceProps)
}

func (p *Peripheral) unexport() {
	for path, ifaces := range p.objects {
		for iface := range ifaces {
			_ = p.conn.Export(nil, path, iface)
		}
		_ = p.conn.Export(nil, path, ifaceProps)
	}
	_ = p.conn.Export(nil, p.root, ifaceObjectMgr)
}

// advertise registers the advertisement (the caller holds no lock).
func (p *Peripheral) advertise(ctx context.Context) error {
	p.advMu.Lock()
	defer p.advMu.Unlock()
	// Closed, or registered already (a re-advertisement from the watch
	// goroutine may come first while Start is still running).
	if p.closed.Load() || p.advActive {
		return nil
	}
	err := p.adapter.CallWithContext(ctx, ifaceAdvManager+".RegisterAdvertisement", 0, p.advPath, map[string]dbus.Variant{}).Err
	if err != nil {
		return fmt.Errorf("peripheral: register advertisement on %s: %w", p.cfg.Adapter, err)
	}
	p.advActive = true
	return nil
}

// Readvertise switches advertising off and on again, which makes emulated
// controllers report the advertisement to every scanning controller.
// It does nothing while a central is connected (the firmware does not
// advertise then either).
func (p *Peripheral) Readvertise(ctx context.Context) error {
	if p.connected() {
		return nil
	}
	p.advMu.Lock()
	if p.advActive {
		_ = p.adapter.CallWithContext(ctx, ifaceAdvManager+".UnregisterAdvertisement", 0, p.advPath).Err
		p.advActive = false
	}
	p.advMu.Unlock()
	return p.advertise(ctx)
}

// connected reports a central linked to this device (from the link's
// start, before its first exchange).
func (p *Peripheral) connected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sessions) > 0 || len(p.links) > 0
}

func (p *Peripheral) setLink(dev dbus.ObjectPath, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on {
		p.links[dev] = true
	} else {
		delete(p.links, dev)
	}
}

// watch follows link state on our adapter (disconnect ends the protocomm
// session) and, for ReadvertiseFor, discovery state of the scanning adapters.
func (p *Peripheral) watch() error {
	ns := dbus.ObjectPath("/org/bluez")
	if err := p.conn.AddMatchSignal(dbus.WithMatchInterface(ifaceProps), dbus.WithMatchMember("PropertiesChanged"),
		dbus.WithMatchPathNamespace(ns)); err != nil {
		return fmt.Errorf("peripheral: watch BlueZ: %w", err)
	}
	p.signals = make(chan *dbus.Signal, 64)
	p.conn.Signal(p.signals)
	scanners := map[dbus.ObjectPath]bool{}
	for _, a := range p.cfg.ReadvertiseFor {
		scanners[dbus.ObjectPath("/org/bluez/"+a)] = true
	}
	own := string(p.adapter.Path()) + "/"
	kick := make(chan struct{}, 1)
	sendKick := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	// Which scanners are discovering now: a discovery that started before
	// this peripheral, or whose start edge was missed, is covered by the
	// periodic re-advertising below.
	discovering := map[dbus.ObjectPath]bool{}
	for path := range scanners {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		var on bool
		if err := p.conn.Object(bluezName, path).CallWithContext(ctx, ifaceProps+".Get", 0, ifaceAdapter, "Discovering").Store(&on); err == nil {
			discovering[path] = on
		}
		cancel()
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		// While a scanner discovers, advertising is switched on again every
		// readvertiseEvery: a real controller advertises every 160 ms, an
		// emulated one reports only when advertising is switched on.
		tick := time.NewTicker(readvertiseEvery)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-tick.C:
				for _, on := range discovering {
					if on {
						sendKick()
						break
					}
				}
			case sig := <-p.signals:
				if sig == nil || sig.Name != ifaceProps+".PropertiesChanged" || len(sig.Body) < 2 {
					continue
				}
				iface, _ := sig.Body[0].(string)
				changed, _ := sig.Body[1].(map[string]dbus.Variant)
				switch {
				case iface == ifaceDevice && strings.HasPrefix(string(sig.Path), own):
					if c, ok := changed["Connected"]; ok {
						on, _ := c.Value().(bool)
						p.setLink(sig.Path, on)
						if !on {
							p.endSession(sig.Path)
						}
					}
				case iface == ifaceAdapter && scanners[sig.Path]:
					if d, ok := changed["Discovering"]; ok {
						on, _ := d.Value().(bool)
						discovering[sig.Path] = on
						if on {
							sendKick()
						}
					}
				}
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		for {
			select {
			case <-p.done:
				return
			case <-kick:
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				_ = p.Readvertise(ctx)
				cancel()
			}
		}
	}()
	return nil
}

// session returns the protocomm session of the central at dev, starting one
// for a new link.
func (p *Peripheral) session(dev dbus.ObjectPath, mtu int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if mtu > p.stats.MTU {
		p.stats.MTU = mtu
	}
	s, ok := p.sessions[dev]
	if !ok {
		p.seq++
		p.stats.Connects++
		p.centrals = append(p.centrals, addressOf(dev))
		s = fmt.Sprintf("%s#%d", dev, p.seq)
		p.sessions[dev] = s
	}
	return s
}

func (p *Peripheral) endSession(dev dbus.ObjectPath) {
	p.mu.Lock()
	s, ok := p.sessions[dev]
	delete(p.sessions, dev)
	p.mu.Unlock()
	if ok {
		p.cfg.Protocomm.CloseSession(s)
	}
}

// addressOf turns a BlueZ device path (…/dev_00_AA_01_00_00_01) into its
// address.
func addressOf(dev dbus.ObjectPath) string {
	s := string(dev)
	i := strings.LastIndex(s, "/dev_")
	if i < 0 {
		return s
	}
	return strings.ReplaceAll(s[i+len("/dev_"):], "_", ":")
}

// Centrals returns the addresses of the centrals that exchanged data with
// the device, one entry per link, in order.
func (p *Peripheral) Centrals() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.centrals...)
}

// Stats returns the operation counters.
func (p *Peripheral) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// ResetStats zeroes the counters.
func (p *Peripheral) ResetStats() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats = Stats{}
}

// Name returns the advertised name.
func (p *Peripheral) Name() string { return p.cfg.Name }

// ServiceUUID returns the provisioning service UUID.
func (p *Peripheral) ServiceUUID() string { return p.cfg.ServiceUUID }

// CharacteristicUUIDs maps endpoint names to their characteristic UUIDs.
func (p *Peripheral) CharacteristicUUIDs() map[string]string {
	out := make(map[string]string, len(p.chars))
	for _, c := range p.chars {
		out[c.endpoint] = c.uuid
	}
	return out
}

// Close unregisters the advertisement and the application, restores the adapter's alias and releases the bus connection.
func (p *Peripheral) Close() error {
	p.once.Do(func() {
		p.closed.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		var errs []error
		p.advMu.Lock()
		if p.advActive {
			if err := p.adapter.CallWithContext(ctx, ifaceAdvManager+".UnregisterAdvertisement", 0, p.advPath).Err; err != nil {
				errs = append(errs, fmt.Errorf("unregister advertisement: %w", err))
			}
			p.advActive = false
		}
		p.advMu.Unlock()
		if len(p.chars) > 0 {
			if err := p.adapter.CallWithContext(ctx, ifaceGattManager+".UnregisterApplication", 0, p.root).Err; err != nil &&
				!strings.Contains(err.Error(), "does not exist") {
				errs = append(errs, fmt.Errorf("unregister application: %w", err))
			}
		}
		if p.oldAlias != "" {
			_ = p.setAdapter(ctx, "Alias", p.oldAlias)
		}
		close(p.done)
		if p.signals != nil {
			p.conn.RemoveSignal(p.signals)
		}
		p.wg.Wait()
		p.mu.Lock()
		sessions := p.sessions
		p.sessions = map[dbus.ObjectPath]string{}
		p.mu.Unlock()
		for _, s := range sessions {
			p.cfg.Protocomm.CloseSession(s)
		}
		p.unexport()
		if p.ownConn {
			_ = p.conn.Close()
		}
		if len(errs) > 0 {
			p.closeErr = fmt.Errorf("peripheral: close: %w", errors.Join(errs...))
		}
	})
	return p.closeErr
}
