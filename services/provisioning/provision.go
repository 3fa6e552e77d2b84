package provisioning

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/mapping"
	"github.com/espprov/espprov/internal/validate"
	"github.com/espprov/espprov/internal/wifiprov"
	"github.com/espprov/espprov/internal/wire/devicepb"
)

// emitter sends progress events; a failed Send (client gone) stops the flow.
type emitter struct {
	send func(*espprovv1.ProvisionResponse) error
	err  error
}

func (e *emitter) emit(ev *espprovv1.ProvisionResponse) error {
	if e.err != nil {
		return e.err
	}
	ev.Time = now()
	e.err = e.send(ev)
	return e.err
}

func validateProvision(req *espprovv1.ProvisionRequest) error {
	if err := validateCustomData(req.GetCustomData()); err != nil {
		return err
	}
	if req.GetReprovision() && (req.GetNoWifi() || req.GetDevice().GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK) {
		return invalid("reprovision gives the device new Wi-Fi credentials: it needs wifi (unset no_wifi, and use softap, httpd, ble or console)")
	}
	if req.GetDevice().GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK && !req.GetNoWifi() {
		return invalid("on-network devices are already on the network: set no_wifi (RainMaker mapping only), or use softap, httpd, ble or console to provision Wi-Fi")
	}
	if req.GetNoWifi() {
		if req.GetWifi().GetSsid() != "" || req.GetWifi().GetPassphrase() != "" || req.GetThread() != nil {
			return invalid("no_wifi is set: leave wifi and thread empty, or unset no_wifi to provision a network")
		}
		return nil
	}
	if req.GetThread() != nil {
		return validateThreadRequest(req)
	}
	if req.GetWifi().GetSsid() == "" {
		return invalid("wifi.ssid is required (use ScanWifi to list the networks the device sees), or set no_wifi for mapping only")
	}
	return checkFields(validate.Wifi(req.GetWifi()))
}

// retryFunc asks an interactive client for new credentials after a Wi-Fi
// or Thread failure; ok=false means give up.
type retryFunc func(ctx context.Context) (creds retryCreds, ok bool, err error)

// retryCreds are the credentials of an interactive retry: one is set.
type retryCreds struct {
	wifi   *espprovv1.WifiCredentials
	thread *espprovv1.ThreadCredentials
}

// Provision implements the RPC: see the API documentation for the events.
func (s *Service) Provision(req *espprovv1.ProvisionRequest, stream grpc.ServerStreamingServer[espprovv1.ProvisionResponse]) error {
	return s.runProvision(stream.Context(), req, stream.Send, nil)
}

