package cli

import (
	"context"
	"errors"
	"fmt"
	"github.com/espprov/espprov/internal/validate"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/rainmaker"
)

type provisionFlags struct {
	dev deviceFlags
	sec securityFlags
	to  timeoutFlags
	th  threadFlags

	ssid        string
	passphrase  string
	qrcode      string
	noWifi      bool
	noRetry     bool
	disableCR   bool
	noDisableCR bool
	tags        string
	metadata    string
	cloudURL    string
	mapPoll     time.Duration
	mapWait     time.Duration
	reprovision bool
	customData  []string
	trace       traceFlags
	profile     string
}

const provisionLong = `Provision a device: open a secure session (Security 0, 1 or 2), link it to
your ESP RainMaker account when logged in, send Wi-Fi credentials and follow
the device until it has joined the network.

The command line of 'esp-rainmaker-cli provision' works unchanged.
Precedence: explicit flag > --qrcode value > default. The positional PoP is
accepted for backward compatibility (--pop wins).

Transports:
  softap      HTTP to the device's soft-AP, default 192.168.4.1:80 (join its
              Wi-Fi first); --device-ip/--device-host/--device-port override
  httpd       the same HTTP protocol on any interface (--device-ip or --device-host)
  ble         Bluetooth LE through BlueZ (--device_name)
  console     UART console (--port /dev/ttyUSB0, --baud)
  on-network  RainMaker challenge-response mapping of a device already on the
              network (mDNS discovery, or --device-ip/--device-host); no Wi-Fi

Security 2 (SRP6a): --sec2_username/--sec2_password; from a QR code the
username is QR "username" and the password QR "pop" (the firmware's contract).

ESP RainMaker: when you are logged in ('espprov login') the node is mapped to
your account; --no-wifi, --tags and --metadata require mapping. When not
logged in, only Wi-Fi is provisioned.

On a Wi-Fi failure the device is reset through prov-ctrl; at a terminal you
can retry with a new passphrase on the same secure session (--no-retry: don't ask).

` + secretHelp + `

` + exitCodesHelp

const provisionExample = `  # In scripts, keep secrets off the command line (ps shows it to every user)
  ESPPROV_PASSPHRASE="$WIFI_PASS" espprov provision --transport ble --device_name PROV_fc9ea3 \
    --pop-file pop.txt --ssid MyWiFiNetwork --no-input

  # Interactive: pick the network from the device's scan list
  espprov provision --pop abcd1234 --transport softap

  # Scripted, device reachable on another interface
  espprov provision --transport httpd --device-ip 10.0.0.7 --pop abcd1234 \
    --ssid MyWiFiNetwork --passphrase 'MyWiFiPassword' --output json

  # BLE, Security 2 from the QR code
  espprov provision --qrcode '{"ver":"v1","name":"PROV_fc9ea3","username":"wifiprov","pop":"7a9d365e","transport":"ble"}' \
    --ssid MyWiFiNetwork --passphrase 'MyWiFiPassword'

  # Security 2 with explicit credentials
  espprov provision --transport softap --sec_ver 2 --sec2_username wifiprov --sec2_password abcd1234

  # On-network mapping with tags
  espprov provision --transport on-network --device-ip 192.168.1.50 --pop abcd1234 --tags "esp.location:office"

  # Backward compatible positional PoP
  espprov provision abcd1234`

func (a *app) provisionCommand() *cobra.Command {
	f := &provisionFlags{}
	cmd := &cobra.Command{
		Use:     "provision [pop]",
		Short:   "Provision a device with Wi-Fi credentials (and map it to ESP RainMaker)",
		Long:    provisionLong,
		Example: provisionExample,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErr("provision takes at most one argument (the PoP), got %d: %q", len(args), args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			pos := ""
			if len(args) == 1 {
				pos = args[0]
			}
			return a.runProvision(cmd, f, pos)
		},
	}
	fs := cmd.Flags()
	f.sec.register(fs)
	f.dev.register(fs)
	fs.StringVar(&f.ssid, "ssid", "", "Wi-Fi network name (default: choose from the device's scan list)")
	fs.StringVar(&f.passphrase, "passphrase", "", "Wi-Fi passphrase ('' for an open network; default: hidden prompt)")
	registerSecretFile(fs, passphraseSecret)
	fs.StringVar(&f.qrcode, "qrcode", "", "QR code payload (JSON): ver, name, pop, transport, security, username")
	fs.BoolVar(&f.noWifi, "no-wifi", false, "map the node to your account only; skip Wi-Fi (needs login and challenge-response)")
	fs.BoolVar(&f.noRetry, "no-retry", false, "do not offer to retry after a Wi-Fi failure")
	fs.BoolVar(&f.disableCR, "disable-chal-resp", false, "disable challenge-response on the device after mapping (default: on-network yes, others no)")
	fs.BoolVar(&f.noDisableCR, "no-disable-chal-resp", false, "keep challenge-response enabled after mapping (overrides --disable-chal-resp)")
	fs.StringVar(&f.tags, "tags", "", `comma-separated key:value tags for the node, e.g. "location:pune,env:prod"`)
	fs.StringVar(&f.metadata, "metadata", "", `node metadata as a JSON object, e.g. '{"serial_no":"abc123"}'`)
	fs.StringVar(&f.cloudURL, "base-url", "", "ESP RainMaker API base URL or region (global, china); default: the one you logged in to")
	fs.DurationVar(&f.mapPoll, "mapping-poll-interval", 0, "traditional mapping: interval between status polls (default 5s)")
	fs.DurationVar(&f.mapWait, "mapping-timeout", 0, "traditional mapping: longest wait for the cloud's confirmation (default 60s)")
	fs.BoolVar(&f.reprovision, "reprovision", false, "re-provision a device that already has Wi-Fi credentials and is still in provisioning mode (prov-ctrl reprov, then the normal flow)")
	fs.StringArrayVar(&f.customData, "custom-data", nil, "ENDPOINT=VALUE: send VALUE to the device's application endpoint over the secure session before the credentials (@FILE: the file's bytes); repeatable")
	fs.StringVar(&f.profile, "profile", "", "station profile `NAME` of the server (espprovd --profiles; needs --server): it gives transport, address, security, network, mapping, work order and station; the command line adds the unit (--device_name or --qrcode, its PoP)")
	f.trace.register(fs)
	f.to.register(fs, true)
	f.th.register(fs)
	return cmd
}

