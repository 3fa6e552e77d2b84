package cli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/validate"
)

// deviceCommandFlags are the device, security and timeout flags shared by
// scan, map and disable-chal-resp.
type deviceCommandFlags struct {
	dev    deviceFlags
	sec    securityFlags
	to     timeoutFlags
	qrcode string
}

func (f *deviceCommandFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	f.sec.register(fs)
	f.dev.register(fs)
	fs.StringVar(&f.qrcode, "qrcode", "", "QR code payload (JSON): ver, name, pop, transport, security, username")
	f.to.register(fs, false)
}

func (f *deviceCommandFlags) build(cmd *cobra.Command, getenv func(string) string) (*espprovv1.Device, *espprovv1.Security, *espprovv1.Timeouts, error) {
	fs := cmd.Flags()
	var qr *qrPayload
	if fs.Changed("qrcode") {
		var err error
		if qr, err = parseQR(f.qrcode); err != nil {
			return nil, nil, nil, err
		}
	}
	dev, err := f.dev.build(fs, qr)
	if err != nil {
		return nil, nil, nil, err
	}
	sec, err := f.sec.build(fs, "", qr, getenv)
	if err != nil {
		return nil, nil, nil, err
	}
	to, err := f.to.build()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkFields(validate.Device(dev), validate.Security(sec), validate.Timeouts(to)); err != nil {
		return nil, nil, nil, err
	}
	return dev, sec, to, nil
}

func (a *app) needSec2(sec *espprovv1.Security) error {
	if sec.GetScheme() != espprovv1.SecurityScheme_SECURITY_SCHEME_2 || (sec.GetSec2Username() != "" && sec.GetSec2Password() != "") {
		return nil
	}
	if !a.interactive() {
		return usageErr("Security 2 needs --sec2_username and --sec2_password (RainMaker firmware: username wifiprov, password = the PoP)")
	}
	return nil
}

func (a *app) scanCommand() *cobra.Command {
	f := &deviceCommandFlags{}
	var network string
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "List the Wi-Fi (or Thread) networks a device sees",
		Long: "Open a secure session with the device and print the access points it sees, or with\n" +
			"--network thread the Thread networks (ESP-IDF 6 devices; a device offering only Thread\n" +
			"is scanned for Thread without the flag).\n\n" + exitCodesHelp,
		Example: `  espprov scan --transport httpd --device-ip 10.0.0.7 --pop abcd1234
  espprov scan --transport softap --sec_ver 2 --sec2_username wifiprov --sec2_password abcd1234 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dev, sec, to, err := f.build(cmd, a.getenv)
			if err != nil {
				return err
			}
			if dev.GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK {
				return usageErr("on-network devices are already on a network: scan needs softap, httpd, ble or console")
			}
			if err := a.needSec2(sec); err != nil {
				return err
			}
			cl, err := a.connect()
			if err != nil {
				return err
			}
			defer cl.close()
			if err := a.selectBLE(cmd.Context(), cl, dev); err != nil {
				return err
			}
			if err := a.selectSerialPort(cmd.Context(), cl, dev); err != nil {
				return err
			}
			p := &provRun{a: a, cl: cl, req: &espprovv1.ProvisionRequest{Device: dev, Security: sec, Timeouts: to}}
			if err := p.sec2Prompts(cmd.Context()); err != nil {
				return err
			}
			nt, err := parseNetwork(network)
			if err != nil {
				return err
			}
			if nt == "thread" {
				return a.scanThread(cmd.Context(), cl, dev, sec, to)
			}
			a.ui.startSpinner("Scanning Wi-Fi AP's")
			resp, err := cl.ScanWifi(cmd.Context(), &espprovv1.ScanWifiRequest{Device: dev, Security: sec, Timeouts: to})
			a.ui.stopSpinner()
			if nt == "" && status.Code(err) == codes.FailedPrecondition && strings.Contains(status.Convert(err).Message(), "offers Thread, not Wi-Fi") {
				return a.scanThread(cmd.Context(), cl, dev, sec, to)
			}
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
			a.ui.println("Scanning Wi-Fi AP's...")
			lines := apTable(resp.GetAccessPoints())
			// Without a selection the list is informational: drop the
			// "Select ..." header and the "Join another network" row.
			for _, l := range lines[1 : len(lines)-1] {
				a.ui.println("%s", l)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&network, "network", "", "wifi or thread (default: wifi, or thread for a device that offers only Thread)")
	return cmd
}

func (a *app) discoverCommand() *cobra.Command {
	f := &deviceFlags{}
	var timeout float64
	cmd := &cobra.Command{
		Use:   "discover",
		Short: "List provisionable devices over one transport",
		Long: `List devices: BLE advertisements, on-network devices announced over mDNS
(_esp_rmaker_chal_resp._tcp), serial ports, or probe a soft-AP/httpd address.

` + exitCodesHelp,
		Example: `  espprov discover --transport on-network --timeout 10
  espprov discover --transport ble
  espprov discover --transport httpd --device-ip 10.0.0.7 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			if f.transport == "" {
				f.transport = "on-network"
			}
			dev, err := f.build(fs, nil)
			if err != nil {
				return err
			}
			if timeout <= 0 || timeout > 600 {
				return usageErr("--timeout must be more than 0 and at most 600 seconds (got %v)", timeout)
			}
			if fs.Changed("discovery-timeout") && !fs.Changed("timeout") {
				timeout = f.discoveryTimeout
			}
			d := durationpb.New(time.Duration(timeout * float64(time.Second)))
			cl, err := a.connect()
			if err != nil {
				return err
			}
			defer cl.close()
			a.ui.startSpinner("Discovering")
			devs, err := discoverAll(cmd.Context(), cl, &espprovv1.DiscoverRequest{Device: dev, Timeout: d})
			a.ui.stopSpinner()
			if err != nil {
				return apiErr(err, nil, callKind{remote: a.server})
			}
			if a.json() {
				for _, d := range devs {
					writeProtoLine(a.stdout, d)
				}
				return nil
			}
			if len(devs) == 0 {
				return codeErr(ExitDevice, "no devices found over %s (searched %s)", transportString(dev.GetTransport()), fmtSeconds(timeout))
			}
			lines := deviceTable(devs)
			if dev.GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK {
				lines = onNetworkTable(devs)
			}
			for _, l := range lines {
				a.ui.println("%s", l)
			}
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().Float64Var(&timeout, "timeout", defaultDiscoveryTimeout, "how long to search, in seconds")
	return cmd
}

