package provisioning

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/netprov"
	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/internal/thread"
	"github.com/espprov/espprov/internal/validate"
	"github.com/espprov/espprov/internal/wifiprov"
	pb "github.com/espprov/espprov/internal/wire/netprovpb"
)

// ESP-IDF 6 network_provisioning: the generation of a device, its network
// types, and the Thread flow (the Wi-Fi flow is shared with
// wifi_provisioning through wifiprov.Client).

// ErrThreadFailed: the device could not attach to the Thread network.
var ErrThreadFailed = errors.New("the device could not attach to the Thread network")

// DefaultThreadAttachTimeout bounds the wait for a Thread attach.
const DefaultThreadAttachTimeout = 60 * time.Second

// setGeneration fixes the generation (override, else proto-ver) and the
// network types offered.
func (c *conn) setGeneration(override espprovv1.ProvGeneration) {
	c.gen = c.version.Generation()
	switch override {
	case espprovv1.ProvGeneration_PROV_GENERATION_WIFI_PROVISIONING:
		c.gen = protocomm.GenerationWifiProv
	case espprovv1.ProvGeneration_PROV_GENERATION_NETWORK_PROVISIONING:
		c.gen = protocomm.GenerationNetProv
	}
	c.hasWifi, c.hasThread = c.version.Networks(c.gen)
}

// wifi returns the Wi-Fi client of the device's generation.
func (c *conn) wifi() wifiprov.Client {
	if c.gen == protocomm.GenerationNetProv {
		return netprov.Wifi{C: c.sess}
	}
	return wifiprov.Legacy{C: c.sess}
}

// offered names the network types the device offers, for errors.
func (c *conn) offered() string {
	var n []string
	if c.hasWifi {
		n = append(n, "Wi-Fi")
	}
	if c.hasThread {
		n = append(n, "Thread")
	}
	if len(n) == 0 {
		return "no network type"
	}
	return strings.Join(n, " and ")
}

// need refuses an operation on a network type the device does not offer.
func (c *conn) need(t espprovv1.NetworkType, what string) error {
	ok := (t == espprovv1.NetworkType_NETWORK_TYPE_WIFI && c.hasWifi) || (t == espprovv1.NetworkType_NETWORK_TYPE_THREAD && c.hasThread)
	if ok {
		return nil
	}
	name := "Wi-Fi"
	hint := "use thread credentials and ScanThread"
	if t == espprovv1.NetworkType_NETWORK_TYPE_THREAD {
		name, hint = "Thread", "use wifi credentials and ScanWifi"
	}
	if !c.hasWifi && !c.hasThread {
		hint = "check the firmware's network_provisioning configuration"
	}
	return status.Errorf(codes.FailedPrecondition, "cannot %s: the device (%s, proto-ver %q) offers %s, not %s; %s (nothing was sent)",
		what, c.gen, c.version.Ver, c.offered(), name, hint)
}

// needFor checks a ProvisionRequest's network type against the device.
func (c *conn) needFor(req *espprovv1.ProvisionRequest) error {
	switch {
	case req.GetNoWifi() || req.GetDevice().GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK:
		return nil
	case req.GetThread() != nil:
		return c.need(espprovv1.NetworkType_NETWORK_TYPE_THREAD, "provision Thread")
	}
	return c.need(espprovv1.NetworkType_NETWORK_TYPE_WIFI, "provision Wi-Fi")
}

func apiGeneration(g protocomm.Generation) espprovv1.ProvGeneration {
	switch g {
	case protocomm.GenerationWifiProv:
		return espprovv1.ProvGeneration_PROV_GENERATION_WIFI_PROVISIONING
	case protocomm.GenerationNetProv:
		return espprovv1.ProvGeneration_PROV_GENERATION_NETWORK_PROVISIONING
	}
	return espprovv1.ProvGeneration_PROV_GENERATION_UNSPECIFIED
}

func networkTypes(wifi, thr bool) []espprovv1.NetworkType {
	var out []espprovv1.NetworkType
	if wifi {
		out = append(out, espprovv1.NetworkType_NETWORK_TYPE_WIFI)
	}
	if thr {
		out = append(out, espprovv1.NetworkType_NETWORK_TYPE_THREAD)
	}
	return out
}