// provRun is one provision invocation.
type provRun struct {
	a    *app
	cl   *client
	r    *renderer
	req  *espprovv1.ProvisionRequest
	md   metadata.MD
	kind callKind
	// askWifi: choose the network interactively; askPass: prompt for the
	// passphrase of the given SSID.
	askWifi bool
	askPass bool
	// network is --network ("" = what the device offers); askThread: choose
	// the Thread network interactively.
	network     string
	askThread   bool
	qrName      string
	noRetryFlag bool
	// lastSeq is the last job event shown (a reattached stream replays).
	lastSeq uint64
}

// mappingInput is what the command line says about RainMaker mapping.
type mappingInput struct {
	noWifi    bool
	force     bool   // mapping is the point of the command (on-network, map)
	tags      string // valid when hasTags
	hasTags   bool
	metadata  string // valid when hasMD
	hasMD     bool
	disable   bool
	noDisable bool
	cloudURL  string
}

// resolveMapping builds the Mapping from the stored login and the flags;
// loggedIn reports a stored login.
func (a *app) resolveMapping(in mappingInput) (m *espprovv1.Mapping, md metadata.MD, loggedIn bool, err error) {
	m = &espprovv1.Mapping{}
	if in.hasTags {
		t, err := parseTags(in.tags)
		if err != nil {
			return nil, nil, false, err
		}
		m.Tags = t
	}
	if in.hasMD {
		st, err := parseMetadata(in.metadata)
		if err != nil {
			return nil, nil, false, err
		}
		m.Metadata = st
	}
	if in.noDisable {
		v := false
		m.DisableChalResp = &v
	} else if in.disable {
		v := true
		m.DisableChalResp = &v
	}
	cc, err := a.loadCloud()
	if err != nil {
		return nil, nil, false, err
	}
	m.CloudUrl = cc.BaseURL
	if in.cloudURL != "" {
		m.CloudUrl = in.cloudURL
	}
	// In-process, an account configured in the environment (as for
	// espprovd) counts as logged in.
	if !cc.loggedIn() && a.server == "" {
		if sc, err := rainmaker.LoadConfig(a.getenv); err == nil && !sc.Credentials.IsZero() {
			m.Enabled = true
		}
	}
	m.Enabled = m.Enabled || in.force || cc.loggedIn() || in.noWifi || in.hasTags || in.hasMD
	if m.Enabled && cc.loggedIn() {
		md = cloudMetadata(cc)
	}
	return m, md, cc.loggedIn(), nil
}

func (a *app) runProvision(cmd *cobra.Command, f *provisionFlags, positionalPoP string) error {
	ctx := cmd.Context()
	p, err := a.prepareProvision(cmd, f, positionalPoP)
	if err != nil {
		return err
	}
	if a.prepared != nil {
		return a.prepared(p)
	}
	cl, err := a.connect()
	if err != nil {
		return err
	}
	defer cl.close()
	p.cl = cl
	if err := p.preStep(ctx); err != nil {
		return err
	}
	if p.req.GetDevice().GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK {
		return p.onNetwork(ctx)
	}
	if err := a.selectBLE(ctx, cl, p.req.GetDevice()); err != nil {
		return err
	}
	if err := a.selectSerialPort(ctx, cl, p.req.GetDevice()); err != nil {
		return err
	}
	if err := p.sec2Prompts(ctx); err != nil {
		return err
	}
	return p.run(ctx)
}

