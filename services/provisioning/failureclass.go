package provisioning

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/mapping"
	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/internal/rainmaker"
	"github.com/espprov/espprov/internal/wifiprov"
	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/transports"
)

// classed is a status error that keeps the failure class of the typed
// error it replaced (a status built from a transport error no longer
// wraps it).
type classed struct {
	err   error
	class espprovv1.FailureClass
}

func (c *classed) Error() string              { return c.err.Error() }
func (c *classed) Unwrap() error              { return c.err }
func (c *classed) GRPCStatus() *status.Status { return status.Convert(toStatus(c.err)) }

// withClass attaches a failure class to an error (its status stays the
// one toStatus gives it).
func withClass(class espprovv1.FailureClass, err error) error {
	return &classed{err: err, class: class}
}

// failureClass says what kind of failure err (with the result so far) is:
// the device's own reason first, then the typed error, then the code.
func failureClass(err error, res *espprovv1.Result) espprovv1.FailureClass {
	switch res.GetFailReason() {
	case espprovv1.WifiFailReason_WIFI_FAIL_REASON_AUTH_ERROR:
		return espprovv1.FailureClass_FAILURE_CLASS_WIFI_AUTH
	case espprovv1.WifiFailReason_WIFI_FAIL_REASON_NETWORK_NOT_FOUND:
		return espprovv1.FailureClass_FAILURE_CLASS_NETWORK_NOT_FOUND
	}
	if res.GetThread().GetFailReason() == espprovv1.ThreadFailReason_THREAD_FAIL_REASON_NETWORK_NOT_FOUND {
		return espprovv1.FailureClass_FAILURE_CLASS_NETWORK_NOT_FOUND
	}
	var c *classed
	if errors.As(err, &c) {
		return c.class
	}
	switch {
	case errors.Is(err, context.Canceled):
		return espprovv1.FailureClass_FAILURE_CLASS_CANCELLED
	case errors.Is(err, protocomm.ErrCredentialsRejected), errors.Is(err, security.ErrRejected):
		return espprovv1.FailureClass_FAILURE_CLASS_WRONG_POP
	case errors.Is(err, mapping.ErrDeviceProtocol):
		return espprovv1.FailureClass_FAILURE_CLASS_PROTOCOL
	case errors.Is(err, mapping.ErrCloudAuth), errors.Is(err, mapping.ErrCloudUnavailable), errors.Is(err, mapping.ErrCloudRejected),
		errors.Is(err, mapping.ErrSignatureRejected), errors.Is(err, mapping.ErrMappingTimedOut), errors.Is(err, mapping.ErrMappingDiscarded),
		errors.Is(err, rainmaker.ErrUnauthenticated), errors.Is(err, rainmaker.ErrUnavailable), errors.Is(err, rainmaker.ErrBadResponse),
		errors.Is(err, rainmaker.ErrMalformedToken), errors.Is(err, rainmaker.ErrRegionMismatch):
		return espprovv1.FailureClass_FAILURE_CLASS_CLOUD
	case errors.Is(err, transports.ErrUnreachable):
		return espprovv1.FailureClass_FAILURE_CLASS_DEVICE_UNREACHABLE
	case errors.Is(err, transports.ErrTimeout), errors.Is(err, transports.ErrClosed):
		return espprovv1.FailureClass_FAILURE_CLASS_DEVICE_STOPPED_ANSWERING
	case errors.Is(err, context.DeadlineExceeded):
		return espprovv1.FailureClass_FAILURE_CLASS_DEADLINE
	case errors.Is(err, transports.ErrProtocol), errors.Is(err, transports.ErrNoEndpoint), errors.Is(err, security.ErrProtocol),
		errors.Is(err, security.ErrDecrypt), errors.Is(err, wifiprov.ErrReply):
		return espprovv1.FailureClass_FAILURE_CLASS_PROTOCOL
	}
	return FailureClassOf(codeOf(err))
}

// FailureClassOf is the class a bare status code implies (the job runner
// uses it for failures it records itself).
func FailureClassOf(code codes.Code) espprovv1.FailureClass {
	switch code {
	case codes.OK:
		return espprovv1.FailureClass_FAILURE_CLASS_UNSPECIFIED
	case codes.Canceled:
		return espprovv1.FailureClass_FAILURE_CLASS_CANCELLED
	case codes.DeadlineExceeded:
		return espprovv1.FailureClass_FAILURE_CLASS_DEADLINE
	case codes.PermissionDenied:
		return espprovv1.FailureClass_FAILURE_CLASS_WRONG_POP
	case codes.Aborted:
		return espprovv1.FailureClass_FAILURE_CLASS_DEVICE_BUSY
	case codes.Unauthenticated:
		return espprovv1.FailureClass_FAILURE_CLASS_CLOUD
	}
	return espprovv1.FailureClass_FAILURE_CLASS_OTHER
}