// ThreadDataset validates Thread credentials and returns the dataset TLVs
// to send (package validate holds the rules, shared with the CLI).
func ThreadDataset(tc *espprovv1.ThreadCredentials) ([]byte, error) {
	return validate.ThreadDataset(tc)
}

func validateThreadRequest(req *espprovv1.ProvisionRequest) error {
	if req.GetWifi().GetSsid() != "" || req.GetWifi().GetPassphrase() != "" {
		return invalid("set wifi or thread credentials, not both")
	}
	if _, err := ThreadDataset(req.GetThread()); err != nil {
		return invalid("%v", err)
	}
	return nil
}

// reprovisionThread asks the device to forget its earlier Thread dataset
// (prov-ctrl thread reprov); a refusal leaves the normal flow to report it.
func (s *Service) reprovisionThread(ctx context.Context, c *conn, em *emitter) error {
	err := netprov.ThreadReprov(ctx, c.sess)
	switch {
	case errors.Is(err, wifiprov.ErrReprovRefused):
		s.log.InfoContext(ctx, "prov-ctrl thread reprov refused; continuing with the normal flow")
		return nil
	case err != nil:
		return err
	}
	return em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_REPROVISIONED, Network: espprovv1.NetworkType_NETWORK_TYPE_THREAD,
		Message: "Device re-provisioning: it forgot its earlier Thread dataset"})
}

// provisionThread sends the dataset, applies it and follows the attach; at
// an interactive client's request it retries with new credentials on the
// same session after a reset.
// It returns the context of the last attempt.
func (s *Service) provisionThread(ctx, streamCtx context.Context, c *conn, req *espprovv1.ProvisionRequest, to timeouts, em *emitter, retry retryFunc) (*espprovv1.Result, context.Context, error) {
	creds := req.GetThread()
	for {
		res, err := s.threadAttempt(ctx, c, req, creds, to, em)
		if err == nil || retry == nil || !res.GetDeviceReset() || em.err != nil {
			return res, ctx, err
		}
		if eerr := em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_AWAITING_RETRY, Result: res,
			Network: espprovv1.NetworkType_NETWORK_TYPE_THREAD,
			Message: "Thread attach failed: " + err.Error() + "; waiting for new credentials or give_up"}); eerr != nil {
			return nil, ctx, eerr
		}
		next, ok, rerr := retry(streamCtx)
		switch {
		case rerr != nil:
			return res, ctx, rerr
		case !ok:
			return res, ctx, err
		case next.thread == nil:
			return res, ctx, invalid("retry after a Thread failure needs retry_thread (Thread credentials)")
		}
		if _, verr := ThreadDataset(next.thread); verr != nil {
			return res, ctx, invalid("retry: %v", verr)
		}
		creds = next.thread
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(streamCtx, to.overall)
		defer cancel()
	}
}

