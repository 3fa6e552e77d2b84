package device

import (
	"bytes"
	"cmp"
	"crypto/sha256"

	"fmt"
	"slices"
	"time"

	"github.com/espprov/espprov/internal/thread"
	"github.com/espprov/espprov/internal/wire/devicepb"
	pb "github.com/espprov/espprov/internal/wire/netprovpb"
)

// Thread defaults (network_provisioning manager.c).
const (
	// DefaultThreadAttachDelay is how long a good dataset takes to attach.
	DefaultThreadAttachDelay = 2 * time.Second
	// DefaultThreadAttachTimeout is the firmware's attach timer: without an
	// attach by then the device reports ThreadNetworkNotFound.
	DefaultThreadAttachTimeout = 20 * time.Second
)

// ThreadNetwork is a Thread network in range of the simulated device,
// described by its active operational dataset.
type ThreadNetwork struct {
	// Dataset is the network's active operational dataset (TLVs); it must
	// name the network key, PAN ID, extended PAN ID and channel.
	Dataset []byte
	// RSSI in dBm; 0 means -70.
	RSSI int
	// LQI 0..255; 0 means 200.
	LQI int
	// ExtAddr is the beaconing router's extended address; zero derives one.
	ExtAddr [8]byte

	parsed thread.Dataset
}

// String describes the network without its key.
func (n ThreadNetwork) String() string {
	return fmt.Sprintf("ThreadNetwork{%s rssi=%d lqi=%d}", n.parsed, n.RSSI, n.LQI)
}

func normalizeThread(i int, n ThreadNetwork) (ThreadNetwork, error) {
	d, err := thread.Parse(n.Dataset)
	if err == nil {
		err = d.CheckComplete()
	}
	if err != nil {
		return n, fmt.Errorf("Thread network %d: %w", i, err)
	}
	n.parsed = d
	n.Dataset = bytes.Clone(n.Dataset)
	if n.RSSI == 0 {
		n.RSSI = -70
	}
	if n.RSSI > 0 || n.RSSI < -128 {
		return n, fmt.Errorf("Thread network %d: RSSI %d outside -128..-1", i, n.RSSI)
	}
	if n.LQI == 0 {
		n.LQI = 200
	}
	if n.LQI < 0 || n.LQI > 255 {
		return n, fmt.Errorf("Thread network %d: LQI %d outside 0..255", i, n.LQI)
	}
	if n.ExtAddr == ([8]byte{}) {
		h := sha256.Sum256(n.Dataset)
		copy(n.ExtAddr[:], h[:8])
	}
	return n, nil
}

// ThreadState is the simulated device's Thread state.
type ThreadState int

const (
	// ThreadIdle: no dataset applied (status answers Attaching, like firmware).
	ThreadIdle ThreadState = iota
	ThreadAttaching
	ThreadAttached
	ThreadFailed
)

func (s ThreadState) String() string {
	switch s {
	case ThreadIdle:
		return "idle"
	case ThreadAttaching:
		return "attaching"
	case ThreadAttached:
		return "attached"
	case ThreadFailed:
		return "failed"
	}
	return fmt.Sprintf("ThreadState(%d)", int(s))
}

// ThreadStatus is a snapshot of the simulated Thread interface (no key).
type ThreadStatus struct {
	State ThreadState
	// DatasetInvalid or NetworkNotFound when failed.
	FailReason pb.ThreadAttachFailedReason
	// Network is the network name once attached.
	Network string
	Stopped bool
}

type threadState struct {
	pending []byte
	applied []byte
	applyAt time.Time
	// invalid: the applied dataset did not parse (failed at once).
	invalid bool
	stopAt  time.Time

	scanning    bool
	scanDoneAt  time.Time
	scanResults []ThreadNetwork
}

type threadOutcome struct {
	state  ThreadState
	reason pb.ThreadAttachFailedReason
	net    ThreadNetwork
	doneAt time.Time
}

func (d *Device) threadEvalLocked(now time.Time) threadOutcome {
	t := &d.thread
	switch {
	case t.applied == nil:
		return threadOutcome{state: ThreadIdle}
	case t.invalid:
		return threadOutcome{state: ThreadFailed, reason: pb.ThreadAttachFailedReason_DatasetInvalid}
	}
	ds, _ := thread.Parse(t.applied)
	for _, n := range d.cfg.ThreadNetworks {
		p := n.parsed
		if ds.HasPanID && ds.HasExtPanID && ds.HasChannel && ds.HasNetworkKey &&
			p.PanID == ds.PanID && p.ExtPanID == ds.ExtPanID && p.Channel == ds.Channel && p.NetworkKey == ds.NetworkKey {
			at := t.applyAt.Add(d.cfg.ThreadAttachDelay)
			if now.Before(at) {
				return threadOutcome{state: ThreadAttaching}
			}
			return threadOutcome{state: ThreadAttached, net: n, doneAt: at}
		}
	}
	// No network with this key: MLE never gets a parent, the firmware's
	// timer fires and reports "network not found" (it cannot tell a wrong
	// key from an absent network).
	if now.Before(t.applyAt.Add(d.cfg.ThreadAttachTimeout)) {
		return threadOutcome{state: ThreadAttaching}
	}
	return threadOutcome{state: ThreadFailed, reason: pb.ThreadAttachFailedReason_ThreadNetworkNotFound}
}