// ProvisionInteractive implements the RPC.
func (s *Service) ProvisionInteractive(stream grpc.BidiStreamingServer[espprovv1.ProvisionInteractiveRequest, espprovv1.ProvisionInteractiveResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	req := first.GetStart()
	if req == nil {
		return invalid("the first ProvisionInteractive message must be start (a ProvisionRequest)")
	}
	send := func(ev *espprovv1.ProvisionResponse) error {
		return stream.Send(&espprovv1.ProvisionInteractiveResponse{Event: ev})
	}
	retry := func(ctx context.Context) (retryCreds, bool, error) {
		type recv struct {
			m   *espprovv1.ProvisionInteractiveRequest
			err error
		}
		ch := make(chan recv, 1)
		go func() {
			m, err := stream.Recv()
			ch <- recv{m, err}
		}()
		var r recv
		select {
		case r = <-ch:
		case <-ctx.Done():
			return retryCreds{}, false, ctx.Err()
		}
		if r.err != nil {
			return retryCreds{}, false, r.err
		}
		switch a := r.m.GetAction().(type) {
		case *espprovv1.ProvisionInteractiveRequest_Retry:
			return retryCreds{wifi: a.Retry}, true, nil
		case *espprovv1.ProvisionInteractiveRequest_RetryThread:
			return retryCreds{thread: a.RetryThread}, true, nil
		case *espprovv1.ProvisionInteractiveRequest_GiveUp:
			return retryCreds{}, false, nil
		}
		return retryCreds{}, false, invalid("after STEP_AWAITING_RETRY send retry (new credentials) or give_up")
	}
	return s.runProvision(stream.Context(), req, send, retry)
}

func (s *Service) runProvision(streamCtx context.Context, req *espprovv1.ProvisionRequest, send func(*espprovv1.ProvisionResponse) error, retry retryFunc) error {
	req, err := s.ApplyProfile(req)
	if err != nil {
		return err
	}
	if err := s.CheckProvision(req); err != nil {
		return err
	}
	to, _ := parseTimeouts(req.GetTimeouts()) // checked above
	em := &emitter{send: send}
	start := time.Now()
	log := s.log.With("transport", req.GetDevice().GetTransport().String(), "address", req.GetDevice().GetAddress(), "name", req.GetDevice().GetName())
	res, err := s.provision(streamCtx, req, to, em, retry)
	if em.err != nil {
		log.WarnContext(streamCtx, "provision: client went away", "error", em.err)
		return em.err
	}
	if err != nil {
		st := status.Convert(toStatus(err))
		if res == nil {
			res = &espprovv1.Result{}
		}
		res.Success = false
		res.ErrorCode = st.Code().String()
		res.Error = st.Message()
		res.FailureClass = failureClass(err, res)
		_ = em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_RESULT, Message: "Provisioning failed: " + st.Message(), Result: res})
		log.InfoContext(streamCtx, "provision failed", "code", st.Code().String(), "error", st.Message(), "elapsed", time.Since(start))
		return st.Err()
	}
	res.Success = true
	log.InfoContext(streamCtx, "provision succeeded", "ip", res.GetIp4Address(), "elapsed", time.Since(start))
	return em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_RESULT, Message: "Provisioning was successful", Result: res})
}