// threadAttempt is one Thread provisioning attempt.
func (s *Service) threadAttempt(ctx context.Context, c *conn, req *espprovv1.ProvisionRequest, creds *espprovv1.ThreadCredentials, to timeouts, em *emitter) (*espprovv1.Result, error) {
	thr := espprovv1.NetworkType_NETWORK_TYPE_THREAD
	dataset, err := ThreadDataset(creds)
	if err != nil {
		return nil, invalid("%v", err)
	}
	ds, _ := thread.Parse(dataset)
	res := &espprovv1.Result{Network: thr}
	if err := netprov.ThreadSetConfig(ctx, c.sess, dataset); err != nil {
		return res, err
	}
	if err := em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_CREDENTIALS_SENT, Network: thr,
		Message: fmt.Sprintf("Thread dataset for PAN ID 0x%04x, channel %d sent", ds.PanID, ds.Channel)}); err != nil {
		return nil, err
	}
	var st netprov.ThreadState
	applyErr := netprov.ThreadApplyConfig(ctx, c.sess)
	switch {
	case errors.Is(applyErr, netprov.ErrApplyFailed):
		// The firmware fails the apply of a dataset it cannot parse and
		// keeps the reason in the Thread status.
		// A device that answers Attached/Attaching instead applied a dataset
		// earlier in this provisioning run (as Wi-Fi's ErrAlreadyApplied).
		var rerr error
		st, rerr = netprov.ThreadStatus(ctx, c.sess)
		switch {
		case rerr != nil:
			return res, applyErr
		case st.State != pb.ThreadNetworkState_AttachingFailed:
			return res, alreadyApplied(fmt.Errorf("the device already applied a Thread dataset in this provisioning run (%w)", applyErr), req.GetReprovision(), false)
		}
		err = fmt.Errorf("%w: %s", ErrThreadFailed, threadFailText(st))
		_ = em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_THREAD_STATE, Network: thr, ThreadState: apiThreadState(st), Message: describeThread(st)})
	case applyErr != nil:
		return res, applyErr
	default:
		if err := em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_CONFIG_APPLIED, Network: thr, Message: "Thread dataset applied"}); err != nil {
			return nil, err
		}
		st, err = s.waitThread(ctx, c, to, em)
	}
	if err == nil {
		res.Thread = apiThreadState(st)
		return res, nil
	}
	if em.err != nil {
		return nil, em.err
	}
	if errors.Is(err, ErrThreadFailed) {
		res.Thread = apiThreadState(st)
		if req.ResetOnFailure == nil || req.GetResetOnFailure() {
			if rerr := netprov.ThreadReset(ctx, c.sess); rerr != nil {
				s.log.WarnContext(ctx, "prov-ctrl thread reset failed", "error", rerr)
				err = fmt.Errorf("%w; resetting the device through prov-ctrl also failed (%v): reset the board to factory defaults", err, rerr)
			} else {
				res.DeviceReset = true
				if eerr := em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_DEVICE_RESET, Network: thr,
					Message: "Device reset through prov-ctrl: it can be provisioned again"}); eerr != nil {
					return nil, eerr
				}
			}
		}
	}
	return res, err
}

// waitThread polls the Thread status until attached or failed.
func (s *Service) waitThread(ctx context.Context, c *conn, to timeouts, em *emitter) (netprov.ThreadState, error) {
	var last *espprovv1.ThreadState
	return pollStatus(ctx, s, statusPoll[netprov.ThreadState]{
		network: "Thread", join: "attach to the Thread network", limit: to.thread, interval: to.poll, fixed: to.pollSet,
		read: func(ctx context.Context) (netprov.ThreadState, error) { return netprov.ThreadStatus(ctx, c.sess) },
		report: func(st netprov.ThreadState) error {
			ts := apiThreadState(st)
			if last != nil && last.GetState() == ts.GetState() && last.GetFailReason() == ts.GetFailReason() {
				return nil
			}
			last = ts
			return em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_THREAD_STATE, Network: espprovv1.NetworkType_NETWORK_TYPE_THREAD,
				ThreadState: ts, Message: describeThread(st)})
		},
		final: func(st netprov.ThreadState) (bool, error) {
			switch st.State {
			case pb.ThreadNetworkState_Attached:
				return true, nil
			case pb.ThreadNetworkState_AttachingFailed, pb.ThreadNetworkState_Dettached:
				return true, fmt.Errorf("%w: %s", ErrThreadFailed, threadFailText(st))
			}
			return false, nil
		},
	})
}

