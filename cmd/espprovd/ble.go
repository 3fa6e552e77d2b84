package main

import (
	"fmt"
	"strings"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/services/provisioning"
)

// modules returns the transport modules, the BLE one limited to
// --ble-adapters when given.
func (s *settings) modules() (map[espprovv1.Transport]provisioning.Module, error) {
	mods := provisioning.DefaultModules()
	if s.bleAdapters == "" {
		return mods, nil
	}
	m, err := provisioning.NewBLEModule(strings.Split(s.bleAdapters, ","))
	if err != nil {
		return nil, usageError{fmt.Errorf("--ble-adapters: %w", err)}
	}
	mods[espprovv1.Transport_TRANSPORT_BLE] = m
	return mods, nil
}
