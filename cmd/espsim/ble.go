package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/espprov/espprov/internal/sim/peripheral"
)

// BLE peripheral options (see the package doc and README).
type bleOptions struct {
	adapters       string // --ble-adapter: comma-separated, one per device
	legacy         bool
	serviceUUID    string
	maxValueLen    int
	readvertiseFor string
}

var adapterRE = regexp.MustCompile(`^hci[0-9]{1,3}$`)

func addBLEFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.ble.adapters, "ble-adapter", "", "also serve the device as a real BLE peripheral through BlueZ on this adapter (hciN; with --fleet N, N comma-separated adapters)")
	fs.BoolVar(&o.ble.legacy, "ble-legacy", false, "old firmware's GATT layout: service 0000ffff-… (unless --ble-service-uuid) and no 0x2901 endpoint names")
	fs.StringVar(&o.ble.serviceUUID, "ble-service-uuid", "", "128-bit provisioning service UUID (default "+peripheral.DefaultServiceUUID+")")
	fs.IntVar(&o.ble.maxValueLen, "ble-max-value", peripheral.DefaultMaxValueLen, "longest request the device reassembles (CHAR_VAL_LEN_MAX: 481 with Security 2 compiled in, 257 without)")
	fs.StringVar(&o.ble.readvertiseFor, "ble-readvertise-for", "", "emulated controllers only (btvirt): re-advertise whenever one of these local adapters starts discovering (comma-separated)")
}

func (b bleOptions) adapterList() []string {
	if b.adapters == "" {
		return nil
	}
	return strings.Split(b.adapters, ",")
}

func checkBLEFlags(o *options, set map[string]bool) error {
	list := o.ble.adapterList()
	if list == nil {
		for _, f := range []string{"ble-legacy", "ble-service-uuid", "ble-max-value", "ble-readvertise-for"} {
			if set[f] {
				return fmt.Errorf("--%s needs --ble-adapter", f)
			}
		}
		return nil
	}
	seen := map[string]bool{}
	for _, a := range list {
		if !adapterRE.MatchString(a) {
			return fmt.Errorf("--ble-adapter %q: want adapter names such as hci0", a)
		}
		if seen[a] {
			return fmt.Errorf("--ble-adapter: %s given twice (one device per adapter: an adapter has one address)", a)
		}
		seen[a] = true
	}
	if len(list) != o.fleetN {
		return fmt.Errorf("--ble-adapter names %d adapters for %d devices: give one per device", len(list), o.fleetN)
	}
	if o.ble.readvertiseFor != "" {
		for _, a := range strings.Split(o.ble.readvertiseFor, ",") {
			if !adapterRE.MatchString(a) {
				return fmt.Errorf("--ble-readvertise-for %q: want adapter names such as hci0", a)
			}
		}
	}
	if o.ble.maxValueLen < 1 || o.ble.maxValueLen > 512 {
		return fmt.Errorf("--ble-max-value %d: want 1…512 (the ATT limit)", o.ble.maxValueLen)
	}
	return nil
}

// startBLE registers one peripheral per device.
func (s *sim) startBLE(ctx context.Context) error {
	list := s.o.ble.adapterList()
	if list == nil {
		return nil
	}
	var again []string
	if s.o.ble.readvertiseFor != "" {
		again = strings.Split(s.o.ble.readvertiseFor, ",")
	}
	for i, m := range s.fleet.Devices() {
		p, err := peripheral.Start(ctx, peripheral.Config{
			Adapter:        list[i],
			Name:           m.Config.Name,
			ServiceUUID:    s.o.ble.serviceUUID,
			Legacy:         s.o.ble.legacy,
			MaxValueLen:    s.o.ble.maxValueLen,
			Protocomm:      m.Device,
			ReadvertiseFor: again,
		})
		if err != nil {
			return fmt.Errorf("--ble-adapter %s: %w", list[i], err)
		}
		s.ble = append(s.ble, p)
	}
	return nil
}

func (s *sim) printBLE(w io.Writer) {
	for _, p := range s.ble {
		layout := "0x2901 endpoint names"
		if s.o.ble.legacy {
			layout = "legacy layout, no endpoint names"
		}
		fmt.Fprintf(w, "%s advertising on %s (service %s, %s)\n", p.Name(), s.o.ble.adapterList()[indexOf(s.ble, p)], p.ServiceUUID(), layout)
	}
}

func indexOf(ps []*peripheral.Peripheral, p *peripheral.Peripheral) int {
	for i, q := range ps {
		if q == p {
			return i
		}
	}
	return -1
}

func (s *sim) closeBLE() error {
	var errs []error
	for _, p := range s.ble {
		if err := p.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.ble = nil
	return errors.Join(errs...)
}
