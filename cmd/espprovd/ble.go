package main

import (
	"fmt"
	"strings"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/services/jobs"
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

// bleJobLimits lets the job runner start as many BLE jobs at once as there
// are --ble-adapters (the BLE module still keeps one session per adapter).
func (s *settings) bleJobLimits() map[espprovv1.Transport]jobs.Limit {
	if s.bleAdapters == "" {
		return nil
	}
	l := jobs.DefaultLimits()[espprovv1.Transport_TRANSPORT_BLE]
	l.Concurrent = len(strings.Split(s.bleAdapters, ","))
	return map[espprovv1.Transport]jobs.Limit{espprovv1.Transport_TRANSPORT_BLE: l}
}
