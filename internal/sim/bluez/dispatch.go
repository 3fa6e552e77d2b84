package bluez

import (
	"fmt"

	"github.com/godbus/dbus/v5"
)

func unknownObject(path dbus.ObjectPath) *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.UnknownObject",
		[]interface{}{fmt.Sprintf("No such object path '%s'", path)})
}

// lookup finds the owner of the object a call is addressed to, checking
// that the object implements iface.
func (s *Server) lookup(msg dbus.Message, iface string) (interface{}, dbus.ObjectPath, *dbus.Error) {
	path, _ := msg.Headers[dbus.FieldPath].Value().(dbus.ObjectPath)
	member, _ := msg.Headers[dbus.FieldMember].Value().(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.objects[path]
	if !ok {
		return nil, path, unknownObject(path)
	}
	if _, ok := o.props[iface]; !ok && iface != ifaceProperties {
		return nil, path, dbus.NewError("org.freedesktop.DBus.Error.UnknownMethod",
			[]interface{}{fmt.Sprintf("Method %q on interface %q doesn't exist", member, iface)})
	}
	return o.owner, path, nil
}

func unknownMethod(iface string) *dbus.Error {
	return dbus.NewError("org.freedesktop.DBus.Error.UnknownMethod",
		[]interface{}{fmt.Sprintf("No such method on interface %q", iface)})
}

type propsDispatch struct{ s *Server }

func (h *propsDispatch) Get(msg dbus.Message, iface, name string) (dbus.Variant, *dbus.Error) {
	_, path, err := h.s.lookup(msg, ifaceProperties)
	if err != nil {
		return dbus.Variant{}, err
	}
	return (&propsHandler{s: h.s, path: path}).Get(iface, name)
}

func (h *propsDispatch) GetAll(msg dbus.Message, iface string) (map[string]dbus.Variant, *dbus.Error) {
	_, path, err := h.s.lookup(msg, ifaceProperties)
	if err != nil {
		return nil, err
	}
	return (&propsHandler{s: h.s, path: path}).GetAll(iface)
}

func (h *propsDispatch) Set(msg dbus.Message, iface, name string, v dbus.Variant) *dbus.Error {
	_, path, err := h.s.lookup(msg, ifaceProperties)
	if err != nil {
		return err
	}
	return (&propsHandler{s: h.s, path: path}).Set(iface, name, v)
}

type agentDispatch struct{ s *Server }

func (h *agentDispatch) get(msg dbus.Message) (*agentManager, *dbus.Error) {
	o, _, err := h.s.lookup(msg, ifaceAgentManager)
	if err != nil {
		return nil, err
	}
	m, ok := o.(*agentManager)
	if !ok {
		return nil, unknownMethod(ifaceAgentManager)
	}
	return m, nil
}

func (h *agentDispatch) RegisterAgent(msg dbus.Message, sender dbus.Sender, path dbus.ObjectPath, capability string) *dbus.Error {
	m, err := h.get(msg)
	if err != nil {
		return err
	}
	return m.RegisterAgent(sender, path, capability)
}

func (h *agentDispatch) UnregisterAgent(msg dbus.Message, sender dbus.Sender, path dbus.ObjectPath) *dbus.Error {
	m, err := h.get(msg)
	if err != nil {
		return err
	}
	return m.UnregisterAgent(sender, path)
}

func (h *agentDispatch) RequestDefaultAgent(msg dbus.Message, sender dbus.Sender, path dbus.ObjectPath) *dbus.Error {
	m, err := h.get(msg)
	if err != nil {
		return err
	}
	return m.RequestDefaultAgent(sender, path)
}

type adapterDispatch struct{ s *Server }

func (h *adapterDispatch) get(msg dbus.Message) (*adapterHandler, *dbus.Error) {
	o, _, err := h.s.lookup(msg, ifaceAdapter)
	if err != nil {
		return nil, err
	}
	a, ok := o.(*adapterHandler)
	if !ok {
		return nil, unknownMethod(ifaceAdapter)
	}
	return a, nil
}

func (h *adapterDispatch) StartDiscovery(msg dbus.Message, sender dbus.Sender) *dbus.Error {
	a, err := h.get(msg)
	if err != nil {
		return err
	}
	return a.StartDiscovery(sender)
}

func (h *adapterDispatch) StopDiscovery(msg dbus.Message, sender dbus.Sender) *dbus.Error {
	a, err := h.get(msg)
	if err != nil {
		return err
	}
	return a.StopDiscovery(sender)
}

func (h *adapterDispatch) SetDiscoveryFilter(msg dbus.Message, sender dbus.Sender, filter map[string]dbus.Variant) *dbus.Error {
	a, err := h.get(msg)
	if err != nil {
		return err
	}
	return a.SetDiscoveryFilter(sender, filter)
}

func (h *adapterDispatch) GetDiscoveryFilters(msg dbus.Message) ([]string, *dbus.Error) {
	a, err := h.get(msg)
	if err != nil {
		return nil, err
	}
	return a.GetDiscoveryFilters()
}

func (h *adapterDispatch) RemoveDevice(msg dbus.Message, device dbus.ObjectPath) *dbus.Error {
	a, err := h.get(msg)
	if err != nil {
		return err
	}
	return a.RemoveDevice(device)
}

type deviceDispatch struct{ s *Server }

func (h *deviceDispatch) get(msg dbus.Message) (*deviceHandler, *dbus.Error) {
	o, _, err := h.s.lookup(msg, ifaceDevice)
	if err != nil {
		return nil, err
	}
	d, ok := o.(*deviceHandler)
	if !ok {
		return nil, unknownMethod(ifaceDevice)
	}
	return d, nil
}

func (h *deviceDispatch) Connect(msg dbus.Message) *dbus.Error {
	d, err := h.get(msg)
	if err != nil {
		return err
	}
	return d.Connect()
}

func (h *deviceDispatch) Disconnect(msg dbus.Message) *dbus.Error {
	d, err := h.get(msg)
	if err != nil {
		return err
	}
	return d.Disconnect()
}

func (h *deviceDispatch) Pair(msg dbus.Message, sender dbus.Sender) *dbus.Error {
	d, err := h.get(msg)
	if err != nil {
		return err
	}
	return d.Pair(sender)
}

func (h *deviceDispatch) CancelPairing(msg dbus.Message) *dbus.Error {
	d, err := h.get(msg)
	if err != nil {
		return err
	}
	return d.CancelPairing()
}

type charDispatch struct{ s *Server }

func (h *charDispatch) get(msg dbus.Message) (*charHandler, *dbus.Error) {
	o, _, err := h.s.lookup(msg, ifaceChar)
	if err != nil {
		return nil, err
	}
	c, ok := o.(*charHandler)
	if !ok {
		return nil, unknownMethod(ifaceChar)
	}
	return c, nil
}

func (h *charDispatch) ReadValue(msg dbus.Message, opts map[string]dbus.Variant) ([]byte, *dbus.Error) {
	c, err := h.get(msg)
	if err != nil {
		return nil, err
	}
	return c.ReadValue(opts)
}

func (h *charDispatch) WriteValue(msg dbus.Message, value []byte, opts map[string]dbus.Variant) *dbus.Error {
	c, err := h.get(msg)
	if err != nil {
		return err
	}
	return c.WriteValue(value, opts)
}

func (h *charDispatch) StartNotify(msg dbus.Message) *dbus.Error {
	c, err := h.get(msg)
	if err != nil {
		return err
	}
	return c.StartNotify()
}

func (h *charDispatch) StopNotify(msg dbus.Message) *dbus.Error {
	c, err := h.get(msg)
	if err != nil {
		return err
	}
	return c.StopNotify()
}

type descDispatch struct{ s *Server }

func (h *descDispatch) get(msg dbus.Message) (*descHandler, *dbus.Error) {
	o, _, err := h.s.lookup(msg, ifaceDesc)
	if err != nil {
		return nil, err
	}
	d, ok := o.(*descHandler)
	if !ok {
		return nil, unknownMethod(ifaceDesc)
	}
	return d, nil
}

func (h *descDispatch) ReadValue(msg dbus.Message, opts map[string]dbus.Variant) ([]byte, *dbus.Error) {
	d, err := h.get(msg)
	if err != nil {
		return nil, err
	}
	return d.ReadValue(opts)
}

func (h *descDispatch) WriteValue(msg dbus.Message, value []byte, opts map[string]dbus.Variant) *dbus.Error {
	d, err := h.get(msg)
	if err != nil {
		return err
	}
	return d.WriteValue(value, opts)
}
