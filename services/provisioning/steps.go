package provisioning

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/internal/wifiprov"
	"github.com/espprov/espprov/transports"
)

// Round trips (protocomm exchanges: an HTTP request, a BLE write + read, a
// console line) of one Provision. The protocol minimum, reached against a
// device that has joined by the first status read, is
//
//	proto-ver                         1
//	prov-session handshake            sec0: 1, sec1: 2, sec2: 2
//	prov-config SetConfig             1
//	prov-config ApplyConfig           1
//	prov-config GetStatus             1 (then one per poll while connecting)
//
// sec0 5, sec1 6, sec2 6, over one TCP connection on HTTP. Each of
// custom_data's endpoints adds one, reprovision one (prov-ctrl reprov),
// challenge-response mapping two (ch_resp request, then disable when asked),
// the traditional flow one (cloud_user_assoc).
// TestProvisionRoundTrips holds the flow to this minimum.
func MinExchanges(s protocomm.Scheme) int {
	handshake := 2
	if s == protocomm.Scheme0 {
		handshake = 1
	}
	return 1 + handshake + 3
}

// customDataNames are endpoints custom_data must not name: the flow's own.
var customDataNames = []string{protocomm.EndpointVersion, protocomm.EndpointSession,
	protocomm.EndpointConfig, protocomm.EndpointScan, protocomm.EndpointCtrl}

// Limits of ProvisionRequest.custom_data.
const (
	maxCustomEndpoints = 16
	maxCustomData      = 4000 // below protocomm_httpd's 4096-byte body, leaving the cipher's room
)

// validateCustomData checks custom_data before anything is contacted.
func validateCustomData(m map[string][]byte) error {
	if len(m) > maxCustomEndpoints {
		return invalid("custom_data names %d endpoints; at most %d", len(m), maxCustomEndpoints)
	}
	for name, v := range m {
		switch {
		case name == "":
			return invalid("custom_data: empty endpoint name")
		case len(name) > 64:
			return invalid("custom_data: endpoint name %.64q… is longer than 64 bytes", name)
		case strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '/' || r == '?' || r == '#' }):
			return invalid("custom_data: endpoint name %q must be printable ASCII without spaces, '/', '?' or '#'", name)
		case slices.Contains(customDataNames, name):
			return invalid("custom_data: %q is a provisioning endpoint, not an application endpoint", name)
		case len(v) == 0:
			return invalid("custom_data[%q] is empty: the device accepts 1 to %d bytes", name, maxCustomData)
		case len(v) > maxCustomData:
			return invalid("custom_data[%q] is %d bytes: the device accepts at most %d", name, len(v), maxCustomData)
		}
	}
	return nil
}

// ErrNoCustomEndpoint: an endpoint named in custom_data does not exist on
// the device.
var ErrNoCustomEndpoint = errors.New("the device has no such application endpoint")

// sendCustomData sends each custom_data entry (in endpoint-name order) over
// the secure session and reports each reply as a STEP_CUSTOM_DATA event.
func (s *Service) sendCustomData(ctx context.Context, c *conn, m map[string][]byte, em *emitter) error {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		reply, err := c.sess.Call(ctx, name, m[name])
		if err != nil && !errors.Is(err, transports.ErrNoEndpoint) && ctx.Err() == nil {
			// Some transports cannot tell a missing endpoint from a failing
			// one in the exchange itself: ask.
			if ch, ok := transports.As[transports.EndpointChecker](c.raw); ok {
				if has, herr := ch.HasEndpoint(ctx, name); herr == nil && !has {
					err = fmt.Errorf("%w: %w", transports.ErrNoEndpoint, err)
				}
			}
		}
		if errors.Is(err, transports.ErrNoEndpoint) {
			return status.Errorf(codes.FailedPrecondition,
				"custom_data: the device has no endpoint %q (%v); nothing else was sent: check the endpoint name the firmware creates (wifi_prov_mgr_endpoint_create), %v",
				name, ErrNoCustomEndpoint, err)
		}
		if err != nil {
			return fmt.Errorf("custom_data: endpoint %q: %w", name, err)
		}
		if err := em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_CUSTOM_DATA,
			Message:    fmt.Sprintf("Endpoint %q answered %d bytes", name, len(reply)),
			CustomData: &espprovv1.CustomDataReply{Endpoint: name, Reply: reply}}); err != nil {
			return err
		}
	}
	return nil
}

// reprovision asks the device to forget the credentials of an earlier
// provisioning (prov-ctrl reprov). A device whose firmware refuses it (auto-
// stop enabled: it had not been provisioned in this run, or it is about to
// stop) is left to the normal flow, which reports an already-applied state.
func (s *Service) reprovision(ctx context.Context, c *conn, em *emitter) (refused bool, err error) {
	err = c.wifi().Reprov(ctx)
	switch {
	case errors.Is(err, wifiprov.ErrReprovRefused):
		s.log.InfoContext(ctx, "prov-ctrl reprov refused; continuing with the normal flow")
		return true, nil
	case err != nil:
		return false, err
	}
	return false, em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_REPROVISIONED,
		Message: "Device re-provisioning: it forgot its earlier Wi-Fi credentials"})
}

// alreadyApplied explains a device that refused new credentials because it
// applied some earlier in this provisioning run.
func alreadyApplied(err error, reprovRequested, reprovRefused bool) error {
	switch {
	case reprovRefused:
		return status.Errorf(codes.FailedPrecondition,
			"%v; it also refused prov-ctrl reprov (its firmware keeps auto-stop enabled): wait for it to leave provisioning mode, or reset it to factory defaults and provision again", err)
	case reprovRequested:
		return status.Errorf(codes.FailedPrecondition, "%v; even after prov-ctrl reprov: reset it to factory defaults and provision again", err)
	}
	return status.Errorf(codes.FailedPrecondition,
		"%v: to give it new credentials, provision again with reprovision set (CLI: --reprovision), or reset it to factory defaults", err)
}