// Thread returns the simulated Thread status.
func (d *Device) Thread() ThreadStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Now()
	o := d.threadEvalLocked(now)
	return ThreadStatus{State: o.state, FailReason: o.reason, Network: o.net.parsed.NetworkName, Stopped: d.stoppedLocked(now)}
}

func (d *Device) threadStoppedLocked(now time.Time) bool {
	if !d.thread.stopAt.IsZero() && !now.Before(d.thread.stopAt) {
		return true
	}
	o := d.threadEvalLocked(now)
	return o.state == ThreadAttached && !now.Before(o.doneAt.Add(d.cfg.AutoStopTimeout))
}

// handleThreadConfig answers the Thread half of prov-config.
func (d *Device) handleThreadConfig(in *pb.NetworkConfigPayload) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Now()
	out := &pb.NetworkConfigPayload{Msg: in.GetMsg() + 1}
	bad := devicepb.Status_Success
	if !d.cfg.Thread {
		bad = devicepb.Status_InvalidArgument // firmware built without Thread
	}
	switch in.GetMsg() {
	case pb.NetworkConfigMsgType_TypeCmdGetThreadStatus:
		r := &pb.RespGetThreadStatus{Status: bad}
		if bad == devicepb.Status_Success {
			d.threadStatusLocked(now, r)
		}
		out.Payload = &pb.NetworkConfigPayload_RespGetThreadStatus{RespGetThreadStatus: r}
	case pb.NetworkConfigMsgType_TypeCmdSetThreadConfig:
		sc := in.GetCmdSetThreadConfig()
		if sc == nil {
			return nil, fmt.Errorf("%w: prov-config: SetThreadConfig without cmd_set_thread_config", errBadMsg)
		}
		r := &pb.RespSetThreadConfig{Status: bad}
		switch {
		case bad != devicepb.Status_Success:
		case len(sc.GetDataset()) > thread.MaxDatasetLen:
			r.Status = devicepb.Status_InvalidArgument
		default:
			d.thread.pending = bytes.Clone(sc.GetDataset())
		}
		out.Payload = &pb.NetworkConfigPayload_RespSetThreadConfig{RespSetThreadConfig: r}
	case pb.NetworkConfigMsgType_TypeCmdApplyThreadConfig:
		r := &pb.RespApplyThreadConfig{Status: bad}
		t := &d.thread
		switch {
		case bad != devicepb.Status_Success:
		case t.pending == nil, t.applied != nil:
			r.Status = devicepb.Status_InternalError
		default:
			t.applied, t.applyAt, t.stopAt = t.pending, now, time.Time{}
			if _, err := thread.Parse(t.applied); err != nil {
				// otDatasetParseTlvs failed: DatasetInvalid, and the apply fails.
				t.invalid = true
				r.Status = devicepb.Status_InternalError
			}
		}
		out.Payload = &pb.NetworkConfigPayload_RespApplyThreadConfig{RespApplyThreadConfig: r}
	default:
		return nil, fmt.Errorf("%w: prov-config msg %d", errBadMsg, in.GetMsg())
	}
	return marshal(out)
}

func (d *Device) threadStatusLocked(now time.Time, r *pb.RespGetThreadStatus) {
	o := d.threadEvalLocked(now)
	switch o.state {
	case ThreadIdle, ThreadAttaching:
		// state_case set, message pointer NULL: the oneof is omitted.
		r.ThreadState = pb.ThreadNetworkState_Attaching
	case ThreadFailed:
		r.ThreadState = pb.ThreadNetworkState_AttachingFailed
		r.State = &pb.RespGetThreadStatus_ThreadFailReason{ThreadFailReason: o.reason}
	case ThreadAttached:
		p := o.net.parsed
		r.ThreadState = pb.ThreadNetworkState_Attached
		r.State = &pb.RespGetThreadStatus_ThreadAttached{ThreadAttached: &pb.ThreadAttachState{
			PanId: uint32(p.PanID), ExtPanId: bytes.Clone(p.ExtPanID[:]), Channel: uint32(p.Channel), Name: []byte(p.NetworkName),
		}}
		if !d.cfg.NoAutoStop && d.thread.stopAt.IsZero() {
			d.thread.stopAt = now.Add(d.cfg.CleanupDelay)
		}
		if !d.wifi.onlineFired && d.cfg.OnConnected != nil {
			d.wifi.onlineFired = true
			go d.cfg.OnConnected()
		}
	}
}