func (a *app) mapCommand() *cobra.Command {
	f := &deviceCommandFlags{}
	var tags, md, cloudURL string
	var disable, noDisable bool
	cmd := &cobra.Command{
		Use:   "map",
		Short: "Map a device to your ESP RainMaker account (challenge-response, no Wi-Fi)",
		Long: `Link a device to your ESP RainMaker account with challenge-response, without
Wi-Fi provisioning. Needs 'espprov login' (or a server with an account).

` + exitCodesHelp,
		Example: `  espprov map --transport on-network --device-ip 192.168.1.50 --pop abcd1234 --tags "location:office"
  espprov map --transport ble --device_name PROV_d76c30 --pop abcd1234`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			if !fs.Changed("transport") && !fs.Changed("qrcode") {
				f.dev.transport = "on-network"
			}
			dev, sec, to, err := f.build(cmd, a.getenv)
			if err != nil {
				return err
			}
			mapping, mdOut, _, err := a.resolveMapping(mappingInput{force: true,
				tags: tags, hasTags: fs.Changed("tags"), metadata: md, hasMD: fs.Changed("metadata"),
				disable: disable, noDisable: noDisable, cloudURL: cloudURL})
			if err != nil {
				return err
			}
			if err := a.needSec2(sec); err != nil {
				return err
			}
			cl, err := a.connect()
			if err != nil {
				return err
			}
			defer cl.close()
			onNet := dev.GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK
			if onNet {
				a.note("Discovering devices on local network...")
			}
			if err := a.selectMappingTarget(cmd.Context(), cl, dev, sec, to); err != nil {
				return err
			}
			return a.mapNode(cmd.Context(), cl, &espprovv1.MapNodeRequest{Device: dev, Security: sec, Mapping: mapping, Timeouts: to}, mdOut, onNet)
		},
	}
	f.register(cmd)
	fs := cmd.Flags()
	fs.StringVar(&tags, "tags", "", `comma-separated key:value tags for the node`)
	fs.StringVar(&md, "metadata", "", `node metadata as a JSON object`)
	fs.BoolVar(&disable, "disable-chal-resp", false, "disable challenge-response after mapping (default: on-network yes, others no)")
	fs.BoolVar(&noDisable, "no-disable-chal-resp", false, "keep challenge-response enabled after mapping")
	fs.StringVar(&cloudURL, "base-url", "", "ESP RainMaker API base URL or region (default: the one you logged in to)")
	return cmd
}

// selectMappingTarget settles which device map and disable-chal-resp talk
// to: the on-network selection (with its own credential prompts), or a BLE
// device and the Security 2 prompts for the other transports.
func (a *app) selectMappingTarget(ctx context.Context, cl *client, dev *espprovv1.Device, sec *espprovv1.Security, to *espprovv1.Timeouts) error {
	if dev.GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK {
		return a.selectOnNetwork(ctx, cl, dev, sec, to)
	}
	if err := a.selectBLE(ctx, cl, dev); err != nil {
		return err
	}
	p := &provRun{a: a, req: &espprovv1.ProvisionRequest{Security: sec}}
	return p.sec2Prompts(ctx)
}

func (a *app) disableChalRespCommand() *cobra.Command {
	f := &deviceCommandFlags{}
	cmd := &cobra.Command{
		Use:     "disable-chal-resp",
		Short:   "Turn off a device's challenge-response endpoint",
		Long:    "Send the disable command to the device's challenge-response endpoint, so it can no longer be mapped.\n\n" + exitCodesHelp,
		Example: `  espprov disable-chal-resp --transport on-network --device-ip 192.168.1.50 --pop abcd1234`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			if !fs.Changed("transport") && !fs.Changed("qrcode") {
				f.dev.transport = "on-network"
			}
			dev, sec, to, err := f.build(cmd, a.getenv)
			if err != nil {
				return err
			}
			if err := a.needSec2(sec); err != nil {
				return err
			}
			cl, err := a.connect()
			if err != nil {
				return err
			}
			defer cl.close()
			if err := a.selectMappingTarget(cmd.Context(), cl, dev, sec, to); err != nil {
				return err
			}
			resp, err := cl.DisableChallengeResponse(cmd.Context(), &espprovv1.DisableChallengeResponseRequest{Device: dev, Security: sec, Timeouts: to})
			if err != nil {
				return apiErr(err, nil, callKind{remote: a.server})
			}
			if a.json() {
				writeProtoLine(a.stdout, resp)
				return nil
			}
			if resp.GetAlreadyDisabled() {
				a.ui.println("Challenge-response was already disabled on the device.")
			} else {
				a.ui.println("Challenge-response disabled on the device.")
			}
			return nil
		},
	}
	f.register(cmd)
	return cmd
}