// prepareProvision resolves and validates every flag without contacting
// anything.
func (a *app) prepareProvision(cmd *cobra.Command, f *provisionFlags, positionalPoP string) (*provRun, error) {
	fs := cmd.Flags()
	var qr *qrPayload
	if fs.Changed("qrcode") {
		var err error
		if qr, err = parseQR(f.qrcode); err != nil {
			return nil, err
		}
	}
	if f.profile != "" {
		return a.prepareProfile(cmd, f, positionalPoP, qr)
	}
	dev, err := f.dev.build(fs, qr)
	if err != nil {
		return nil, err
	}
	sec, err := f.sec.build(fs, positionalPoP, qr, a.getenv)
	if err != nil {
		return nil, err
	}
	to, err := f.to.build()
	if err != nil {
		return nil, err
	}
	onNet := dev.GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK
	mapping, md, loggedIn, err := a.resolveMapping(mappingInput{noWifi: f.noWifi, force: onNet,
		tags: f.tags, hasTags: fs.Changed("tags"), metadata: f.metadata, hasMD: fs.Changed("metadata"),
		disable: f.disableCR, noDisable: f.noDisableCR, cloudURL: f.cloudURL})
	if err != nil {
		return nil, err
	}
	p := &provRun{a: a, md: md, kind: callKind{mapping: mapping.GetEnabled(), remote: a.server}, noRetryFlag: f.noRetry}
	if qr != nil {
		p.qrName = qr.Name
	}
	req := &espprovv1.ProvisionRequest{Device: dev, Security: sec, NoWifi: f.noWifi, Timeouts: to, Reprovision: f.reprovision}
	if req.CustomData, err = parseCustomData(f.customData); err != nil {
		return nil, err
	}
	if err := f.trace.apply(a, req); err != nil {
		return nil, err
	}
	if (onNet || f.noWifi) && f.reprovision {
		return nil, usageErr("--reprovision gives the device new Wi-Fi credentials: it cannot be combined with --no-wifi or --transport on-network")
	}
	if onNet && len(req.CustomData) > 0 {
		return nil, usageErr("--custom-data needs a provisioning transport (softap, httpd, ble, console): the on-network service has no application endpoints")
	}
	if f.mapPoll < 0 || f.mapWait < 0 || f.mapWait > time.Hour {
		return nil, usageErr("--mapping-poll-interval and --mapping-timeout must be positive (at most 1h)")
	}
	if f.mapPoll > 0 {
		mapping.PollInterval = durationpb.New(f.mapPoll)
	}
	if f.mapWait > 0 {
		mapping.MaxWait = durationpb.New(f.mapWait)
	}
	if mapping.GetEnabled() || mapping.DisableChalResp != nil {
		req.Mapping = mapping
	}
	if err := fromFile(fs, passphraseSecret); err != nil {
		return nil, err
	}
	if fs.Changed("ssid") {
		if _, err := a.fromEnv(fs, passphraseSecret); err != nil {
			return nil, err
		}
	}
	hasSSID, hasPass := fs.Changed("ssid"), fs.Changed("passphrase")
	thr, network, err := f.th.build(fs)
	if err != nil {
		return nil, err
	}
	if err := threadTimeout(to, f.th.timeout, fs.Changed("thread-timeout")); err != nil {
		return nil, err
	}
	p.network = network
	switch {
	case network == "thread" && (hasSSID || hasPass):
		return nil, usageErr("--ssid/--passphrase are Wi-Fi credentials: drop them, or --network thread/--dataset")
	case network == "thread" && (onNet || f.noWifi):
		return nil, usageErr("--network thread, --dataset and --thread-* provision a network: they cannot be combined with --no-wifi or --transport on-network")
	case thr != nil:
		req.Thread = thr
	case network == "thread":
		if !a.interactive() {
			return nil, usageErr("--network thread needs --dataset or --thread-network-key, --thread-pan-id, --thread-ext-pan-id and --thread-channel when not running interactively")
		}
		p.askThread = true
	}
	switch {
	case network == "thread":
	case onNet && (hasSSID || hasPass):
		return nil, usageErr("--transport on-network maps the node only and does not provision Wi-Fi: drop --ssid/--passphrase")
	case f.noWifi && (hasSSID || hasPass):
		return nil, usageErr("--no-wifi skips Wi-Fi provisioning: drop --ssid/--passphrase")
	case onNet || f.noWifi:
	case hasPass && !hasSSID:
		return nil, usageErr("--passphrase needs --ssid")
	case hasSSID && f.ssid == "":
		return nil, usageErr("--ssid must not be empty")
	case hasSSID && hasPass:
		req.Wifi = &espprovv1.WifiCredentials{Ssid: f.ssid, Passphrase: f.passphrase}
	case hasSSID:
		if !a.interactive() {
			return nil, usageErr("missing --passphrase for --ssid %q (pass --passphrase '' for an open network)", f.ssid)
		}
		req.Wifi = &espprovv1.WifiCredentials{Ssid: f.ssid}
		p.askPass = true
	default:
		if !a.interactive() {
			return nil, usageErr("no network given and not running interactively: pass --ssid and --passphrase, or --dataset for Thread (or --no-wifi to map only)")
		}
		p.askWifi = true
	}
	var wifiErrs []error
	if hasSSID {
		wifiErrs = append(wifiErrs, validate.SSID(f.ssid))
	}
	if hasPass {
		wifiErrs = append(wifiErrs, validate.Passphrase(f.passphrase))
	}
	if err := checkFields(append([]error{validate.Device(dev), validate.Security(sec), validate.Timeouts(to), validate.Mapping(mapping)}, wifiErrs...)...); err != nil {
		return nil, err
	}
	if sec.GetScheme() == espprovv1.SecurityScheme_SECURITY_SCHEME_2 && (sec.GetSec2Username() == "" || sec.GetSec2Password() == "") && !a.interactive() {
		return nil, usageErr("Security 2 needs --sec2_username and --sec2_password (RainMaker firmware: username wifiprov, password = the PoP), or a --qrcode with username and pop")
	}
	if f.noWifi && !loggedIn {
		fmt.Fprintln(a.stderr, "Note: not logged in to ESP RainMaker: --no-wifi needs an account ('espprov login'), unless the server has one configured.")
	} else if !mapping.GetEnabled() && network == "thread" {
		a.note("Note: not logged in to ESP RainMaker ('espprov login'): provisioning Thread only; the node will not be added to an account.")
	} else if !mapping.GetEnabled() {
		a.note("Note: not logged in to ESP RainMaker ('espprov login'): provisioning Wi-Fi only; the node will not be added to an account.")
	}
	p.req = req
	p.r = &renderer{ui: a.ui, json: a.json(), out: a.stdout}
	return p, nil
}

