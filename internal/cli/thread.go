package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/thread"
	"github.com/espprov/espprov/internal/validate"
)

// ESP-IDF 6 network_provisioning on the command line: --network,
// --prov-generation, Thread credentials, the Thread scan list and Thread
// progress lines.

// threadFlags are provision's Thread and network-type flags.
type threadFlags struct {
	network     string
	dataset     string
	networkKey  string
	panID       string
	extPanID    string
	channel     uint32
	networkName string
	timeout     time.Duration
}

func (f *threadFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.network, "network", "", "network type to provision: wifi or thread (default: what the device offers; asked at a terminal when it offers both)")
	fs.StringVar(&f.dataset, "dataset", "", "Thread active operational dataset as hex TLVs (ot-ctl dataset active -x); implies --network thread")
	fs.StringVar(&f.networkKey, "thread-network-key", "", "Thread network key, 32 hex digits (with --thread-pan-id, --thread-ext-pan-id, --thread-channel)")
	fs.StringVar(&f.panID, "thread-pan-id", "", "Thread PAN ID, e.g. 0xface")
	fs.StringVar(&f.extPanID, "thread-ext-pan-id", "", "Thread extended PAN ID, 16 hex digits")
	fs.Uint32Var(&f.channel, "thread-channel", 0, "Thread channel, 11 to 26")
	fs.StringVar(&f.networkName, "thread-network-name", "", "Thread network name (optional)")
	fs.DurationVar(&f.timeout, "thread-timeout", 60*time.Second, "limit for the device to attach to Thread after the dataset was applied")
}

// parseNetwork validates --network ("" = not given).
func parseNetwork(s string) (string, error) {
	switch n := strings.ToLower(strings.TrimSpace(s)); n {
	case "", "wifi", "thread":
		return n, nil
	case "wi-fi":
		return "wifi", nil
	}
	return "", usageErr("--network must be wifi or thread (got %q)", s)
}

// build returns the Thread credentials the flags give (nil: none) and the
// network type asked for.
func (f *threadFlags) build(fs *pflag.FlagSet) (*espprovv1.ThreadCredentials, string, error) {
	network, err := parseNetwork(f.network)
	if err != nil {
		return nil, "", err
	}
	parts := fs.Changed("thread-network-key") || fs.Changed("thread-pan-id") || fs.Changed("thread-ext-pan-id") || fs.Changed("thread-channel") || fs.Changed("thread-network-name")
	if !fs.Changed("dataset") && !parts {
		return nil, network, nil
	}
	if network == "wifi" {
		return nil, "", usageErr("--dataset and --thread-* give Thread credentials: drop them or --network wifi")
	}
	tc := &espprovv1.ThreadCredentials{Dataset: f.dataset, NetworkKey: f.networkKey, ExtPanId: f.extPanID, Channel: f.channel, NetworkName: f.networkName}
	if fs.Changed("dataset") && parts {
		return nil, "", usageErr("give --dataset or the --thread-* parts, not both")
	}
	if fs.Changed("thread-pan-id") {
		v, err := strconv.ParseUint(strings.TrimSpace(f.panID), 0, 16)
		if err != nil {
			return nil, "", usageErr("--thread-pan-id %q is not a PAN ID (e.g. 0xface or 64206)", f.panID)
		}
		pan := uint32(v)
		tc.PanId = &pan
	}
	if err := checkThread(tc); err != nil {
		return nil, "", err
	}
	return tc, "thread", nil
}

// checkThread validates Thread credentials before anything is contacted,
// with the service's own rules (package validate), naming the flags.
func checkThread(tc *espprovv1.ThreadCredentials) error {
	err := checkFields(validate.Thread(tc))
	if err == nil {
		return nil
	}
	return usageErr("%s", threadFlagNames.Replace(err.Error()))
}

