package profiles

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// Set is the server's current profiles; Reload swaps them atomically.
// The zero path (no --profiles) is an empty set.
type Set struct {
	path string
	cur  atomic.Pointer[map[string]*Profile]
}

// Load reads the profiles file at path ("" gives an empty set).
func Load(path string) (*Set, error) {
	s := &Set{path: path}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Path is the profiles file ("" when none).
func (s *Set) Path() string { return s.path }

// Reload re-reads the file; on error the previous profiles stay in force.
func (s *Set) Reload() error {
	m := map[string]*Profile{}
	if s.path != "" {
		ps, err := Read(s.path)
		if err != nil {
			return err
		}
		for _, p := range ps {
			m[p.Name] = p
		}
	}
	s.cur.Store(&m)
	return nil
}

// Len is the number of profiles.
func (s *Set) Len() int {
	if s == nil || s.cur.Load() == nil {
		return 0
	}
	return len(*s.cur.Load())
}

// Get returns a profile or a NotFound status naming it.
func (s *Set) Get(name string) (*Profile, error) {
	if s == nil || s.Len() == 0 {
		return nil, status.Errorf(codes.NotFound, "no station profile %q: this server has no profiles (start espprovd with --profiles FILE)", name)
	}
	p, ok := (*s.cur.Load())[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no station profile %q (this server has %s; ListProfiles shows them)", name, strings.Join(s.names(), ", "))
	}
	return p, nil
}

func (s *Set) names() []string {
	var out []string
	for n := range *s.cur.Load() {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// List returns the profiles by name, without secrets.
func (s *Set) List() []*espprovv1.Profile {
	if s.Len() == 0 {
		return nil
	}
	m := *s.cur.Load()
	out := make([]*espprovv1.Profile, 0, len(m))
	for _, n := range s.names() {
		out = append(out, m[n].Public())
	}
	return out
}

// Public is the profile as ListProfiles shows it: no secret, only whether
// one is set.
func (p *Profile) Public() *espprovv1.Profile {
	out := &espprovv1.Profile{
		Name: p.Name, Description: p.Description, Transport: p.transport, Address: p.Address, Addresses: p.Addresses,
		Adapter: p.Adapter, SecurityScheme: p.scheme, Sec2Username: p.Sec2User,
		WorkOrder: p.WorkOrder, Station: p.Station, Labels: p.Labels, Timeouts: p.timeouts(),
	}
	if w := p.Wifi; w != nil {
		out.Network, out.WifiSsid, out.PassphraseSet = espprovv1.NetworkType_NETWORK_TYPE_WIFI, w.SSID, p.passphrase != ""
	}
	if p.Thread != nil {
		out.Network, out.ThreadNetworkName, out.DatasetSet = espprovv1.NetworkType_NETWORK_TYPE_THREAD, p.threadName, p.dataset != ""
	}
	if m := p.Mapping; m != nil {
		out.MappingEnabled, out.Cloud = m.Enabled, m.Cloud
	}
	return out
}

func (p *Profile) timeouts() *espprovv1.Timeouts {
	t := p.Timeouts
	if t == (TimeoutsEntry{}) {
		return nil
	}
	out := &espprovv1.Timeouts{}
	set := func(dst **durationpb.Duration, v time.Duration) {
		if v != 0 {
			*dst = durationpb.New(v)
		}
	}
	set(&out.Exchange, t.Exchange)
	set(&out.Overall, t.Overall)
	set(&out.WifiConnect, t.WifiConnect)
	set(&out.ThreadAttach, t.ThreadAttach)
	set(&out.StatusPoll, t.StatusPollMax)
	return out
}

// String names the profile (never its secrets).
func (p *Profile) String() string { return fmt.Sprintf("profile %s", p.Name) }