// note prints an informational line: stdout in text mode, stderr in JSON mode.
func (a *app) note(format string, args ...any) {
	if a.json() {
		fmt.Fprintf(a.stderr, format+"\n", args...)
		return
	}
	a.ui.println(format, args...)
}

// passphraseProblem checks the Wi-Fi passphrase rules (package validate).
func passphraseProblem(p string) string {
	var ve *validate.Error
	if errors.As(validate.Passphrase(p), &ve) {
		return ve.Msg
	}
	return ""
}

// preStep prints the transport's first lines (rainmaker.md §1.2 step 11).
func (p *provRun) preStep(ctx context.Context) error {
	a, d := p.a, p.req.GetDevice()
	switch d.GetTransport() {
	case espprovv1.Transport_TRANSPORT_SOFTAP:
		if a.interactive() && d.GetAddress() == softAPDefaultIP+":80" && a.server == "" {
			name := p.qrName
			if name == "" {
				name = "PROV_XXXXXX"
			}
			if _, err := a.ui.ask(ctx, fmt.Sprintf("Please connect to the device's Wi-Fi hotspot (%s) and press Enter to continue...", name)); err != nil {
				return err
			}
		}
		a.note("Looking for device at %s (softap)", d.GetAddress())
	case espprovv1.Transport_TRANSPORT_HTTPD:
		a.note("Looking for device at %s (httpd)", d.GetAddress())
	case espprovv1.Transport_TRANSPORT_BLE:
		if d.GetName() != "" {
			a.note("Looking for BLE device: %s", d.GetName())
		} else {
			a.note("Scanning for BLE devices... Make sure your device is in provisioning mode.")
		}
	case espprovv1.Transport_TRANSPORT_CONSOLE:
		a.note("Using console transport. Make sure device is connected to serial port.")
	case espprovv1.Transport_TRANSPORT_ON_NETWORK:
		a.note("Discovering devices on local network...")
	}
	return nil
}

// sec2Prompts asks for missing Security 2 credentials (D3).
func (p *provRun) sec2Prompts(ctx context.Context) error {
	sec := p.req.GetSecurity()
	if sec.GetScheme() != espprovv1.SecurityScheme_SECURITY_SCHEME_2 {
		return nil
	}
	return p.askSec2(ctx, sec)
}

func (p *provRun) askSec2(ctx context.Context, sec *espprovv1.Security) error {
	ui := p.a.ui
	for sec.GetSec2Username() == "" {
		s, err := ui.ask(ctx, "Security Scheme 2 - SRP6a Username required: ")
		if err != nil {
			return err
		}
		sec.Sec2Username = strings.TrimSpace(s)
	}
	for sec.GetSec2Password() == "" {
		s, err := ui.askSecret(ctx, "Security Scheme 2 - SRP6a Password required: ")
		if err != nil {
			return err
		}
		sec.Sec2Password = s
	}
	return nil
}

// missingCredential recognises the service's "pass security.pop/sec2"
// errors after auto-detection, so that a person can be asked.
func (p *provRun) missingCredential(ctx context.Context, err error) (bool, error) {
	if !p.a.interactive() || ExitCode(err) != ExitUsage {
		return false, nil
	}
	msg := err.Error()
	sec := p.req.GetSecurity()
	switch {
	case strings.Contains(msg, "pass --sec2_username"):
		sec.Scheme = espprovv1.SecurityScheme_SECURITY_SCHEME_2
		if sec.GetSec2Password() == "" && sec.GetPop() != "" && sec.GetSec2Username() != "" {
			sec.Sec2Password = sec.GetPop()
		}
		sec.Pop = ""
		return true, p.askSec2(ctx, sec)
	case strings.Contains(msg, "pass --pop") && sec.GetPop() == "":
		for sec.GetPop() == "" {
			s, err := p.a.ui.askSecret(ctx, "Enter Proof of Possession (PoP): ")
			if err != nil {
				return false, err
			}
			sec.Pop = strings.TrimSpace(s)
		}
		return true, nil
	}
	return false, nil
}

func (p *provRun) outCtx(ctx context.Context) context.Context {
	if len(p.md) == 0 {
		return ctx
	}
	return metadata.NewOutgoingContext(ctx, p.md)
}

// run chooses the network if needed, then provisions with retries.
func (p *provRun) run(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := p.runOnce(ctx)
		if err == nil || attempt >= 2 {
			return err
		}
		asked, aerr := p.missingCredential(ctx, err)
		if aerr != nil {
			return aerr
		}
		if !asked {
			return err
		}
		p.r.newSession()
		p.r.securityShown = false
	}
}

