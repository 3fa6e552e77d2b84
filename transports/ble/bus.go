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
	gobluez "github.com/muka/go-bluetooth/bluez"

	"github.com/espprov/espprov/transports"
)

// D-Bus names used directly (go-bluetooth's generated clients take no
// context, so every call goes through the godbus object with our deadline).
const (
	bluezName        = "org.bluez"
	ifaceAdapter     = "org.bluez.Adapter1"
	ifaceDevice      = "org.bluez.Device1"
	ifaceService     = "org.bluez.GattService1"
	ifaceChar        = "org.bluez.GattCharacteristic1"
	ifaceDesc        = "org.bluez.GattDescriptor1"
	ifaceAgentMgr    = "org.bluez.AgentManager1"
	ifaceProps       = "org.freedesktop.DBus.Properties"
	ifaceObjectMgr   = "org.freedesktop.DBus.ObjectManager"
	userDescUUID     = "00002901-0000-1000-8000-00805f9b34fb"
	legacyService    = "0000ffff-0000-1000-8000-00805f9b34fb"
	cleanupTimeout   = 3 * time.Second
	pollInterval     = 25 * time.Millisecond
	scanPollInterval = 50 * time.Millisecond
)

// The system bus connection.
//
// go-bluetooth keeps one process-wide system bus connection (bluez.conns,
// filled from godbus's dbus.SystemBus(), which reads DBUS_SYSTEM_BUS_ADDRESS
// when it connects) and every go-bluetooth object uses it. We prime that
// cache under our own lock (go-bluetooth's is unlocked) and count the BLE
// operations in flight. When none is in flight and the connection was lost
// or DBUS_SYSTEM_BUS_ADDRESS changed, the cache is dropped and the next
// operation reconnects; while operations are in flight the connection is
// never swapped under them.
var (
	busMu    sync.Mutex
	busConn  *dbus.Conn
	busAddr  string
	busUsers int
)

// connectPending is set while a connection attempt abandoned at its
// caller's deadline may still write go-bluetooth's connection cache.
var connectPending atomic.Bool

func acquireBus(ctx context.Context) (*dbus.Conn, error) {
	busMu.Lock()
	defer busMu.Unlock()
	if connectPending.Load() {
		return nil, fmt.Errorf("ble: connect to the system bus: an earlier attempt is still pending: %w", transports.ErrUnreachable)
	}
	addr := os.Getenv("DBUS_SYSTEM_BUS_ADDRESS")
	// Swap only when nothing (not even an abandoned go-bluetooth call) can
	// touch go-bluetooth's connection cache concurrently.
	if busConn != nil && busUsers == 0 && stragglers.Load() == 0 && (!busConn.Connected() || addr != busAddr) {
		_ = gobluez.CloseConnections()
		busConn = nil
	}
	if busConn == nil {
		// Connecting (socket, auth, Hello) takes no context either.
		type result struct {
			c   *dbus.Conn
			err error
		}
		ch := make(chan result, 1)
		connectPending.Store(true)
		go func() {
			c, err := gobluez.GetConnection(gobluez.SystemBus)
			// Cleared before the result is handed over: a caller that
			// gets busMu next must not see this finished attempt as
			// pending (two first Opens at once, espprovd with two
			// adapters: "an earlier attempt is still pending").
			connectPending.Store(false)
			ch <- result{c, err}
		}()
		select {
		case r := <-ch:
			if r.err != nil {
				return nil, fmt.Errorf("ble: connect to the system bus: %w: %w", transports.ErrUnreachable, r.err)
			}
			busConn, busAddr = r.c, addr
		case <-ctx.Done():
			return nil, fmt.Errorf("ble: connect to the system bus: %w: %w", transports.ErrTimeout, ctx.Err())
		}
	}
	if !busConn.Connected() {
		return nil, fmt.Errorf("ble: system bus connection lost: %w", transports.ErrUnreachable)
	}
	busUsers++
	return busConn, nil
}

func releaseBus() {
	busMu.Lock()
	defer busMu.Unlock()
	if busUsers > 0 {
		busUsers--
	}
}

