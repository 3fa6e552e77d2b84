// Package device simulates an ESP32 running ESP-IDF protocomm and the Wi-Fi
// provisioning manager, byte-compatible with real firmware (protocol.md §9,
// §11). Simulated transports (HTTP server, BlueZ-shaped D-Bus GATT server,
// console on a pty, on-network service) feed it request blobs through the
// Protocomm interface.
package device

import "errors"

// Protocomm is the device side of protocomm as a simulated transport sees it.
type Protocomm interface {
	// Handle runs one exchange exactly as the firmware does. session names
	// the transport session (HTTP cookie session id, BLE connection, console
	// session id): a session different from the current one discards the
	// security state and starts a fresh one. A non-nil error means the
	// transport must drop the exchange the way the firmware does (HTTP: close
	// the socket with no response; BLE: drop the link / ATT error; console:
	// print nothing). ErrUnknownEndpoint means the endpoint is not registered
	// (HTTP 404).
	Handle(session, endpoint string, request []byte) ([]byte, error)
	// Endpoints lists the registered endpoint names in registration order
	// (prov-ctrl, prov-scan, prov-session, prov-config, proto-ver, then
	// application endpoints), which is the BLE characteristic order.
	Endpoints() []string
	// CloseSession ends the security session if it is the current one
	// (BLE disconnect).
	CloseSession(session string)
}

// ErrUnknownEndpoint is returned by Handle for an endpoint that is not registered.
var ErrUnknownEndpoint = errors.New("device: unknown endpoint")