func (p *provRun) runOnce(ctx context.Context) error {
	if p.askWifi && p.req.GetWifi().GetSsid() == "" && p.req.GetThread() == nil {
		creds, err := p.chooseNetwork(ctx)
		if errors.Is(err, errUseThread) {
			p.askThread = true
		} else if err != nil {
			return err
		}
		p.req.Wifi = creds
	}
	if p.askThread && p.req.GetThread() == nil {
		creds, err := p.chooseThread(ctx)
		if err != nil {
			return err
		}
		p.req.Thread = creds
	} else if p.askPass && p.req.GetWifi().GetPassphrase() == "" {
		pass, err := p.askPassphrase(ctx, p.req.GetWifi().GetSsid())
		if err != nil {
			return err
		}
		p.req.Wifi.Passphrase = pass
		p.askPass = false
	}
	return p.provision(ctx)
}

// chooseNetwork scans and lets the person pick a network (rainmaker.md §1.7).
func (p *provRun) chooseNetwork(ctx context.Context) (*espprovv1.WifiCredentials, error) {
	ui := p.a.ui
	for {
		ui.startSpinner("Scanning Wi-Fi AP's")
		resp, err := p.cl.ScanWifi(ctx, &espprovv1.ScanWifiRequest{Device: p.req.GetDevice(), Security: p.req.GetSecurity(), Timeouts: p.req.GetTimeouts()})
		ui.stopSpinner()
		if useThread, terr := p.wifiOrThread(ctx, err, resp.GetDeviceInfo()); terr != nil || useThread {
			if terr == nil {
				p.r.deviceInfo(resp.GetDeviceInfo())
				terr = errUseThread
			}
			return nil, terr
		}
		if err != nil {
			if status.Code(err) == codes.FailedPrecondition && strings.Contains(status.Convert(err).Message(), "wifi_scan") {
				ui.println("Wi-Fi Scan List is not supported by provisioning service")
				return p.manualNetwork(ctx)
			}
			return nil, err
		}
		p.r.deviceInfo(resp.GetDeviceInfo())
		p.r.session()
		ui.println("Scanning Wi-Fi AP's...")
		aps := resp.GetAccessPoints()
		if len(aps) == 0 {
			ui.println("No access_points found")
			ok, err := ui.confirm(ctx, "Do you want to enter SSID manually? [y/N]: ", false)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, codeErr(ExitWifi, "the device found no Wi-Fi network: pass --ssid and --passphrase")
			}
			return p.manualNetwork(ctx)
		}
		for _, l := range apTable(aps) {
			ui.println("%s", l)
		}
		for {
			s, err := ui.ask(ctx, "Select AP by number (0 to rescan) : ")
			if err != nil {
				return nil, err
			}
			n, convErr := strconv.Atoi(strings.TrimSpace(s))
			switch {
			case convErr != nil || n < 0 || n > len(aps)+1:
				ui.println("Invalid selection! Retry")
				continue
			case n == 0:
			case n == len(aps)+1:
				return p.manualNetwork(ctx)
			default:
				ap := aps[n-1]
				pass := ""
				if ap.GetAuth() != espprovv1.WifiAuthMode_WIFI_AUTH_MODE_OPEN {
					if pass, err = p.askPassphrase(ctx, ap.GetSsid()); err != nil {
						return nil, err
					}
				}
				return &espprovv1.WifiCredentials{Ssid: ap.GetSsid(), Passphrase: pass}, nil
			}
			break // rescan
		}
	}
}

func (p *provRun) manualNetwork(ctx context.Context) (*espprovv1.WifiCredentials, error) {
	var ssid string
	for ssid == "" {
		s, err := p.a.ui.ask(ctx, "Enter ssid : ")
		if err != nil {
			return nil, err
		}
		ssid = s
		if len(ssid) > 32 {
			p.a.ui.println("The SSID must be at most 32 bytes. Retry")
			ssid = ""
		}
	}
	pass, err := p.askPassphrase(ctx, ssid)
	if err != nil {
		return nil, err
	}
	return &espprovv1.WifiCredentials{Ssid: ssid, Passphrase: pass}, nil
}

func (p *provRun) askPassphrase(ctx context.Context, ssid string) (string, error) {
	for {
		s, err := p.a.ui.askSecret(ctx, fmt.Sprintf("Enter passphrase for %s : ", printable(ssid)))
		if err != nil {
			return "", err
		}
		if msg := passphraseProblem(s); msg != "" {
			p.a.ui.println("The passphrase %s. Retry", msg)
			continue
		}
		return s, nil
	}
}

// retryWanted offers a retry after a Wi-Fi failure, as the reference CLI.
func (p *provRun) retryWanted(ctx context.Context, ssid string) (*espprovv1.WifiCredentials, bool, error) {
	ui := p.a.ui
	ok, err := ui.confirm(ctx, "Would you like to retry provisioning? [y/N]: ", false)
	if err != nil || !ok {
		if err == nil {
			ui.println("Provisioning cancelled.")
		}
		return nil, false, err
	}
	same := ssid != ""
	if same {
		if same, err = ui.confirm(ctx, fmt.Sprintf("Retry with same SSID '%s' and new password? [Y/n]: ", printable(ssid)), true); err != nil {
			return nil, false, err
		}
	}
	if !same {
		creds, err := p.manualNetwork(ctx)
		return creds, err == nil, err
	}
	pass, err := p.askPassphrase(ctx, ssid)
	if err != nil {
		return nil, false, err
	}
	return &espprovv1.WifiCredentials{Ssid: ssid, Passphrase: pass}, true, nil
}