// provision runs one provisioning; every attempt (the first and each
// interactive retry) has its own overall deadline.
func (s *Service) provision(streamCtx context.Context, req *espprovv1.ProvisionRequest, to timeouts, em *emitter, retry retryFunc) (_ *espprovv1.Result, err error) {
	ctx, cancel := context.WithTimeout(streamCtx, to.overall)
	defer cancel()
	defer func() {
		if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = withClass(espprovv1.FailureClass_FAILURE_CLASS_DEADLINE, err) // whatever the last wait was
		}
	}()
	d := req.GetDevice()
	var plan *mapPlan
	if wantsMapping(req) {
		var err error
		if plan, err = s.prepareMapping(ctx, d, req.GetMapping(), req.GetNoWifi() || d.GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK); err != nil {
			return nil, err
		}
	}
	if err := em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_CONNECTING,
		Message: fmt.Sprintf("Connecting to device over %s", transportName(d.GetTransport()))}); err != nil {
		return nil, err
	}
	c, err := s.open(ctx, d, req.GetSecurity(), to, func(c *conn) error {
		if plan != nil {
			if err := plan.plan(c.version); err != nil {
				return err
			}
		}
		info := c.deviceInfo()
		if err := em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_SECURITY_DETECTED, DeviceInfo: info,
			Message: fmt.Sprintf("Security scheme %d (%s)", c.scheme, c.source)}); err != nil {
			return err
		}
		return c.needFor(req)
	})
	if err != nil {
		return nil, err
	}
	defer c.close()
	established := &espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_SESSION_ESTABLISHED, Message: "Secure session established"}
	if c.handshakeWait > 0 {
		established.HandshakeWait = durationpb.New(c.handshakeWait)
	}
	if err := em.emit(established); err != nil {
		return nil, err
	}
	// Application endpoints first: a missing one stops the flow before any
	// credential (mapping secret, Wi-Fi) is sent.
	if err := s.sendCustomData(ctx, c, req.GetCustomData(), em); err != nil {
		return nil, err
	}
	// Mapping before Wi-Fi: challenge-response, or the traditional flow's
	// user information (its cloud half follows Wi-Fi success).
	var nodeID, secretKey string
	mapped, notMapped := false, error(nil)
	if plan != nil {
		switch plan.flow {
		case mapping.FlowChallengeResponse:
			res, err := s.challengeResponse(ctx, c, plan, em.mappingEvent)
			if err != nil {
				return nil, err
			}
			nodeID, mapped = res.NodeID, true
		case mapping.FlowTraditional:
			nodeID, secretKey, err = mapping.TraditionalAssociate(ctx, c.sess, plan.userID)
			switch {
			case errors.Is(err, mapping.ErrNoMappingEndpoint):
				notMapped = err
				em.mappingEvent(mapping.Event{Flow: mapping.FlowTraditional, Message: "The device has no user-node association endpoint: Wi-Fi only, add the node to the account manually"})
			case err != nil:
				return nil, err
			default:
				em.mappingEvent(mapping.Event{Flow: mapping.FlowTraditional, NodeID: nodeID, Message: "User information sent to node " + nodeID})
			}
		}
		if em.err != nil {
			return nil, em.err
		}
	}
	if req.GetNoWifi() || d.GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK {
		return &espprovv1.Result{NodeId: nodeID, Mapped: mapped}, nil
	}
	if req.GetThread() != nil {
		if req.GetReprovision() {
			if err := s.reprovisionThread(ctx, c, em); err != nil {
				return nil, err
			}
		}
		res, tctx, err := s.provisionThread(ctx, streamCtx, c, req, to, em, retry)
		if res != nil {
			res.NodeId, res.Mapped = nodeID, mapped
		}
		if err != nil {
			return res, err
		}
		return s.afterNetwork(tctx, res, plan, nodeID, secretKey, notMapped, em)
	}
	creds := req.GetWifi()
	reprovRefused := false
	if req.GetReprovision() {
		if reprovRefused, err = s.reprovision(ctx, c, em); err != nil {
			return nil, err
		}
	}
	var res *espprovv1.Result
	for {
		res, err = s.wifiAttempt(ctx, c, req, creds, to, em)
		if errors.Is(err, wifiprov.ErrAlreadyApplied) {
			return nil, alreadyApplied(err, req.GetReprovision(), reprovRefused)
		}
		if err == nil || retry == nil || !res.GetDeviceReset() || em.err != nil {
			break
		}
		if eerr := em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_AWAITING_RETRY, Result: res, Network: espprovv1.NetworkType_NETWORK_TYPE_WIFI,
			Message: "Wi-Fi failed: " + err.Error() + "; waiting for new credentials or give_up"}); eerr != nil {
			return nil, eerr
		}
		cancel()
		next, ok, rerr := retry(streamCtx)
		if rerr != nil {
			return res, rerr
		}
		if !ok {
			return res, err
		}
		if next.wifi == nil {
			return res, invalid("retry after a Wi-Fi failure needs retry (Wi-Fi credentials)")
		}
		if verr := validate.Wifi(next.wifi); verr != nil {
			return res, invalid("retry: %v", verr)
		}
		creds = next.wifi
		ctx, cancel = context.WithTimeout(streamCtx, to.overall)
		defer cancel()
	}
	if res != nil {
		res.NodeId, res.Mapped = nodeID, mapped
	}
	if err != nil {
		return res, err
	}
	return s.afterNetwork(ctx, res, plan, nodeID, secretKey, notMapped, em)
}

// afterNetwork finishes a provisioning whose network joined: the
// traditional mapping's cloud half, or the "not mapped" outcome.
func (s *Service) afterNetwork(ctx context.Context, res *espprovv1.Result, plan *mapPlan, nodeID, secretKey string, notMapped error, em *emitter) (*espprovv1.Result, error) {
	switch {
	case notMapped != nil:
		return res, fmt.Errorf("%w: %w", errNotMapped, notMapped)
	case plan != nil && plan.flow == mapping.FlowTraditional:
		reqID, err := mapping.ConfirmTraditional(ctx, plan.cloud, mapping.ConfirmRequest{
			UserID: plan.userID, NodeID: nodeID, SecretKey: secretKey, Tags: plan.tags, Metadata: plan.metadata,
			PollInterval: plan.poll, MaxWait: plan.maxWait}, em.mappingEvent)
		if err != nil {
			return res, fmt.Errorf("%w: %w", errNotMapped, err)
		}
		s.log.InfoContext(ctx, "node mapped", "node", nodeID, "request", reqID)
		res.Mapped = true
	}
	return res, nil
}

