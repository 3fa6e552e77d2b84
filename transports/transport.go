// Package transports defines how espprov moves protocomm bytes to a device.
//
// A transport knows bytes and endpoint names, never protobuf: it sends one
// request blob to a named endpoint and returns the device's one reply blob.
// Implementations live in the sub-packages (httpd, ble, console, onnetwork).
package transports

import (
	"context"
	"errors"
)

// Transport exchanges request/response blobs with one device.
//
// Exchange must honour ctx (deadline and cancellation) and must not be called
// concurrently: protocomm is strictly one request, one response, in order.
type Transport interface {
	Exchange(ctx context.Context, endpoint string, request []byte) ([]byte, error)
	Close() error
}

// Errors that transports wrap so that callers can classify failures with
// errors.Is regardless of the transport in use.
var (
	// ErrUnreachable: the device could not be reached at all (connect failed,
	// name not resolved, device not found).
	ErrUnreachable = errors.New("device unreachable")
	// ErrClosed: the device dropped the exchange without a reply (HTTP socket
	// closed, BLE link dropped, empty console reply). Protocomm does this when
	// decryption, parsing or a handler fails, e.g. after a wrong PoP.
	ErrClosed = errors.New("device closed the connection without a reply")
	// ErrTimeout: the device did not answer within the exchange deadline.
	ErrTimeout = errors.New("device did not answer in time")
	// ErrNoEndpoint: the device does not serve this endpoint (HTTP 404,
	// missing BLE characteristic).
	ErrNoEndpoint = errors.New("endpoint not available on device")
	// ErrTooLarge: the message exceeds what the transport or device accepts.
	ErrTooLarge = errors.New("message too large for transport")
	// ErrProtocol: the device answered something the transport cannot use
	// (unexpected HTTP status, malformed console line).
	ErrProtocol = errors.New("unexpected transport reply")
)

// Limits tells the session layer what a transport can carry.
type Limits interface {
	// MaxMessage is the largest request or response in bytes (0: no limit).
	MaxMessage() int
	// ScanPageSize is how many Wi-Fi scan results to ask for per request.
	ScanPageSize() int
}

// LinkDropper is implemented by transports whose devices drop the whole link
// when a protocomm exchange fails (BLE: Bluedroid disconnects), so that a
// proof rejected during the handshake cannot be told apart from a lost link
// by asking the device again.
type LinkDropper interface {
	DropsLinkOnFailure() bool
}

// Wrapper is implemented by transports that decorate another one.
type Wrapper interface {
	Unwrap() Transport
}

// As returns t, or the first transport it wraps (through Wrapper), that
// implements T.
func As[T any](t Transport) (T, bool) {
	for t != nil {
		if v, ok := t.(T); ok {
			return v, true
		}
		w, ok := t.(Wrapper)
		if !ok {
			break
		}
		t = w.Unwrap()
	}
	var zero T
	return zero, false
}

// DropsLinkOnFailure reports whether t (or a transport it wraps) is a
// LinkDropper that says so.
func DropsLinkOnFailure(t Transport) bool {
	ld, ok := As[LinkDropper](t)
	return ok && ld.DropsLinkOnFailure()
}

// EndpointChecker is implemented by transports that can ask the device
// whether it has an endpoint, for those whose exchanges cannot tell a
// missing endpoint from a failing one (console: both print nothing).
type EndpointChecker interface {
	HasEndpoint(ctx context.Context, endpoint string) (bool, error)
}