func (p *provRun) retryAllowed(noRetry bool) bool {
	return p.a.interactive() && !noRetry && !p.req.GetNoWifi()
}

// provision runs the Provision call: ProvisionInteractive when a person can
// retry (falling back to a fresh Provision call per attempt on servers
// without it), Provision otherwise.
func (p *provRun) provision(ctx context.Context) error {
	// A request id names one job: no new attempt under it.
	retry := p.retryAllowed(p.noRetryFlag) && p.req.GetRequestId() == ""
	if retry {
		res, err, fallback := p.interactiveStream(ctx)
		if !fallback {
			return p.finish(res, err)
		}
	}
	req := p.req
	for {
		res, err := p.stream(ctx, req)
		if err == nil || !retry || !isWifiResult(res) || !res.GetDeviceReset() {
			return p.finish(res, err)
		}
		creds, ok, perr := p.retryWanted(ctx, res.GetSsid())
		if perr != nil {
			return perr
		}
		if !ok {
			return p.finish(res, err)
		}
		req = proto.Clone(req).(*espprovv1.ProvisionRequest)
		req.Wifi = creds
		p.r.newSession()
	}
}

// stream runs one Provision call and renders its events. With a request
// id, a dropped connection is followed by a new call that attaches to the
// same job (its replayed events are not shown twice).
func (p *provRun) stream(ctx context.Context, req *espprovv1.ProvisionRequest) (*espprovv1.Result, error) {
	for attempt := 1; ; attempt++ {
		res, err := p.streamOnce(ctx, req)
		if err == nil || req.GetRequestId() == "" || !reattachable(err) || attempt > maxReattach || ctx.Err() != nil {
			return res, err
		}
		p.a.ui.stopSpinner()
		fmt.Fprintf(p.a.stderr, "Connection to %s lost (%s); reattaching to the job of request id %s (attempt %d)\n",
			p.a.server, status.Convert(err).Message(), req.GetRequestId(), attempt)
		if err := sleepCtx(ctx, min(time.Duration(attempt)*500*time.Millisecond, 5*time.Second)); err != nil {
			return res, err
		}
	}
}

func (p *provRun) streamOnce(ctx context.Context, req *espprovv1.ProvisionRequest) (*espprovv1.Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := p.cl.Provision(p.outCtx(ctx), req)
	if err != nil {
		return nil, err
	}
	var res *espprovv1.Result
	for {
		ev, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		if ev.GetStep() == espprovv1.Step_STEP_RESULT {
			res = ev.GetResult()
		}
		if seq := ev.GetSequence(); seq > 0 {
			if seq <= p.lastSeq {
				continue // replayed after a reattach: shown already
			}
			p.lastSeq = seq
		}
		p.r.event(ev)
	}
}

// interactiveStream runs ProvisionInteractive; fallback reports that the
// server does not implement it.
func (p *provRun) interactiveStream(ctx context.Context) (res *espprovv1.Result, err error, fallback bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := p.cl.ProvisionInteractive(p.outCtx(ctx))
	if err != nil {
		return nil, err, isMethodUnimplemented(err)
	}
	if err := st.Send(&espprovv1.ProvisionInteractiveRequest{Action: &espprovv1.ProvisionInteractiveRequest_Start{Start: p.req}}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err, false
	}
	got := false
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return res, nil, false
		}
		if err != nil {
			return res, err, !got && isMethodUnimplemented(err)
		}
		got = true
		ev := m.GetEvent()
		p.r.event(ev)
		switch ev.GetStep() {
		case espprovv1.Step_STEP_RESULT:
			res = ev.GetResult()
		case espprovv1.Step_STEP_AWAITING_RETRY:
			if ev.GetNetwork() == espprovv1.NetworkType_NETWORK_TYPE_THREAD {
				tc, ok, perr := p.retryThread(ctx)
				if perr != nil {
					return ev.GetResult(), perr, false
				}
				msg := &espprovv1.ProvisionInteractiveRequest{Action: &espprovv1.ProvisionInteractiveRequest_GiveUp{GiveUp: true}}
				if ok {
					p.req.Thread = tc
					msg = &espprovv1.ProvisionInteractiveRequest{Action: &espprovv1.ProvisionInteractiveRequest_RetryThread{RetryThread: tc}}
					p.r.wifiFailShown = false
				}
				if err := st.Send(msg); err != nil && !errors.Is(err, io.EOF) {
					return ev.GetResult(), err, false
				}
				continue
			}
			creds, ok, perr := p.retryWanted(ctx, ev.GetResult().GetSsid())
			if perr != nil {
				return ev.GetResult(), perr, false
			}
			var msg *espprovv1.ProvisionInteractiveRequest
			if ok {
				msg = &espprovv1.ProvisionInteractiveRequest{Action: &espprovv1.ProvisionInteractiveRequest_Retry{Retry: creds}}
				p.r.wifiFailShown = false
				p.r.lastWifi = espprovv1.WifiStationState_WIFI_STATION_STATE_UNSPECIFIED
			} else {
				msg = &espprovv1.ProvisionInteractiveRequest{Action: &espprovv1.ProvisionInteractiveRequest_GiveUp{GiveUp: true}}
			}
			if err := st.Send(msg); err != nil && !errors.Is(err, io.EOF) {
				return ev.GetResult(), err, false
			}
		}
	}
}

func isMethodUnimplemented(err error) bool {
	return status.Code(err) == codes.Unimplemented && strings.Contains(status.Convert(err).Message(), "ProvisionInteractive")
}

