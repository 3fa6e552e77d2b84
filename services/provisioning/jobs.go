package provisioning

import (
	"context"
	"slices"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// What the job runner (services/jobs) needs from the service, beside the
// Provision RPC it wraps.

// DeviceKey names the device a request addresses as the device lock does
// ("tcp 10.0.0.7:80", "ble name PROV_1a2b3c", "serial /dev/ttyUSB0"; the
// first of a host name's addresses), "" when it cannot be told before
// connecting (BLE by prefix, on-network by browsing). Jobs on one key run
// one at a time, across instances sharing a job store.
func (s *Service) DeviceKey(ctx context.Context, d *espprovv1.Device) string {
	ids := s.identities(ctx, d)
	if len(ids) == 0 {
		return ""
	}
	slices.Sort(ids)
	return ids[0]
}

// CheckProvision validates a Provision request without any I/O: what
// Provision would refuse with InvalidArgument (or Unimplemented) before
// contacting anything.
func (s *Service) CheckProvision(req *espprovv1.ProvisionRequest) error {
	if _, err := s.checkRequest(req.GetDevice(), req.GetSecurity(), req.GetTimeouts()); err != nil {
		return err
	}
	if err := validateProvision(req); err != nil {
		return err
	}
	if wantsMapping(req) {
		if _, _, err := validateMapping(req.GetMapping()); err != nil {
			return err
		}
	}
	return nil
}

// WantsMapping reports whether a request maps the node to a RainMaker user.
func WantsMapping(req *espprovv1.ProvisionRequest) bool { return wantsMapping(req) }

// TransportName is the transport's short name ("httpd", "ble", …).
func TransportName(t espprovv1.Transport) string { return transportName(t) }
