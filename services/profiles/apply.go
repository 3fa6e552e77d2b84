package profiles

import (
	"maps"

	"google.golang.org/protobuf/proto"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// Apply returns req with every field it leaves unset filled from its
// profile (req itself is not changed). A request without a profile is
// returned as is; an unknown profile is a NotFound status. Applying twice
// changes nothing more.
func (s *Set) Apply(req *espprovv1.ProvisionRequest) (*espprovv1.ProvisionRequest, error) {
	if req.GetProfile() == "" {
		return req, nil
	}
	p, err := s.Get(req.GetProfile())
	if err != nil {
		return nil, err
	}
	return p.Apply(req), nil
}

// Apply fills req's unset fields from p (on a copy).
func (p *Profile) Apply(in *espprovv1.ProvisionRequest) *espprovv1.ProvisionRequest {
	req := proto.Clone(in).(*espprovv1.ProvisionRequest)
	if req.Device == nil {
		req.Device = &espprovv1.Device{}
	}
	d := req.Device
	if d.Transport == espprovv1.Transport_TRANSPORT_UNSPECIFIED {
		d.Transport = p.transport
	}
	if d.Address == "" && d.SerialPort == "" {
		if a, ok := p.Addresses[d.Name]; ok && d.Name != "" {
			d.Address = a
		} else {
			d.Address = p.Address
		}
	}
	if d.Adapter == "" {
		d.Adapter = p.Adapter
	}
	if req.Security == nil {
		req.Security = &espprovv1.Security{}
	}
	sec := req.Security
	if sec.Scheme == espprovv1.SecurityScheme_SECURITY_SCHEME_UNSPECIFIED {
		sec.Scheme = p.scheme
	}
	if sec.Sec2Username == "" {
		sec.Sec2Username = p.Sec2User
	}
	if !req.NoWifi && req.Wifi == nil && req.Thread == nil {
		switch {
		case p.Wifi != nil:
			req.Wifi = &espprovv1.WifiCredentials{Ssid: p.Wifi.SSID, Passphrase: p.passphrase}
		case p.Thread != nil:
			req.Thread = &espprovv1.ThreadCredentials{Dataset: p.dataset}
		}
	}
	if req.Mapping == nil && p.Mapping != nil {
		req.Mapping = &espprovv1.Mapping{Enabled: p.Mapping.Enabled, CloudUrl: p.Mapping.Cloud}
	}
	if t := p.timeouts(); t != nil {
		if req.Timeouts == nil {
			req.Timeouts = t
		} else {
			fillTimeouts(req.Timeouts, t)
		}
	}
	if req.WorkOrder == "" {
		req.WorkOrder = p.WorkOrder
	}
	if req.Station == "" {
		req.Station = p.Station
	}
	if len(p.Labels) > 0 {
		labels := maps.Clone(p.Labels)
		maps.Copy(labels, req.Labels) // the request's win
		req.Labels = labels
	}
	return req
}

func fillTimeouts(dst, src *espprovv1.Timeouts) {
	if dst.Exchange == nil {
		dst.Exchange = src.Exchange
	}
	if dst.Overall == nil {
		dst.Overall = src.Overall
	}
	if dst.WifiConnect == nil {
		dst.WifiConnect = src.WifiConnect
	}
	if dst.StatusPoll == nil {
		dst.StatusPoll = src.StatusPoll
	}
	if dst.ThreadAttach == nil {
		dst.ThreadAttach = src.ThreadAttach
	}
}