// threadFlagNames names the flags of Thread fields inside messages.
var threadFlagNames = strings.NewReplacer("thread.dataset", "--dataset", "thread.network_key", "--thread-network-key", "thread.ext_pan_id", "--thread-ext-pan-id",
	"thread.pan_id", "--thread-pan-id", "thread.channel", "--thread-channel", "thread.network_name", "--thread-network-name")

// threadDataset checks Thread credentials with the service's rules.
func threadDataset(tc *espprovv1.ThreadCredentials) ([]byte, error) {
	return validate.ThreadDataset(tc)
}

// parseGeneration reads --prov-generation.
func parseGeneration(s string) (espprovv1.ProvGeneration, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return espprovv1.ProvGeneration_PROV_GENERATION_UNSPECIFIED, nil
	case "wifi", "wifi_provisioning", "idf5":
		return espprovv1.ProvGeneration_PROV_GENERATION_WIFI_PROVISIONING, nil
	case "network", "network_provisioning", "netprov", "idf6":
		return espprovv1.ProvGeneration_PROV_GENERATION_NETWORK_PROVISIONING, nil
	}
	return 0, usageErr("--prov-generation must be wifi (ESP-IDF ≤ 5 wifi_provisioning) or network (ESP-IDF 6 network_provisioning), got %q", s)
}

func generationName(g espprovv1.ProvGeneration) string {
	switch g {
	case espprovv1.ProvGeneration_PROV_GENERATION_WIFI_PROVISIONING:
		return "wifi"
	case espprovv1.ProvGeneration_PROV_GENERATION_NETWORK_PROVISIONING:
		return "network"
	}
	return "?"
}

func networkNames(ts []espprovv1.NetworkType) string {
	var n []string
	for _, t := range ts {
		switch t {
		case espprovv1.NetworkType_NETWORK_TYPE_WIFI:
			n = append(n, "wifi")
		case espprovv1.NetworkType_NETWORK_TYPE_THREAD:
			n = append(n, "thread")
		}
	}
	if len(n) == 0 {
		return "-"
	}
	return strings.Join(n, "+")
}

func offers(ts []espprovv1.NetworkType, t espprovv1.NetworkType) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// errUseThread: the device offers Thread and the person chose it (or it
// offers nothing else); provision Thread instead of Wi-Fi.
var errUseThread = errors.New("use thread")

// wifiOrThread decides after a Wi-Fi scan: a device that offers only
// Thread, or both with the person choosing Thread, continues with Thread.
func (p *provRun) wifiOrThread(ctx context.Context, scanErr error, info *espprovv1.DeviceInfo) (bool, error) {
	if p.network == "wifi" {
		return false, nil
	}
	if scanErr != nil {
		return status.Code(scanErr) == codes.FailedPrecondition && strings.Contains(status.Convert(scanErr).Message(), "offers Thread, not Wi-Fi"), nil
	}
	if !offers(info.GetNetworkTypes(), espprovv1.NetworkType_NETWORK_TYPE_THREAD) {
		return false, nil
	}
	ui := p.a.ui
	ui.println("The device offers Wi-Fi and Thread.")
	for {
		s, err := ui.ask(ctx, "Provision [1] Wi-Fi or [2] Thread? : ")
		if err != nil {
			return false, err
		}
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "1", "w", "wifi", "wi-fi":
			return false, nil
		case "2", "t", "thread":
			return true, nil
		}
		ui.println("Invalid selection! Retry")
	}
}

// threadTable renders the numbered Thread scan list.
func threadTable(nets []*espprovv1.ThreadNetwork) []string {
	lines := []string{"Select the Thread network from the following list:",
		fmt.Sprintf("%-4s %-17s %-7s %-17s %-3s %-4s %s", "S.N.", "NAME", "PAN ID", "EXT PAN ID", "CHN", "RSSI", "LQI")}
	for i, n := range nets {
		lines = append(lines, fmt.Sprintf("[%2d] %-17s 0x%04x  %-17s %-3d %-4d %d", i+1, printable(n.GetNetworkName()), n.GetPanId(), n.GetExtPanId(), n.GetChannel(), n.GetRssi(), n.GetLqi()))
	}
	return lines
}