// bounded runs a go-bluetooth call that takes no context and returns when
// it finishes or ctx ends, whichever is first. A call abandoned on ctx keeps
// its goroutine until D-Bus answers (the bus daemon's reply timeout bounds
// it); stragglers counts those.
func bounded[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	stragglers.Add(1)
	go func() {
		defer stragglers.Add(-1)
		v, err := fn()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

var stragglers atomic.Int64

// dbusError renders a D-Bus error with its name (godbus prints only the
// message) and keeps it reachable with errors.As.
type dbusError struct{ err dbus.Error }

func (e *dbusError) Error() string {
	if len(e.err.Body) > 0 {
		if s, ok := e.err.Body[0].(string); ok && s != "" {
			return e.err.Name + ": " + s
		}
	}
	return e.err.Name
}

func (e *dbusError) Unwrap() error { return e.err }

// describe wraps D-Bus errors so their names show in messages.
func describe(err error) error {
	var de dbus.Error
	if errors.As(err, &de) {
		return &dbusError{de}
	}
	var pde *dbus.Error
	if errors.As(err, &pde) && pde != nil {
		return &dbusError{*pde}
	}
	return err
}

// errName returns the D-Bus error name of err, or "".
func errName(err error) string {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name
	}
	var pde *dbus.Error
	if errors.As(err, &pde) && pde != nil {
		return pde.Name
	}
	return ""
}

// needsPairing reports whether an attribute access failed for lack of an
// encrypted/authenticated link.
func needsPairing(err error) bool {
	switch errName(err) {
	case "org.bluez.Error.NotPermitted", "org.bluez.Error.NotAuthorized",
		"org.bluez.Error.AuthenticationRequired", "org.bluez.Error.NotPaired":
		msg := strings.ToLower(describe(err).Error())
		return strings.Contains(msg, "encrypt") || strings.Contains(msg, "authenti") ||
			strings.Contains(msg, "paired") || strings.Contains(msg, "0x05") ||
			strings.Contains(msg, "0x0f") || errName(err) == "org.bluez.Error.NotAuthorized"
	}
	return false
}

// gone reports errors meaning the object (device, characteristic) no longer
// exists on the bus.
func gone(err error) bool {
	switch errName(err) {
	case "org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.DBus.Error.UnknownMethod",
		"org.freedesktop.DBus.Error.UnknownInterface", "org.bluez.Error.DoesNotExist":
		return true
	}
	return false
}

type managedObjects = map[dbus.ObjectPath]map[string]map[string]dbus.Variant

func getManagedObjects(ctx context.Context, conn *dbus.Conn) (managedObjects, error) {
	var objs managedObjects
	err := conn.Object(bluezName, "/").CallWithContext(ctx, ifaceObjectMgr+".GetManagedObjects", 0).Store(&objs)
	if err != nil {
		return nil, fmt.Errorf("ble: list BlueZ objects: %w", describe(err))
	}
	return objs, nil
}

func propString(p map[string]dbus.Variant, k string) string {
	s, _ := p[k].Value().(string)
	return s
}

func propBool(p map[string]dbus.Variant, k string) bool {
	b, _ := p[k].Value().(bool)
	return b
}

func propPath(p map[string]dbus.Variant, k string) dbus.ObjectPath {
	o, _ := p[k].Value().(dbus.ObjectPath)
	return o
}

func propStrings(p map[string]dbus.Variant, k string) []string {
	s, _ := p[k].Value().([]string)
	return append([]string(nil), s...)
}

func sortedPaths[V any](m map[dbus.ObjectPath]V) []dbus.ObjectPath {
	out := make([]dbus.ObjectPath, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Discovery sessions. BlueZ allows one discovery session per D-Bus client
// and adapter, and all our operations share one connection, so sessions are
// reference counted per adapter: the first user starts discovery, the last
// one stops it.
var (
	discMu   sync.Mutex
	discRefs = map[dbus.ObjectPath]int{}
)

func startDiscovery(ctx context.Context, adapterObj dbus.BusObject) (func(), error) {
	path := adapterObj.Path()
	discMu.Lock()
	defer discMu.Unlock()
	if discRefs[path] == 0 {
		filter := map[string]dbus.Variant{"Transport": dbus.MakeVariant("le")}
		if err := adapterObj.CallWithContext(ctx, ifaceAdapter+".SetDiscoveryFilter", 0, filter).Err; err != nil {
			return nil, fmt.Errorf("ble: set discovery filter on %s: %w", path, describe(err))
		}
		err := adapterObj.CallWithContext(ctx, ifaceAdapter+".StartDiscovery", 0).Err
		if err != nil && errName(err) != "org.bluez.Error.InProgress" {
			if ctx.Err() != nil {
				// The call may still have started a session: stop it.
				stopDiscovery(adapterObj)
			}
			return nil, fmt.Errorf("ble: start discovery on %s: %w", path, describe(err))
		}
	}
	discRefs[path]++
	var once sync.Once
	return func() {
		once.Do(func() {
			discMu.Lock()
			defer discMu.Unlock()
			discRefs[path]--
			if discRefs[path] <= 0 {
				delete(discRefs, path)
				stopDiscovery(adapterObj)
			}
		})
	}, nil
}

func stopDiscovery(adapterObj dbus.BusObject) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	_ = adapterObj.CallWithContext(ctx, ifaceAdapter+".StopDiscovery", 0).Err
}
