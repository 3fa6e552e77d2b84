package provisioning

import (
	"context"
	"fmt"
	"strings"
	"time"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/transports"
	"github.com/espprov/espprov/transports/console"
)

// ConsoleModule reaches devices through the protocomm UART console.
type ConsoleModule struct {
	// MaxLine is the device's console line limit including CR. Zero uses
	// 255, which IDF 5.x (256) and 6.x (255) firmware both accept.
	MaxLine int
}

func (m ConsoleModule) options(d *espprovv1.Device, exchange time.Duration) (console.Options, error) {
	baud := int(d.GetBaudRate())
	if baud != 0 && (baud < 300 || baud > 4_000_000) {
		return console.Options{}, invalid("device.baud_rate %d is out of range (300 to 4000000; default 115200)", baud)
	}
	maxLine := m.MaxLine
	if maxLine == 0 {
		maxLine = console.IDF6MaxLine
	}
	return console.Options{BaudRate: baud, ExchangeTimeout: exchange, MaxLine: maxLine}, nil
}

// Validate implements Validator. An empty serial port is allowed for
// Discover (which lists the ports) and refused by Dial.
func (m ConsoleModule) Validate(d *espprovv1.Device) error {
	port := d.GetSerialPort()
	if port != "" && !strings.HasPrefix(port, "/") && !strings.HasPrefix(strings.ToUpper(port), "COM") {
		return invalid("device.serial_port %q is not a device path such as /dev/ttyUSB0", port)
	}
	_, err := m.options(d, 0)
	return err
}

// Dial implements Module.
func (m ConsoleModule) Dial(ctx context.Context, d *espprovv1.Device, exchange time.Duration) (transports.Transport, error) {
	port := d.GetSerialPort()
	if port == "" {
		return nil, invalid("device.serial_port is required for the console transport (e.g. /dev/ttyUSB0; Discover lists the ports)")
	}
	if err := m.Validate(d); err != nil {
		return nil, err
	}
	opts, err := m.options(d, exchange)
	if err != nil {
		return nil, err
	}
	return console.Open(ctx, port, opts)
}

// Discover implements Discoverer: it lists the serial ports (ESP-looking
// ones first) and, when device.serial_port names a port, probes it for a
// protocomm console.
func (m ConsoleModule) Discover(ctx context.Context, d *espprovv1.Device, timeout time.Duration, found func(*espprovv1.DiscoverResponse) error) error {
	if port := d.GetSerialPort(); port != "" {
		t, err := m.Dial(ctx, d, timeout)
		if err != nil {
			if st, ok := statusOf(err); ok {
				return st
			}
			return nil
		}
		defer t.Close()
		v, err := protocomm.ReadVersion(ctx, t)
		if err != nil {
			return nil
		}
		rec := probedRecord(espprovv1.Transport_TRANSPORT_CONSOLE, port, v)
		rec.Name, rec.LikelyEsp = port, true
		return found(rec)
	}
	ports, err := console.ListPorts()
	if err != nil {
		return fmt.Errorf("listing serial ports: %w", err)
	}
	for _, p := range ports {
		rec := &espprovv1.DiscoverResponse{Transport: espprovv1.Transport_TRANSPORT_CONSOLE, Name: p.Product, Address: p.Name,
			UsbVid: p.VID, UsbPid: p.PID, UsbSerial: p.SerialNumber, LikelyEsp: p.LikelyESP}
		if err := found(rec); err != nil {
			return err
		}
	}
	return nil
}
