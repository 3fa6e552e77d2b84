package cli

import (
	"net"
	"strconv"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/validate"
)

// prepareProfile builds a request that names a station profile of the
// server (--profile): only what the command line gives explicitly is sent
// (the unit's name, PoP or SRP password, the traceability flags, and any
// device, network or timeout flag), so the profile fills the rest on the
// server. A QR payload gives the name and the secrets, not the transport:
// the profile decides how the station reaches its units.
func (a *app) prepareProfile(cmd *cobra.Command, f *provisionFlags, positionalPoP string, qr *qrPayload) (*provRun, error) {
	fs := cmd.Flags()
	if a.server == "" {
		return nil, usageErr("--profile names a station profile of a server (espprovd --profiles FILE): add --server HOST:PORT")
	}
	for _, name := range []string{"no-wifi", "tags", "metadata", "base-url", "disable-chal-resp", "no-disable-chal-resp", "network", "dataset", "reprovision", "custom-data"} {
		if fs.Changed(name) {
			return nil, usageErr("--%s cannot be combined with --profile: the profile sets the network and the mapping", name)
		}
	}
	dev := &espprovv1.Device{Name: f.dev.deviceName}
	if !fs.Changed("device_name") && qr != nil {
		dev.Name = qr.Name
	}
	if fs.Changed("transport") {
		d, err := f.dev.build(fs, nil)
		if err != nil {
			return nil, err
		}
		d.Name = dev.Name
		dev = d
	} else {
		host, err := f.dev.host()
		if err != nil {
			return nil, err
		}
		if host != "" {
			dev.Address = net.JoinHostPort(host, strconv.Itoa(f.dev.devicePort))
		}
	}
	sec, err := f.sec.build(fs, positionalPoP, qr, a.getenv)
	if err != nil {
		return nil, err
	}
	to := &espprovv1.Timeouts{}
	for flag, dst := range map[string]**durationpb.Duration{"timeout": &to.Overall, "exchange-timeout": &to.Exchange, "wifi-timeout": &to.WifiConnect, "status-poll": &to.StatusPoll} {
		if fs.Changed(flag) {
			v, _ := fs.GetDuration(flag)
			*dst = durationpb.New(v)
		}
	}
	req := &espprovv1.ProvisionRequest{Profile: f.profile, Device: dev, Security: sec, Timeouts: to}
	if fs.Changed("ssid") {
		if err := fromFile(fs, passphraseSecret); err != nil {
			return nil, err
		}
		if _, err := a.fromEnv(fs, passphraseSecret); err != nil {
			return nil, err
		}
		req.Wifi = &espprovv1.WifiCredentials{Ssid: f.ssid, Passphrase: f.passphrase}
		if err := checkFields(validate.Wifi(req.Wifi)); err != nil {
			return nil, err
		}
	}
	if err := f.trace.apply(a, req); err != nil {
		return nil, err
	}
	p := &provRun{a: a, req: req, kind: callKind{remote: a.server}, noRetryFlag: true}
	if qr != nil {
		p.qrName = qr.Name
	}
	p.r = &renderer{ui: a.ui, json: a.json(), out: a.stdout}
	return p, nil
}
