package simonnetwork

import (
	"slices"
	"sync"

	"github.com/espprov/espprov/internal/sim/device"
)

// Scripted is a minimal device.Protocomm for tests of transports: each
// registered endpoint answers through a function, and every call is
// recorded. It does no security at all.
type Scripted struct {
	mu       sync.Mutex
	order    []string
	handlers map[string]func(session string, req []byte) ([]byte, error)
	calls    []Call
	closed   []string
}

// Call is one recorded Handle call.
type Call struct {
	Session, Endpoint string
	Request           []byte
}

var _ device.Protocomm = (*Scripted)(nil)

// NewScripted returns an empty Scripted device.
func NewScripted() *Scripted {
	return &Scripted{handlers: map[string]func(string, []byte) ([]byte, error){}}
}

// Register adds (or replaces) an endpoint.
func (s *Scripted) Register(endpoint string, h func(session string, req []byte) ([]byte, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.handlers[endpoint]; !ok {
		s.order = append(s.order, endpoint)
	}
	s.handlers[endpoint] = h
}

// Handle implements device.Protocomm.
func (s *Scripted) Handle(session, endpoint string, request []byte) ([]byte, error) {
	s.mu.Lock()
	h, ok := s.handlers[endpoint]
	s.calls = append(s.calls, Call{session, endpoint, slices.Clone(request)})
	s.mu.Unlock()
	if !ok {
		return nil, device.ErrUnknownEndpoint
	}
	return h(session, request)
}

// Endpoints implements device.Protocomm.
func (s *Scripted) Endpoints() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.order)
}

// CloseSession implements device.Protocomm.
func (s *Scripted) CloseSession(session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = append(s.closed, session)
}

// Calls returns the recorded calls.
func (s *Scripted) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// ClosedSessions returns the sessions closed through CloseSession.
func (s *Scripted) ClosedSessions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.closed)
}