// wifiAttempt sends credentials, applies them and follows the connection;
// after a failure it resets the device through prov-ctrl (unless disabled).
func (s *Service) wifiAttempt(ctx context.Context, c *conn, req *espprovv1.ProvisionRequest, creds *espprovv1.WifiCredentials, to timeouts, em *emitter) (*espprovv1.Result, error) {
	ssid, pass := []byte(creds.GetSsid()), []byte(creds.GetPassphrase())
	if err := c.wifi().SetConfig(ctx, ssid, pass); err != nil {
		return nil, err
	}
	if err := em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_CREDENTIALS_SENT, Message: fmt.Sprintf("Wi-Fi credentials for %q sent", ssid),
		Network: espprovv1.NetworkType_NETWORK_TYPE_WIFI}); err != nil {
		return nil, err
	}
	if err := c.wifi().ApplyConfig(ctx); err != nil {
		return nil, err
	}
	if err := em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_CONFIG_APPLIED, Message: "Wi-Fi configuration applied",
		Network: espprovv1.NetworkType_NETWORK_TYPE_WIFI}); err != nil {
		return nil, err
	}
	st, err := s.waitWifi(ctx, c, to, em)
	if err != nil {
		res := &espprovv1.Result{Ssid: deviceText(ssid), Network: espprovv1.NetworkType_NETWORK_TYPE_WIFI}
		if errors.Is(err, ErrWifiFailed) {
			res.FailReason = apiFailReason(st)
			if req.ResetOnFailure == nil || req.GetResetOnFailure() {
				if rerr := c.wifi().Reset(ctx); rerr != nil {
					s.log.WarnContext(ctx, "prov-ctrl reset failed", "error", rerr)
					err = fmt.Errorf("%w; resetting the device through prov-ctrl also failed (%v): reset the board to factory defaults", err, rerr)
				} else {
					res.DeviceReset = true
					if eerr := em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_DEVICE_RESET, Network: espprovv1.NetworkType_NETWORK_TYPE_WIFI,
						Message: "Device reset through prov-ctrl: it can be provisioned again"}); eerr != nil {
						return nil, eerr
					}
				}
			}
		}
		return res, err
	}
	return &espprovv1.Result{
		Ip4Address: st.IP, Ssid: deviceText(st.SSID), Bssid: wifiprov.FormatBSSID(st.BSSID), Channel: st.Channel,
		Network: espprovv1.NetworkType_NETWORK_TYPE_WIFI,
	}, nil
}

func transportName(t espprovv1.Transport) string {
	switch t {
	case espprovv1.Transport_TRANSPORT_SOFTAP:
		return "softap"
	case espprovv1.Transport_TRANSPORT_HTTPD:
		return "httpd"
	case espprovv1.Transport_TRANSPORT_BLE:
		return "ble"
	case espprovv1.Transport_TRANSPORT_CONSOLE:
		return "console"
	case espprovv1.Transport_TRANSPORT_ON_NETWORK:
		return "on-network"
	}
	return t.String()
}

func apiFailReason(st wifiprov.State) espprovv1.WifiFailReason {
	if !st.HasFailReason {
		return espprovv1.WifiFailReason_WIFI_FAIL_REASON_UNSPECIFIED
	}
	switch st.FailReason {
	case devicepb.WifiConnectFailedReason_AuthError:
		return espprovv1.WifiFailReason_WIFI_FAIL_REASON_AUTH_ERROR
	case devicepb.WifiConnectFailedReason_NetworkNotFound:
		return espprovv1.WifiFailReason_WIFI_FAIL_REASON_NETWORK_NOT_FOUND
	}
	return espprovv1.WifiFailReason_WIFI_FAIL_REASON_UNSPECIFIED
}

