package provisioning

import (
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/transports"
)

// checkFields turns the first validation error into InvalidArgument.
func checkFields(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return invalid("%v", err)
		}
	}
	return nil
}

// notProtocomm reports a peer that answers, but not as an ESP
// provisioning endpoint (a web server, another service, the wrong port).
// Transport failures that are not about the reply pass through.
func notProtocomm(d *espprovv1.Device, err error) error {
	if _, ok := statusOf(err); ok {
		return err
	}
	if !errors.Is(err, transports.ErrProtocol) && !errors.Is(err, transports.ErrNoEndpoint) && !strings.Contains(err.Error(), "proto-ver reply") {
		return err
	}
	return withClass(espprovv1.FailureClass_FAILURE_CLASS_PROTOCOL, status.Errorf(codes.Unavailable, "%s is not an ESP provisioning endpoint: %v; check the address and port (the device's provisioning service, e.g. 192.168.4.1:80 on its soft-AP) and the transport", describeDevice(d), err))
}

// schemeMismatch refuses an explicitly requested scheme that the device's
// proto-ver says it does not use.
func schemeMismatch(secVer int, req protocomm.Scheme) error {
	if req == protocomm.Auto || secVer < 0 || protocomm.Scheme(secVer) == req {
		return nil
	}
	return withClass(espprovv1.FailureClass_FAILURE_CLASS_PROTOCOL, status.Errorf(codes.FailedPrecondition,
		"the device uses Security %d (proto-ver sec_ver %d) but Security %d was requested: leave security.scheme unset to auto-detect, or request Security %d with its credentials",
		secVer, secVer, int(req), secVer))
}