func apiThreadState(st netprov.ThreadState) *espprovv1.ThreadState {
	ts := &espprovv1.ThreadState{}
	switch st.State {
	case pb.ThreadNetworkState_Attached:
		ts.State = espprovv1.ThreadAttachState_THREAD_ATTACH_STATE_ATTACHED
		ts.PanId, ts.Channel, ts.ExtPanId, ts.NetworkName = st.PanID, st.Channel, fmt.Sprintf("%x", st.ExtPanID), deviceText([]byte(st.Name))
	case pb.ThreadNetworkState_Attaching:
		ts.State = espprovv1.ThreadAttachState_THREAD_ATTACH_STATE_ATTACHING
	case pb.ThreadNetworkState_Dettached:
		ts.State = espprovv1.ThreadAttachState_THREAD_ATTACH_STATE_DETACHED
	case pb.ThreadNetworkState_AttachingFailed:
		ts.State = espprovv1.ThreadAttachState_THREAD_ATTACH_STATE_ATTACHING_FAILED
	}
	if st.HasFailReason {
		switch st.FailReason {
		case pb.ThreadAttachFailedReason_DatasetInvalid:
			ts.FailReason = espprovv1.ThreadFailReason_THREAD_FAIL_REASON_DATASET_INVALID
		case pb.ThreadAttachFailedReason_ThreadNetworkNotFound:
			ts.FailReason = espprovv1.ThreadFailReason_THREAD_FAIL_REASON_NETWORK_NOT_FOUND
		}
	}
	return ts
}

func threadFailText(st netprov.ThreadState) string {
	if !st.HasFailReason {
		return "no reason given"
	}
	switch st.FailReason {
	case pb.ThreadAttachFailedReason_DatasetInvalid:
		return "DatasetInvalid: the device could not parse the dataset"
	case pb.ThreadAttachFailedReason_ThreadNetworkNotFound:
		return "ThreadNetworkNotFound: no such network in range, or a wrong network key"
	}
	return fmt.Sprintf("reason %d", st.FailReason)
}

func describeThread(st netprov.ThreadState) string {
	switch st.State {
	case pb.ThreadNetworkState_Attached:
		return fmt.Sprintf("Thread state: Attached (%q, PAN ID 0x%04x, channel %d)", deviceText([]byte(st.Name)), st.PanID, st.Channel)
	case pb.ThreadNetworkState_Attaching:
		return "Thread state: Attaching"
	case pb.ThreadNetworkState_Dettached:
		return "Thread state: Detached (" + threadFailText(st) + ")"
	case pb.ThreadNetworkState_AttachingFailed:
		return "Thread state: Attaching failed (" + threadFailText(st) + ")"
	}
	return fmt.Sprintf("Thread state: %d", st.State)
}

// ScanThread implements the RPC.
func (s *Service) ScanThread(ctx context.Context, req *espprovv1.ScanThreadRequest) (*espprovv1.ScanThreadResponse, error) {
	to, err := s.checkRequest(req.GetDevice(), req.GetSecurity(), req.GetTimeouts())
	if err != nil {
		return nil, err
	}
	if req.GetDevice().GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK {
		return nil, status.Error(codes.FailedPrecondition, "on-network devices are already connected and serve no Thread scan; use softap, httpd, ble or console")
	}
	ctx, cancel := context.WithTimeout(ctx, to.overall)
	defer cancel()
	c, err := s.open(ctx, req.GetDevice(), req.GetSecurity(), to, func(c *conn) error {
		return c.need(espprovv1.NetworkType_NETWORK_TYPE_THREAD, "scan for Thread networks")
	})
	if err != nil {
		return nil, toStatus(err)
	}
	defer c.close()
	if c.version.JSON && c.version.HasProv && !c.version.Has("thread_scan") {
		return nil, status.Error(codes.FailedPrecondition, "the device does not support Thread scanning (no thread_scan capability); pass the dataset directly")
	}
	nets, err := netprov.ThreadScan(ctx, c.sess, pageSize(c.raw))
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &espprovv1.ScanThreadResponse{DeviceInfo: c.deviceInfo()}
	for _, n := range nets {
		ext := ""
		if !bytes.Equal(n.ExtPanID, make([]byte, len(n.ExtPanID))) {
			ext = fmt.Sprintf("%x", n.ExtPanID)
		}
		resp.Networks = append(resp.Networks, &espprovv1.ThreadNetwork{
			PanId: n.PanID, Channel: n.Channel, ExtPanId: ext, NetworkName: deviceText([]byte(n.NetworkName)),
			Rssi: n.RSSI, Lqi: n.LQI, ExtAddress: fmt.Sprintf("%x", n.ExtAddr),
		})
	}
	s.log.InfoContext(ctx, "thread scan", "transport", req.GetDevice().GetTransport().String(), "networks", len(nets))
	return resp, nil
}
