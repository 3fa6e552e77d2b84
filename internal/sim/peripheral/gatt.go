package peripheral

import (
	"maps"

	"github.com/godbus/dbus/v5"
)

func bluezErr(name, msg string) *dbus.Error {
	return dbus.NewError("org.bluez.Error."+name, []interface{}{msg})
}

// options are the fields BlueZ passes with ReadValue and WriteValue.
type options struct {
	device dbus.ObjectPath
	offset int
	mtu    int
	typ    string
}

func parseOptions(o map[string]dbus.Variant) options {
	var out options
	out.device, _ = o["device"].Value().(dbus.ObjectPath)
	if v, ok := o["offset"].Value().(uint16); ok {
		out.offset = int(v)
	}
	if v, ok := o["mtu"].Value().(uint16); ok {
		out.mtu = int(v)
	}
	out.typ, _ = o["type"].Value().(string)
	return out
}

// ReadValue serves the stored reply from the requested offset (BlueZ turns
// each ATT Read / Read Blob into one call and cuts the result to MTU−1).
func (c *characteristic) ReadValue(o map[string]dbus.Variant) ([]byte, *dbus.Error) {
	opt := parseOptions(o)
	p := c.p
	p.mu.Lock()
	p.stats.Reads++
	if opt.offset > 0 {
		p.stats.BlobReads++
	}
	if opt.mtu > p.stats.MTU {
		p.stats.MTU = opt.mtu
	}
	p.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if opt.offset > len(c.value) {
		return nil, bluezErr("InvalidOffset", "Invalid offset")
	}
	return append([]byte{}, c.value[opt.offset:]...), nil
}

// WriteValue runs one protocomm exchange with the whole (reassembled)
// request and stores the reply for the following read.
func (c *characteristic) WriteValue(value []byte, o map[string]dbus.Variant) *dbus.Error {
	opt := parseOptions(o)
	p := c.p
	if opt.typ != "" && opt.typ != "request" {
		// The characteristic has no write-without-response property.
		return bluezErr("NotSupported", "Operation is not supported")
	}
	if opt.offset != 0 {
		// BlueZ merges contiguous prepared writes into one call at offset 0;
		// anything else is not a protocomm request.
		return bluezErr("InvalidOffset", "Invalid offset")
	}
	if len(value) > p.cfg.MaxValueLen {
		return bluezErr("InvalidValueLength", "Invalid Length")
	}
	session := p.session(opt.device, opt.mtu)
	p.mu.Lock()
	p.stats.Writes++
	if opt.mtu > 0 && len(value) > opt.mtu-3 {
		p.stats.LongWrites++
	}
	p.stats.Exchanges++
	p.mu.Unlock()

	c.mu.Lock()
	reply, err := p.cfg.Protocomm.Handle(session, c.endpoint, value)
	if err == nil {
		c.value = append([]byte{}, reply...)
	}
	c.mu.Unlock()
	if err != nil {
		p.mu.Lock()
		p.stats.Failures++
		p.mu.Unlock()
		// The NimBLE transport's answer: an ATT error, the link stays up.
		// (Bluedroid also closes the link; a peripheral on BlueZ 5.66 must
		// not, since bluetoothd keeps a write that was pending when the
		// link went down and crashes when the application is unregistered.)
		return bluezErr("Failed", "protocomm request failed")
	}
	return nil
}

// StartNotify is refused: protocomm never notifies.
func (c *characteristic) StartNotify() *dbus.Error {
	return bluezErr("NotSupported", "Operation is not supported")
}

// StopNotify is refused: protocomm never notifies.
func (c *characteristic) StopNotify() *dbus.Error {
	return bluezErr("NotSupported", "Operation is not supported")
}

// userDescription is the 0x2901 descriptor holding the endpoint name.
type userDescription struct{ c *characteristic }

func (d *userDescription) ReadValue(o map[string]dbus.Variant) ([]byte, *dbus.Error) {
	opt := parseOptions(o)
	p := d.c.p
	p.mu.Lock()
	p.stats.DescReads++
	p.mu.Unlock()
	name := []byte(d.c.endpoint)
	if opt.offset > len(name) {
		return nil, bluezErr("InvalidOffset", "Invalid offset")
	}
	return name[opt.offset:], nil
}

func (d *userDescription) WriteValue([]byte, map[string]dbus.Variant) *dbus.Error {
	return bluezErr("NotPermitted", "Write not permitted")
}

// advertisement is the LEAdvertisement1 object (its data are properties).
type advertisement struct{}

// Release is called when BlueZ drops the advertisement.
func (advertisement) Release() *dbus.Error { return nil }

// props serves org.freedesktop.DBus.Properties of one exported object.
type props struct {
	p    *Peripheral
	path dbus.ObjectPath
}

func (h props) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	v, ok := h.p.objects[h.path][iface][name]
	if !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.InvalidArgs", []interface{}{"no such property " + name})
	}
	return v, nil
}

func (h props) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	return maps.Clone(h.p.objects[h.path][iface]), nil
}

func (h props) Set(iface, name string, v dbus.Variant) *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.PropertyReadOnly", []interface{}{name + " is read-only"})
}

// objectManager lists the GATT objects for GattManager1.RegisterApplication.
type objectManager struct{ p *Peripheral }

func (m objectManager) GetManagedObjects() (map[dbus.ObjectPath]map[string]map[string]dbus.Variant, *dbus.Error) {
	out := map[dbus.ObjectPath]map[string]map[string]dbus.Variant{}
	for path, ifaces := range m.p.objects {
		if path == m.p.advPath {
			continue
		}
		out[path] = ifaces
	}
	return out, nil
}
