package simonnetwork

import (
	"slices"
	"sync"

	"github.com/espprov/espprov/internal/sim/device"
)

// pathMapper is the device.Protocomm the HTTP server sees: it serves the
// on-network paths and forwards them to the simulated device's endpoint
// names. The version endpoint is answered here with the fixed string the
// firmware registers through protocomm_set_version (any request body, no
// encryption).
type pathMapper struct {
	p       device.Protocomm
	version []byte
	routes  map[string]string // HTTP endpoint -> device endpoint
	order   []string          // HTTP endpoints in registration order

	// afterChalResp runs after every ch_resp exchange that reached the
	// device (challenge-response disable detection).
	afterChalResp func(disabledBefore bool)
	disabled      func() bool

	mu      sync.Mutex
	stopped bool // standalone service stopped: endpoints removed
}

var _ device.Protocomm = (*pathMapper)(nil)

// Handle implements device.Protocomm.
func (m *pathMapper) Handle(session, endpoint string, request []byte) ([]byte, error) {
	m.mu.Lock()
	stopped := m.stopped
	m.mu.Unlock()
	if stopped {
		return nil, device.ErrUnknownEndpoint
	}
	if endpoint == EndpointVersion {
		return slices.Clone(m.version), nil
	}
	target, ok := m.routes[endpoint]
	if !ok {
		return nil, device.ErrUnknownEndpoint
	}
	if endpoint != EndpointChalResp || m.afterChalResp == nil {
		return m.p.Handle(session, target, request)
	}
	before := m.disabled != nil && m.disabled()
	resp, err := m.p.Handle(session, target, request)
	m.afterChalResp(before)
	return resp, err
}

// Endpoints implements device.Protocomm: the served HTTP endpoints in the
// firmware's registration order (session, version, ch_resp, ...).
func (m *pathMapper) Endpoints() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return nil
	}
	return slices.Clone(m.order)
}

// CloseSession implements device.Protocomm.
func (m *pathMapper) CloseSession(session string) { m.p.CloseSession(session) }

func (m *pathMapper) stop() {
	m.mu.Lock()
	m.stopped = true
	m.mu.Unlock()
}