// chooseThread scans for Thread networks and lets the person pick one and
// type its network key (esp_prov builds the same dataset from the same parts).
func (p *provRun) chooseThread(ctx context.Context) (*espprovv1.ThreadCredentials, error) {
	ui := p.a.ui
	for {
		ui.startSpinner("Scanning Thread networks")
		resp, err := p.cl.ScanThread(ctx, &espprovv1.ScanThreadRequest{Device: p.req.GetDevice(), Security: p.req.GetSecurity(), Timeouts: p.req.GetTimeouts()})
		ui.stopSpinner()
		if err != nil {
			if status.Code(err) == codes.FailedPrecondition && strings.Contains(status.Convert(err).Message(), "thread_scan") {
				ui.println("Thread scanning is not supported by the provisioning service")
				return p.manualDataset(ctx)
			}
			return nil, err
		}
		p.r.deviceInfo(resp.GetDeviceInfo())
		p.r.session()
		nets := resp.GetNetworks()
		if len(nets) == 0 {
			ui.println("No Thread networks found")
			ok, err := ui.confirm(ctx, "Do you want to enter a dataset manually? [y/N]: ", false)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, codeErr(ExitWifi, "the device found no Thread network: pass --dataset")
			}
			return p.manualDataset(ctx)
		}
		for _, l := range threadTable(nets) {
			ui.println("%s", l)
		}
		for {
			s, err := ui.ask(ctx, "Select Thread network by number (0 to rescan) : ")
			if err != nil {
				return nil, err
			}
			n, convErr := strconv.Atoi(strings.TrimSpace(s))
			switch {
			case convErr != nil || n < 0 || n > len(nets):
				ui.println("Invalid selection! Retry")
				continue
			case n == 0:
			default:
				t := nets[n-1]
				if t.GetExtPanId() == "" {
					ui.println("That beacon carried no extended PAN ID: enter the dataset instead.")
					return p.manualDataset(ctx)
				}
				pan := t.GetPanId()
				tc := &espprovv1.ThreadCredentials{PanId: &pan, ExtPanId: t.GetExtPanId(), Channel: t.GetChannel(), NetworkName: t.GetNetworkName()}
				if tc.NetworkKey, err = p.askNetworkKey(ctx, t.GetNetworkName()); err != nil {
					return nil, err
				}
				return tc, nil
			}
			break // rescan
		}
	}
}

func (p *provRun) askNetworkKey(ctx context.Context, name string) (string, error) {
	for {
		s, err := p.a.ui.askSecret(ctx, fmt.Sprintf("Enter the Thread network key for %s (32 hex digits) : ", printable(name)))
		if err != nil {
			return "", err
		}
		if _, err := thread.DecodeHexField("network key", s, 16); err != nil {
			p.a.ui.println("The network key must be 32 hex digits. Retry")
			continue
		}
		return strings.TrimSpace(s), nil
	}
}

// manualDataset asks for a dataset (hidden: it holds the network key).
func (p *provRun) manualDataset(ctx context.Context) (*espprovv1.ThreadCredentials, error) {
	for {
		s, err := p.a.ui.askSecret(ctx, "Enter the Thread dataset (hex TLVs) : ")
		if err != nil {
			return nil, err
		}
		tc := &espprovv1.ThreadCredentials{Dataset: strings.TrimSpace(s)}
		if _, err := threadDataset(tc); err != nil {
			p.a.ui.println("%v. Retry", err)
			continue
		}
		return tc, nil
	}
}