// finish turns the outcome into the exit status.
func (p *provRun) finish(res *espprovv1.Result, err error) error {
	p.a.ui.stopSpinner()
	if err != nil {
		return apiErr(err, res, p.kind)
	}
	if res == nil {
		return codeErr(ExitInternal, "the server ended the provisioning without a result")
	}
	if !res.GetSuccess() {
		return apiErr(status.Error(codes.Unknown, res.GetError()), res, p.kind)
	}
	if p.req.GetMapping().GetEnabled() && !res.GetMapped() {
		return codeErr(ExitCloud, "Wi-Fi provisioned but the node was not added to your account")
	}
	return nil
}

// onNetwork selects an on-network device and maps it (rainmaker.md §3.1).
func (p *provRun) onNetwork(ctx context.Context) error {
	dev := p.req.GetDevice()
	if err := p.a.selectOnNetwork(ctx, p.cl, dev, p.req.GetSecurity(), p.req.GetTimeouts()); err != nil {
		return err
	}
	return p.a.mapNode(ctx, p.cl, &espprovv1.MapNodeRequest{Device: dev, Security: p.req.GetSecurity(), Mapping: p.req.GetMapping(), Timeouts: p.req.GetTimeouts()}, p.md, true)
}

// selectOnNetwork fills dev.Address from mDNS discovery when neither
// --device-ip nor --device-host was given.
func (a *app) selectOnNetwork(ctx context.Context, cl *client, dev *espprovv1.Device, sec *espprovv1.Security, _ *espprovv1.Timeouts) error {
	if dev.GetAddress() != "" {
		return nil
	}
	timeout := dev.GetDiscoveryTimeout()
	if timeout == nil {
		timeout = durationpb.New(5e9)
	}
	a.ui.startSpinner("Discovering")
	devs, err := discoverAll(ctx, cl, &espprovv1.DiscoverRequest{Device: &espprovv1.Device{Transport: dev.GetTransport(), DiscoveryTimeout: timeout}, Timeout: timeout})
	a.ui.stopSpinner()
	if err != nil {
		return apiErr(err, nil, callKind{remote: a.server})
	}
	var chosen *espprovv1.DiscoverResponse
	if name := dev.GetName(); name != "" {
		for _, d := range devs {
			if strings.EqualFold(d.GetName(), name) || strings.EqualFold(d.GetNodeId(), name) {
				chosen = d
				break
			}
		}
		if chosen == nil {
			return codeErr(ExitDevice, "Device '%s' not found (searched %s; try --discovery-timeout or --device-ip)", name, fmtSeconds(timeout.AsDuration().Seconds()))
		}
	} else {
		if len(devs) == 0 {
			return codeErr(ExitDevice, "No devices discovered on network (try --discovery-timeout, --device-ip or --device-host)")
		}
		if !a.json() {
			for _, l := range onNetworkTable(devs) {
				a.ui.println("%s", l)
			}
		}
		switch {
		case !a.interactive() && len(devs) == 1:
			chosen = devs[0]
		case !a.interactive():
			return usageErr("%d devices found and not running interactively: choose one with --device_name or --device-ip", len(devs))
		case len(devs) == 1:
			ok, err := a.ui.confirm(ctx, "Proceed with this device? (y/n): ", true)
			if err != nil {
				return err
			}
			if !ok {
				return codeErr(ExitDevice, "no device selected")
			}
			chosen = devs[0]
		default:
			for chosen == nil {
				s, err := a.ui.ask(ctx, "Select device number (or 'q' to quit): ")
				if err != nil {
					return err
				}
				s = strings.TrimSpace(s)
				if strings.EqualFold(s, "q") {
					return codeErr(ExitDevice, "no device selected")
				}
				n, err := strconv.Atoi(s)
				if err != nil {
					a.ui.println("Invalid input. Please enter a number.")
					continue
				}
				if n < 1 || n > len(devs) {
					a.ui.println("Invalid selection. Please enter a number between 1 and %d", len(devs))
					continue
				}
				chosen = devs[n-1]
			}
		}
	}
	dev.Address = chosen.GetAddress()
	if chosen.GetName() != "" {
		dev.Name = chosen.GetName()
	}
	if sec.GetScheme() == espprovv1.SecurityScheme_SECURITY_SCHEME_UNSPECIFIED && chosen.GetSecurity() != espprovv1.SecurityScheme_SECURITY_SCHEME_UNSPECIFIED {
		sec.Scheme = chosen.GetSecurity()
	}
	switch sec.GetScheme() {
	case espprovv1.SecurityScheme_SECURITY_SCHEME_1:
		if chosen.GetPopRequired() && sec.GetPop() == "" {
			if !a.interactive() {
				return usageErr("the device requires a proof of possession: pass --pop")
			}
			for sec.GetPop() == "" {
				s, err := a.ui.askSecret(ctx, "Enter Proof of Possession (PoP): ")
				if err != nil {
					return err
				}
				sec.Pop = strings.TrimSpace(s)
			}
		}
	case espprovv1.SecurityScheme_SECURITY_SCHEME_2:
		if sec.GetSec2Username() == "" || sec.GetSec2Password() == "" {
			if !a.interactive() {
				return usageErr("the device uses Security 2: pass --sec2_username and --sec2_password")
			}
			for sec.GetSec2Username() == "" {
				s, err := a.ui.ask(ctx, "Enter Security 2 username: ")
				if err != nil {
					return err
				}
				sec.Sec2Username = strings.TrimSpace(s)
			}
			for sec.GetSec2Password() == "" {
				s, err := a.ui.askSecret(ctx, "Enter Security 2 password: ")
				if err != nil {
					return err
				}
				sec.Sec2Password = s
			}
		}
	}
	return nil
}