func apiWifiState(st wifiprov.State) *espprovv1.WifiState {
	ws := &espprovv1.WifiState{FailReason: apiFailReason(st), AttemptsRemaining: st.AttemptsRemaining}
	switch st.Station {
	case devicepb.WifiStationState_Connected:
		ws.State = espprovv1.WifiStationState_WIFI_STATION_STATE_CONNECTED
		ws.Ip4Address, ws.Ssid, ws.Bssid, ws.Channel = st.IP, deviceText(st.SSID), wifiprov.FormatBSSID(st.BSSID), st.Channel
		ws.Auth = apiAuth(st.Auth)
	case devicepb.WifiStationState_Connecting:
		ws.State = espprovv1.WifiStationState_WIFI_STATION_STATE_CONNECTING
	case devicepb.WifiStationState_Disconnected:
		ws.State = espprovv1.WifiStationState_WIFI_STATION_STATE_DISCONNECTED
	case devicepb.WifiStationState_ConnectionFailed:
		ws.State = espprovv1.WifiStationState_WIFI_STATION_STATE_CONNECTION_FAILED
	}
	return ws
}

func describeState(st wifiprov.State) string {
	switch st.Station {
	case devicepb.WifiStationState_Connected:
		return fmt.Sprintf("Wi-Fi state: Connected (IP %s)", st.IP)
	case devicepb.WifiStationState_Connecting:
		if st.AttemptsRemaining != nil {
			return fmt.Sprintf("Wi-Fi state: Connecting (attempt failed, %d attempts remaining)", *st.AttemptsRemaining)
		}
		return "Wi-Fi state: Connecting"
	case devicepb.WifiStationState_Disconnected:
		return "Wi-Fi state: Disconnected"
	case devicepb.WifiStationState_ConnectionFailed:
		return "Wi-Fi state: Connection failed (" + failText(st) + ")"
	}
	return fmt.Sprintf("Wi-Fi state: %d", st.Station)
}

func failText(st wifiprov.State) string {
	if !st.HasFailReason {
		return "no reason given"
	}
	switch st.FailReason {
	case devicepb.WifiConnectFailedReason_AuthError:
		return "AuthError: wrong passphrase"
	case devicepb.WifiConnectFailedReason_NetworkNotFound:
		return "NetworkNotFound: the SSID was not found"
	}
	return fmt.Sprintf("reason %d", st.FailReason)
}

// waitWifi polls GetStatus until the device is connected or has failed,
// reporting every change of state (pollStatus: poll.Schedule timing).
func (s *Service) waitWifi(ctx context.Context, c *conn, to timeouts, em *emitter) (wifiprov.State, error) {
	var last *espprovv1.WifiState
	return pollStatus(ctx, s, statusPoll[wifiprov.State]{
		network: "Wi-Fi", join: "connect to Wi-Fi", limit: to.wifi, interval: to.poll, fixed: to.pollSet,
		read: c.wifi().GetStatus,
		report: func(st wifiprov.State) error {
			ws := apiWifiState(st)
			if last != nil && sameState(last, ws) {
				return nil
			}
			last = ws
			return em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_WIFI_STATE, WifiState: ws, Message: describeState(st),
				Network: espprovv1.NetworkType_NETWORK_TYPE_WIFI})
		},
		final: func(st wifiprov.State) (bool, error) {
			switch st.Station {
			case devicepb.WifiStationState_Connected:
				return true, nil
			case devicepb.WifiStationState_ConnectionFailed, devicepb.WifiStationState_Disconnected:
				return true, fmt.Errorf("%w: %s", ErrWifiFailed, failText(st))
			}
			return false, nil
		},
	})
}

func sameState(a, b *espprovv1.WifiState) bool {
	if a.GetState() != b.GetState() || a.GetFailReason() != b.GetFailReason() || a.GetIp4Address() != b.GetIp4Address() {
		return false
	}
	if (a.AttemptsRemaining == nil) != (b.AttemptsRemaining == nil) {
		return false
	}
	return a.AttemptsRemaining == nil || *a.AttemptsRemaining == *b.AttemptsRemaining
}