// handleThreadScan answers the Thread half of prov-scan.
func (d *Device) handleThreadScan(in *pb.NetworkScanPayload) ([]byte, error) {
	out := &pb.NetworkScanPayload{Msg: in.GetMsg() + 1}
	if !d.cfg.Thread {
		out.Status = devicepb.Status_InvalidArgument
	}
	switch in.GetMsg() {
	case pb.NetworkScanMsgType_TypeCmdScanThreadStart:
		start := in.GetCmdScanThreadStart()
		if start == nil {
			return nil, fmt.Errorf("%w: prov-scan: ScanThreadStart without cmd_scan_thread_start", errBadMsg)
		}
		if d.cfg.Thread {
			if wait := d.startThreadScan(start.GetBlocking()); wait > 0 {
				time.Sleep(wait)
			}
		}
		out.Payload = &pb.NetworkScanPayload_RespScanThreadStart{RespScanThreadStart: &pb.RespScanThreadStart{}}
	case pb.NetworkScanMsgType_TypeCmdScanThreadStatus:
		d.mu.Lock()
		fin, res := d.threadScanStatusLocked(d.cfg.Now())
		d.mu.Unlock()
		out.Payload = &pb.NetworkScanPayload_RespScanThreadStatus{RespScanThreadStatus: &pb.RespScanThreadStatus{
			ScanFinished: fin, ResultCount: uint32(len(res)),
		}}
	case pb.NetworkScanMsgType_TypeCmdScanThreadResult:
		cr := in.GetCmdScanThreadResult()
		if cr == nil {
			return nil, fmt.Errorf("%w: prov-scan: ScanThreadResult without cmd_scan_thread_result", errBadMsg)
		}
		d.mu.Lock()
		_, res := d.threadScanStatusLocked(d.cfg.Now())
		d.mu.Unlock()
		resp := &pb.RespScanThreadResult{}
		start, count := uint64(cr.GetStartIndex()), uint64(cr.GetCount())
		switch {
		case !d.cfg.Thread:
		case start+count > uint64(len(res)):
			out.Status = devicepb.Status_InternalError
		default:
			for _, n := range res[start : start+count] {
				p := n.parsed
				resp.Entries = append(resp.Entries, &pb.ThreadScanResult{
					PanId: uint32(p.PanID), Channel: uint32(p.Channel), Rssi: int32(n.RSSI), Lqi: uint32(n.LQI),
					ExtAddr: bytes.Clone(n.ExtAddr[:]), NetworkName: []byte(p.NetworkName), ExtPanId: bytes.Clone(p.ExtPanID[:]),
				})
			}
		}
		out.Payload = &pb.NetworkScanPayload_RespScanThreadResult{RespScanThreadResult: resp}
	default:
		return nil, fmt.Errorf("%w: prov-scan msg %d", errBadMsg, in.GetMsg())
	}
	return marshal(out)
}

func (d *Device) startThreadScan(blocking bool) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Now()
	t := &d.thread
	if t.scanning && now.Before(t.scanDoneAt) {
		return 0
	}
	t.scanning, t.scanDoneAt = true, now.Add(d.cfg.ScanDuration)
	res := slices.Clone(d.cfg.ThreadNetworks)
	slices.SortStableFunc(res, func(a, b ThreadNetwork) int { return cmp.Compare(b.RSSI, a.RSSI) })
	t.scanResults = res[:min(len(res), d.cfg.ScanMaxEntries)]
	if blocking {
		return d.cfg.ScanDuration
	}
	return 0
}

func (d *Device) threadScanStatusLocked(now time.Time) (bool, []ThreadNetwork) {
	t := &d.thread
	if !t.scanning || now.Before(t.scanDoneAt) {
		return false, nil
	}
	return true, t.scanResults
}

// handleThreadCtrl answers the Thread half of prov-ctrl.
func (d *Device) handleThreadCtrl(in *pb.NetworkCtrlPayload) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := &pb.NetworkCtrlPayload{Msg: in.GetMsg() + 1}
	ok := false
	switch in.GetMsg() {
	case pb.NetworkCtrlMsgType_TypeCmdCtrlThreadReset:
		// 1.2.1+: a device already back in provisioning mode answers Success.
		st := d.threadEvalLocked(d.cfg.Now()).state
		ok = st == ThreadFailed || st == ThreadIdle
		out.Payload = &pb.NetworkCtrlPayload_RespCtrlThreadReset{RespCtrlThreadReset: &pb.RespCtrlThreadReset{}}
	case pb.NetworkCtrlMsgType_TypeCmdCtrlThreadReprov:
		ok = d.cfg.NoAutoStop
		out.Payload = &pb.NetworkCtrlPayload_RespCtrlThreadReprov{RespCtrlThreadReprov: &pb.RespCtrlThreadReprov{}}
	default:
		return nil, fmt.Errorf("%w: prov-ctrl msg %d", errBadMsg, in.GetMsg())
	}
	switch {
	case !d.cfg.Thread:
		out.Status = devicepb.Status_InvalidArgument
	case !ok:
		out.Status = devicepb.Status_InternalError
	default:
		d.thread = threadState{}
	}
	return marshal(out)
}