// selectSerialPort asks for the console's serial port when --port is
// missing (scripts must pass it).
func (a *app) selectSerialPort(ctx context.Context, cl *client, dev *espprovv1.Device) error {
	if dev.GetTransport() != espprovv1.Transport_TRANSPORT_CONSOLE || dev.GetSerialPort() != "" {
		return nil
	}
	if !a.interactive() {
		return usageErr("--transport console needs --port (e.g. /dev/ttyUSB0); 'espprov discover --transport console' lists the serial ports")
	}
	ports, err := discoverAll(ctx, cl, &espprovv1.DiscoverRequest{Device: &espprovv1.Device{Transport: dev.GetTransport()}, Timeout: durationpb.New(2 * time.Second)})
	if err != nil {
		return apiErr(err, nil, callKind{remote: a.server})
	}
	if len(ports) == 0 {
		return codeErr(ExitDevice, "no serial ports found: connect the board, or pass --port")
	}
	a.ui.println("==== Serial ports ====")
	for i, p := range ports {
		hint := ""
		if p.GetLikelyEsp() {
			hint = "  (looks like an ESP board)"
		}
		a.ui.println("[%2d] %s %s:%s %s%s", i+1, p.GetAddress(), p.GetUsbVid(), p.GetUsbPid(), p.GetUsbSerial(), hint)
	}
	for {
		s, err := a.ui.ask(ctx, "Select port by number : ")
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > len(ports) {
			a.ui.println("Invalid selection! Retry")
			continue
		}
		dev.SerialPort = ports[n-1].GetAddress()
		return nil
	}
}

// selectBLE picks the BLE device when no --device_name was given: the only
// one found, or (at a terminal) one from the list, as the reference CLI.
func (a *app) selectBLE(ctx context.Context, cl *client, dev *espprovv1.Device) error {
	if dev.GetTransport() != espprovv1.Transport_TRANSPORT_BLE || dev.GetName() != "" {
		return nil
	}
	for {
		a.ui.startSpinner("Scanning for BLE devices")
		devs, err := discoverAll(ctx, cl, &espprovv1.DiscoverRequest{
			Device:  &espprovv1.Device{Transport: dev.GetTransport(), Adapter: dev.GetAdapter(), NamePrefix: dev.GetNamePrefix(), DiscoveryTimeout: dev.GetDiscoveryTimeout()},
			Timeout: dev.GetDiscoveryTimeout()})
		a.ui.stopSpinner()
		if err != nil {
			return apiErr(err, nil, callKind{remote: a.server})
		}
		if len(devs) == 0 {
			return codeErr(ExitDevice, "No devices found! Make sure the device is in provisioning mode (or give --device_name, a longer --discovery-timeout)")
		}
		if len(devs) == 1 && !a.interactive() {
			dev.Name = devs[0].GetName()
			a.note("Found BLE device: %s", dev.GetName())
			return nil
		}
		if !a.interactive() {
			return usageErr("%d BLE devices found and not running interactively: choose one with --device_name", len(devs))
		}
		a.ui.println("==== BLE Discovery results ====")
		a.ui.println("%-4s %-24s %-17s %s", "S.N.", "Name", "Address", "RSSI")
		for i, d := range devs {
			a.ui.println("[%2d] %-24s %-17s %d", i+1, printable(d.GetName()), d.GetAddress(), d.GetRssi())
		}
		for {
			s, err := a.ui.ask(ctx, "Select device by number (0 to rescan) : ")
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 0 || n > len(devs) {
				a.ui.println("Invalid selection! Retry")
				continue
			}
			if n == 0 {
				break
			}
			dev.Name = devs[n-1].GetName()
			return nil
		}
	}
}

// discoverAll collects a Discover stream.
func discoverAll(ctx context.Context, cl *client, req *espprovv1.DiscoverRequest) ([]*espprovv1.DiscoverResponse, error) {
	st, err := cl.Discover(ctx, req)
	if err != nil {
		return nil, err
	}
	var out []*espprovv1.DiscoverResponse
	for {
		d, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, d)
	}
}

// mapNode runs MapNode and prints the outcome.
func (a *app) mapNode(ctx context.Context, cl *client, req *espprovv1.MapNodeRequest, md metadata.MD, onNet bool) error {
	if len(md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, md)
	}
	a.ui.startSpinner("Mapping the node to your account")
	resp, err := cl.MapNode(ctx, req)
	a.ui.stopSpinner()
	if err != nil {
		if onNet && !a.json() {
			a.ui.println("On-network challenge-response mapping failed")
		}
		return apiErr(err, nil, callKind{mapping: true, remote: a.server})
	}
	if a.json() {
		writeProtoLine(a.stdout, resp)
		return nil
	}
	a.ui.println("Node %s mapped to your account successfully!", resp.GetNodeId())
	if resp.GetChalRespDisabled() {
		a.ui.println("Challenge-response disabled on the device.")
	}
	return nil
}
