package ble

import (
	"context"
	"fmt"
	"sync"

	"github.com/godbus/dbus/v5"
	"github.com/muka/go-bluetooth/bluez/profile/agent"
)

// agentPath is where our pairing agent lives on our bus connection.
const agentPath = dbus.ObjectPath("/com/github/espprov/ble/agent")

// pairAgent is a NoInputNoOutput ("Just Works") org.bluez.Agent1. It only
// accepts requests for devices we are pairing with right now, so
// registering it never auto-accepts unrelated pairings on the station.
type pairAgent struct {
	mu      sync.Mutex
	allowed map[dbus.ObjectPath]int
}

var _ agent.Agent1Client = (*pairAgent)(nil)

func (a *pairAgent) ok(dev dbus.ObjectPath) *dbus.Error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.allowed[dev] > 0 {
		return nil
	}
	return dbus.NewError("org.bluez.Error.Rejected", []interface{}{"not pairing with this device"})
}

func (a *pairAgent) allow(dev dbus.ObjectPath) func() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.allowed[dev]++
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.allowed[dev]--; a.allowed[dev] <= 0 {
			delete(a.allowed, dev)
		}
	}
}

func rejected() *dbus.Error {
	return dbus.NewError("org.bluez.Error.Rejected", []interface{}{"no input or output capability"})
}

// Release is called when BlueZ unregisters the agent.
func (a *pairAgent) Release() *dbus.Error { return nil }

// RequestPinCode is refused: NoInputNoOutput has no PIN.
func (a *pairAgent) RequestPinCode(dbus.ObjectPath) (string, *dbus.Error) { return "", rejected() }

// DisplayPinCode is refused: nothing to display on.
func (a *pairAgent) DisplayPinCode(dbus.ObjectPath, string) *dbus.Error { return rejected() }

// RequestPasskey is refused: NoInputNoOutput has no passkey.
func (a *pairAgent) RequestPasskey(dbus.ObjectPath) (uint32, *dbus.Error) { return 0, rejected() }

// DisplayPasskey is accepted silently for the device being paired.
func (a *pairAgent) DisplayPasskey(dev dbus.ObjectPath, _ uint32, _ uint16) *dbus.Error {
	return a.ok(dev)
}

// RequestConfirmation accepts Just Works for the device being paired.
func (a *pairAgent) RequestConfirmation(dev dbus.ObjectPath, _ uint32) *dbus.Error {
	return a.ok(dev)
}

// RequestAuthorization accepts the device being paired.
func (a *pairAgent) RequestAuthorization(dev dbus.ObjectPath) *dbus.Error { return a.ok(dev) }

// AuthorizeService accepts the device being paired.
func (a *pairAgent) AuthorizeService(dev dbus.ObjectPath, _ string) *dbus.Error { return a.ok(dev) }

// Cancel is called when BlueZ aborts a request.
func (a *pairAgent) Cancel() *dbus.Error { return nil }

// Path is the agent's object path.
func (a *pairAgent) Path() dbus.ObjectPath { return agentPath }

// Interface is org.bluez.Agent1.
func (a *pairAgent) Interface() string { return agent.Agent1Interface }

// The agent is registered once per process while at least one transport
// needs it (reference counted).
var (
	agentMu   sync.Mutex
	agentRefs int
	theAgent  = &pairAgent{allowed: map[dbus.ObjectPath]int{}}
	agentConn *dbus.Conn
)

func agentManagerObj(conn *dbus.Conn) (dbus.BusObject, error) {
	am, err := agent.NewAgentManager1()
	if err != nil {
		return nil, err
	}
	if err := am.Client().Connect(); err != nil {
		return nil, err
	}
	if obj := am.Client().GetDbusObject(); obj != nil {
		return obj, nil
	}
	return conn.Object(bluezName, "/org/bluez"), nil
}

func acquireAgent(ctx context.Context, conn *dbus.Conn) error {
	agentMu.Lock()
	defer agentMu.Unlock()
	if agentRefs == 0 {
		if err := conn.Export(theAgent, agentPath, agent.Agent1Interface); err != nil {
			return fmt.Errorf("ble: export pairing agent: %w", err)
		}
		am, err := agentManagerObj(conn)
		if err == nil {
			err = am.CallWithContext(ctx, ifaceAgentMgr+".RegisterAgent", 0, agentPath, agent.CapNoInputNoOutput).Err
			if errName(err) == "org.bluez.Error.AlreadyExists" {
				err = nil
			}
		}
		if err != nil {
			_ = conn.Export(nil, agentPath, agent.Agent1Interface)
			return fmt.Errorf("ble: register pairing agent: %w", describe(err))
		}
		agentConn = conn
	}
	agentRefs++
	return nil
}

func releaseAgent() {
	agentMu.Lock()
	defer agentMu.Unlock()
	if agentRefs == 0 {
		return
	}
	agentRefs--
	if agentRefs > 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if am, err := agentManagerObj(agentConn); err == nil {
		_ = am.CallWithContext(ctx, ifaceAgentMgr+".UnregisterAgent", 0, agentPath).Err
	}
	_ = agentConn.Export(nil, agentPath, agent.Agent1Interface)
	agentConn = nil
}