// retryThread offers a retry after a Thread attach failure: a new network
// key for the same network, or a new dataset.
func (p *provRun) retryThread(ctx context.Context) (*espprovv1.ThreadCredentials, bool, error) {
	ui := p.a.ui
	ok, err := ui.confirm(ctx, "Would you like to retry provisioning? [y/N]: ", false)
	if err != nil || !ok {
		if err == nil {
			ui.println("Provisioning cancelled.")
		}
		return nil, false, err
	}
	prev := p.req.GetThread()
	if prev.GetDataset() == "" && prev != nil {
		tc := &espprovv1.ThreadCredentials{PanId: prev.PanId, ExtPanId: prev.GetExtPanId(), Channel: prev.GetChannel(), NetworkName: prev.GetNetworkName()}
		if tc.NetworkKey, err = p.askNetworkKey(ctx, prev.GetNetworkName()); err != nil {
			return nil, false, err
		}
		return tc, true, nil
	}
	tc, err := p.manualDataset(ctx)
	return tc, err == nil, err
}

// isThreadResult reports whether a failed result is a Thread attach failure.
func isThreadResult(res *espprovv1.Result) bool {
	if res == nil || res.GetSuccess() || res.GetNetwork() != espprovv1.NetworkType_NETWORK_TYPE_THREAD {
		return false
	}
	return res.GetThread().GetFailReason() != espprovv1.ThreadFailReason_THREAD_FAIL_REASON_UNSPECIFIED || res.GetDeviceReset()
}

func threadFailText(r espprovv1.ThreadFailReason) string {
	switch r {
	case espprovv1.ThreadFailReason_THREAD_FAIL_REASON_DATASET_INVALID:
		return "invalid dataset"
	case espprovv1.ThreadFailReason_THREAD_FAIL_REASON_NETWORK_NOT_FOUND:
		return "network not found or wrong network key"
	}
	return "no reason given"
}

// threadEvent renders the Thread progress lines.
func (r *renderer) threadEvent(ev *espprovv1.ProvisionResponse) {
	ts := ev.GetThreadState()
	switch ts.GetState() {
	case espprovv1.ThreadAttachState_THREAD_ATTACH_STATE_ATTACHING:
		r.line("++++ Thread state: Attaching... ++++")
	case espprovv1.ThreadAttachState_THREAD_ATTACH_STATE_ATTACHED:
		r.line("==== Thread state: Attached ====")
	case espprovv1.ThreadAttachState_THREAD_ATTACH_STATE_ATTACHING_FAILED, espprovv1.ThreadAttachState_THREAD_ATTACH_STATE_DETACHED:
		r.line("---- Thread state: Attaching failed (%s) ----", threadFailText(ts.GetFailReason()))
		r.wifiFailShown = true
		r.line("Thread Provisioning Failed.")
	}
}

// threadTimeout sets the Thread attach limit.
func threadTimeout(t *espprovv1.Timeouts, d time.Duration, given bool) error {
	if d < 0 || d > time.Hour {
		return usageErr("--thread-timeout must be between 0 and 1h (got %s)", d)
	}
	if given && d > 0 {
		t.ThreadAttach = durationpb.New(d)
	}
	return nil
}

// scanThread runs ScanThread and prints the networks.
func (a *app) scanThread(ctx context.Context, cl *client, dev *espprovv1.Device, sec *espprovv1.Security, to *espprovv1.Timeouts) error {
	a.ui.startSpinner("Scanning Thread networks")
	resp, err := cl.ScanThread(ctx, &espprovv1.ScanThreadRequest{Device: dev, Security: sec, Timeouts: to})
	a.ui.stopSpinner()
	if err != nil {
		return apiErr(err, nil, callKind{remote: a.server})
	}
	if a.json() {
		writeProtoLine(a.stdout, resp)
		return nil
	}
	r := &renderer{ui: a.ui, out: a.stdout}
	r.deviceInfo(resp.GetDeviceInfo())
	r.session()
	a.ui.println("Scanning Thread networks...")
	for _, l := range threadTable(resp.GetNetworks())[1:] {
		a.ui.println("%s", l)
	}
	return nil
}
