package provisioning

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/espprov/espprov/internal/mapping"
	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/internal/rainmaker"
	"github.com/espprov/espprov/internal/thread"
	"github.com/espprov/espprov/internal/wifiprov"
	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/transports"
)

// ErrWifiFailed: the device could not join the Wi-Fi network.
var ErrWifiFailed = errors.New("the device could not connect to Wi-Fi")

// invalid builds an InvalidArgument status; nothing has been sent to the device.
func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// codeOf classifies an error from the session, security or transport layers.
func codeOf(err error) codes.Code {
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return s.Code()
	}
	switch {
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, mapping.ErrCloudAuth), errors.Is(err, rainmaker.ErrMalformedToken):
		return codes.Unauthenticated
	case errors.Is(err, mapping.ErrCloudUnavailable), errors.Is(err, mapping.ErrDeviceProtocol):
		return codes.Unavailable
	case errors.Is(err, mapping.ErrMappingTimedOut):
		return codes.DeadlineExceeded
	case errors.Is(err, mapping.ErrInvalidTag), errors.Is(err, mapping.ErrInvalidMetadata):
		return codes.InvalidArgument
	case errors.Is(err, mapping.ErrNotClaimed), errors.Is(err, mapping.ErrNoChalResp), errors.Is(err, mapping.ErrChalRespDisabled),
		errors.Is(err, mapping.ErrCloudRejected), errors.Is(err, mapping.ErrSignatureRejected), errors.Is(err, mapping.ErrMappingDiscarded),
		errors.Is(err, mapping.ErrNoMappingEndpoint), errors.Is(err, mapping.ErrDeviceRejected), errors.Is(err, errNotMapped):
		return codes.FailedPrecondition
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, transports.ErrTimeout):
		return codes.DeadlineExceeded
	case errors.Is(err, protocomm.ErrCredentialsRejected), errors.Is(err, security.ErrRejected):
		return codes.PermissionDenied
	case errors.Is(err, protocomm.ErrMissingPoP), errors.Is(err, protocomm.ErrMissingSRP),
		errors.Is(err, protocomm.ErrUnsupportedScheme), errors.Is(err, wifiprov.ErrInvalidCredentials),
		errors.Is(err, transports.ErrTooLarge), errors.Is(err, thread.ErrInvalid):
		return codes.InvalidArgument
	case errors.Is(err, ErrWifiFailed), errors.Is(err, ErrThreadFailed), errors.Is(err, transports.ErrNoEndpoint), errors.Is(err, wifiprov.ErrDevice):
		return codes.FailedPrecondition
	case errors.Is(err, transports.ErrUnreachable), errors.Is(err, transports.ErrClosed),
		errors.Is(err, transports.ErrProtocol), errors.Is(err, security.ErrProtocol), errors.Is(err, security.ErrDecrypt),
		errors.Is(err, wifiprov.ErrReply):
		return codes.Unavailable
	}
	return codes.Internal
}

// toStatus turns any error into a gRPC status error with an actionable message.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown {
		return err
	}
	code := codeOf(err)
	msg := err.Error()
	switch code {
	case codes.Unauthenticated:
		msg = fmt.Sprintf("%s; log in again or check the RainMaker credentials", msg)
	case codes.PermissionDenied:
		msg = fmt.Sprintf("%s; check the proof of possession (pop) or the Security 2 username and password", msg)
	case codes.DeadlineExceeded:
		msg = fmt.Sprintf("%s; the device stopped answering (is it still in provisioning mode and in range?)", msg)
	case codes.Unavailable:
		if errors.Is(err, mapping.ErrCloudUnavailable) {
			msg = fmt.Sprintf("%s; the RainMaker cloud did not answer: retry later or check the cloud URL", msg)
		} else {
			msg = fmt.Sprintf("%s; check that the device is powered, in provisioning mode and reachable", msg)
		}
	}
	return status.Error(code, msg)
}

// statusOf returns err if it already is a gRPC status error.
func statusOf(err error) (error, bool) {
	if s, ok := status.FromError(err); ok && s.Code() != codes.Unknown && s.Code() != codes.OK {
		return err, true
	}
	return nil, false
}

// deviceText turns bytes a device sent (SSIDs may be any bytes) into a
// string an API message can carry: invalid UTF-8 becomes U+FFFD.
func deviceText(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }
