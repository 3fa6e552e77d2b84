package provisioning

import (
	"context"
	"errors"
	"regexp"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/transports"
	"github.com/espprov/espprov/transports/ble"
)

// BLEModule reaches devices over Bluetooth LE through BlueZ.
type BLEModule struct {
	// ConnectTimeout bounds connect, service resolution and pairing (default 20 s).
	ConnectTimeout time.Duration
	// pool, when set (NewBLEModule), limits sessions to its adapters.
	pool *adapterPool
}

var adapterName = regexp.MustCompile(`^hci[0-9]{1,3}$`)

func bleAdapter(d *espprovv1.Device) (string, error) {
	a := d.GetAdapter()
	if a == "" {
		return ble.DefaultAdapter, nil
	}
	if !adapterName.MatchString(a) {
		return "", invalid("device.adapter %q is not a Bluetooth adapter name such as hci0", a)
	}
	return a, nil
}

func bleScanTimeout(d *espprovv1.Device) (time.Duration, error) {
	dt := d.GetDiscoveryTimeout()
	if dt == nil {
		return 0, nil
	}
	if v := dt.AsDuration(); v < 0 || v > 10*time.Minute {
		return 0, invalid("device.discovery_timeout must be between 0 and 10m (got %s)", v)
	}
	return dt.AsDuration(), nil
}

// bleError turns adapter and pairing failures into statuses that say what to do.
func bleError(adapter string, err error) error {
	var pe *ble.PairingError
	switch {
	case errors.Is(err, ble.ErrNoAdapter):
		return invalid("Bluetooth adapter %s does not exist on this station (%v)", adapter, err)
	case errors.As(err, &pe):
		return status.Errorf(codes.FailedPrecondition, "%v; the device requires an encrypted link: put it in pairing mode or remove the old bond and retry", err)
	}
	return err
}

// Validate implements Validator.
func (m BLEModule) Validate(d *espprovv1.Device) error {
	if _, err := bleAdapter(d); err != nil {
		return err
	}
	if m.pool != nil {
		if err := m.pool.check(d.GetAdapter()); err != nil {
			return err
		}
	}
	_, err := bleScanTimeout(d)
	return err
}

// Dial implements Module.
func (m BLEModule) Dial(ctx context.Context, d *espprovv1.Device, exchange time.Duration) (transports.Transport, error) {
	adapter, err := bleAdapter(d)
	if err != nil {
		return nil, err
	}
	scan, err := bleScanTimeout(d)
	if err != nil {
		return nil, err
	}
	release := func() {}
	if m.pool != nil {
		adapter, release, err = m.pool.acquire(ctx, d.GetAdapter())
		if err != nil {
			return nil, err
		}
	}
	t, err := ble.Open(ctx, ble.Options{Adapter: adapter, Name: d.GetName(), NamePrefix: d.GetNamePrefix(),
		ScanTimeout: scan, ConnectTimeout: m.ConnectTimeout})
	if err != nil {
		release()
		return nil, bleError(adapter, err)
	}
	if m.pool != nil {
		return &pooledTransport{Transport: t, release: release}, nil
	}
	return t, nil
}

// Discover implements Discoverer: a BLE scan by name or prefix (with
// adapters configured and none named: on the first one).
func (m BLEModule) Discover(ctx context.Context, d *espprovv1.Device, timeout time.Duration, found func(*espprovv1.DiscoverResponse) error) error {
	adapter, err := bleAdapter(d)
	if err != nil {
		return err
	}
	if m.pool != nil {
		if err := m.pool.check(d.GetAdapter()); err != nil {
			return err
		}
		if d.GetAdapter() == "" {
			adapter = m.pool.names[0]
		}
	}
	list, err := ble.Discover(ctx, ble.DiscoverOptions{Adapter: adapter, Name: d.GetName(), NamePrefix: d.GetNamePrefix(), Timeout: timeout})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return bleError(adapter, err)
	}
	for _, f := range list {
		if err := found(&espprovv1.DiscoverResponse{Transport: espprovv1.Transport_TRANSPORT_BLE, Name: f.Name,
			Address: f.Address, Rssi: int32(f.RSSI), Capabilities: f.ServiceUUIDs}); err != nil {
			return err
		}
	}
	return nil
}
