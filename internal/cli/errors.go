package cli

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// callKind says what an RPC was doing, to classify its errors.
type callKind struct {
	mapping bool // RainMaker mapping was requested
	remote  string
}

// apiErr turns an RPC error into an exitError with the exit code of its
// class and a message naming the CLI flags. res is the last result event,
// if any.
func apiErr(err error, res *espprovv1.Result, k callKind) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	st := status.Convert(err)
	msg := flagHint(st.Message())
	code := ExitInternal
	lower := strings.ToLower(msg)
	cloudish := strings.Contains(lower, "rainmaker") || strings.Contains(lower, "cloud")
	switch st.Code() {
	case codes.InvalidArgument, codes.OutOfRange:
		code = ExitUsage
	case codes.PermissionDenied:
		code = ExitCredentials
	case codes.Unauthenticated:
		code = ExitCloud
		msg += " (run 'espprov login' to sign in again)"
	case codes.FailedPrecondition, codes.DeadlineExceeded:
		switch {
		case isThreadResult(res):
			code = ExitWifi
			switch res.GetThread().GetFailReason() {
			case espprovv1.ThreadFailReason_THREAD_FAIL_REASON_NETWORK_NOT_FOUND:
				msg += "; check the network key (--dataset or --thread-network-key) and that the Thread network is in range of the device"
			case espprovv1.ThreadFailReason_THREAD_FAIL_REASON_DATASET_INVALID:
				msg += "; check the dataset (--dataset)"
			}
			if res.GetDeviceReset() {
				msg += ". The device was reset to provisioning mode: run the command again"
			}
		case isWifiResult(res):
			code = ExitWifi
			switch res.GetFailReason() {
			case espprovv1.WifiFailReason_WIFI_FAIL_REASON_AUTH_ERROR:
				msg += "; check the passphrase (--passphrase)"
			case espprovv1.WifiFailReason_WIFI_FAIL_REASON_NETWORK_NOT_FOUND:
				msg += "; check the SSID (--ssid) and that the network is in range of the device"
			}
			if res.GetDeviceReset() {
				msg += ". The device was reset to provisioning mode: run the command again"
			}
		case k.mapping && cloudish:
			code = ExitCloud
		default:
			code = ExitDevice
		}
	case codes.Unavailable, codes.NotFound, codes.Aborted, codes.ResourceExhausted:
		code = ExitDevice
		if k.mapping && cloudish {
			code = ExitCloud
		}
		if k.remote != "" && res == nil && strings.Contains(lower, "connection") {
			msg = "cannot reach espprovd at " + k.remote + ": " + msg
		}
	case codes.Unimplemented:
		code = ExitDevice
		if k.mapping && !strings.Contains(lower, "transport") {
			code = ExitCloud
			msg = "ESP RainMaker mapping is not available in this espprov engine yet (" + msg + "); provision Wi-Fi only: log out or drop --no-wifi/--tags/--metadata"
		}
	case codes.Canceled:
		return context.Canceled
	}
	return &exitError{code: code, msg: msg}
}
