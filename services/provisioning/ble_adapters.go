package provisioning

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/espprov/espprov/transports/ble"
)

// adapterPool spreads BLE sessions over a station's Bluetooth adapters:
// one session per adapter at a time (a controller connecting to several
// provisioning devices at once is not shown safe in BlueZ), a request that
// names no adapter takes whichever is free first.
type adapterPool struct {
	names []string

	mu      sync.Mutex
	busy    map[string]bool
	changed chan struct{} // closed and replaced whenever an adapter frees up
}

// NewBLEModule returns a BLE module that uses only the given adapters
// (hci0, hci1, …), one session per adapter at a time. With no adapters it
// is the default module (any adapter named in the request, else hci0).
func NewBLEModule(adapters []string) (BLEModule, error) {
	if len(adapters) == 0 {
		return BLEModule{}, nil
	}
	seen := map[string]bool{}
	for _, a := range adapters {
		if !adapterName.MatchString(a) {
			return BLEModule{}, fmt.Errorf("%q is not a Bluetooth adapter name such as hci0", a)
		}
		if seen[a] {
			return BLEModule{}, fmt.Errorf("adapter %s given twice", a)
		}
		seen[a] = true
	}
	return BLEModule{pool: &adapterPool{names: slices.Clone(adapters), busy: map[string]bool{}, changed: make(chan struct{})}}, nil
}

// check refuses an adapter the pool does not hold.
func (p *adapterPool) check(want string) error {
	if want != "" && !slices.Contains(p.names, want) {
		return invalid("device.adapter %s is not one of this server's BLE adapters (%s)", want, strings.Join(p.names, ", "))
	}
	return nil
}

// acquire waits for want (or, when empty, for any adapter) to be free and
// returns it with the function that frees it.
func (p *adapterPool) acquire(ctx context.Context, want string) (string, func(), error) {
	if err := p.check(want); err != nil {
		return "", nil, err
	}
	for {
		p.mu.Lock()
		for _, n := range p.names {
			if (want == "" || n == want) && !p.busy[n] {
				p.busy[n] = true
				p.mu.Unlock()
				var once sync.Once
				return n, func() { once.Do(func() { p.release(n) }) }, nil
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return "", nil, status.Errorf(codes.DeadlineExceeded, "no BLE adapter of %s became free in time: %v", strings.Join(p.names, ", "), ctx.Err())
		}
	}
}

func (p *adapterPool) release(n string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.busy[n] = false
	close(p.changed)
	p.changed = make(chan struct{})
}

// pooledTransport frees its adapter when closed.
type pooledTransport struct {
	*ble.Transport
	release func()
}

func (t *pooledTransport) Close() error {
	err := t.Transport.Close()
	t.release()
	return err
}
