package provisioning

import (
	"net/url"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/espprov/espprov/internal/rainmaker"
)

// Cloud policy: which RainMaker clouds a request may reach, with which
// account. The server's own account is only ever sent to the server's own
// cloud; every other cloud needs per-call credentials (x-rainmaker-*
// metadata), and an unnamed URL must also be https unless the operator
// allows plain http.

// DefaultClouds are the named clouds every server knows.
func DefaultClouds() map[string]string {
	return map[string]string{"global": rainmaker.GlobalBaseURL, "china": rainmaker.ChinaBaseURL}
}

// cloudTarget is where a mapping call goes and whether the server's own
// account may be used there.
type cloudTarget struct {
	base   string
	name   string // the configured name, "" for an unnamed URL
	server bool   // the server's own cloud
}

// namedClouds returns the configured clouds (DefaultClouds when none are
// configured, plus the server's own).
func (cc CloudConfig) namedClouds() map[string]string {
	out := DefaultClouds()
	for k, v := range cc.Clouds {
		out[strings.ToLower(k)] = v
	}
	return out
}

func (cc CloudConfig) cloudNames() string {
	var names []string
	for k := range cc.namedClouds() {
		names = append(names, k)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// serverBase is the server's own cloud ("global" when unset).
func (cc CloudConfig) serverBase() string {
	if b, err := rainmaker.ResolveBaseURL(cc.Server.BaseURL); err == nil {
		return b
	}
	return cc.Server.BaseURL
}

// resolveCloud applies the policy to mapping.cloud_url; perCall tells
// whether the call carries its own credentials. Nothing is contacted.
func (cc CloudConfig) resolveCloud(raw string, perCall bool) (cloudTarget, error) {
	server := cc.serverBase()
	named := cc.namedClouds()
	raw = strings.TrimSpace(raw)
	var t cloudTarget
	switch {
	case raw == "":
		t = cloudTarget{base: server}
	case named[strings.ToLower(raw)] != "":
		base, err := rainmaker.ResolveBaseURL(named[strings.ToLower(raw)])
		if err != nil {
			return t, status.Errorf(codes.FailedPrecondition, "the server's cloud %q is misconfigured: %v", raw, err)
		}
		t = cloudTarget{base: base, name: strings.ToLower(raw)}
	default:
		u, err := url.Parse(raw)
		if err != nil || !strings.Contains(raw, "://") {
			return t, invalid("mapping.cloud_url %q is neither a configured cloud (%s) nor a URL", redactURL(raw), cc.cloudNames())
		}
		if u.User != nil {
			return t, invalid("mapping.cloud_url must not contain user information; send credentials as x-rainmaker-* call metadata")
		}
		base, err := rainmaker.ResolveBaseURL(raw)
		if err != nil {
			return t, invalid("mapping.cloud_url: %v", err)
		}
		t = cloudTarget{base: base}
		for name, v := range named {
			if nb, err := rainmaker.ResolveBaseURL(v); err == nil && nb == base {
				t.name = name
			}
		}
	}
	t.server = t.base == server
	switch {
	case perCall && t.name == "" && !t.server:
		if cc.RefuseCustomURLs {
			return t, status.Errorf(codes.PermissionDenied, "mapping.cloud_url %s is not a cloud configured on this server (%s) and this server accepts no other URL; pick a configured cloud by name or ask the operator to add it (espprovd --cloud NAME=URL)", t.base, cc.cloudNames())
		}
		if strings.HasPrefix(t.base, "http://") && !cc.AllowHTTP {
			return t, invalid("mapping.cloud_url %s is plain http: the per-call credentials would travel in clear; use https, or ask the operator to add this cloud (espprovd --cloud NAME=URL) or to allow http (espprovd --cloud-allow-http)", t.base)
		}
	case !perCall && !t.server:
		what := "mapping.cloud_url " + t.base + " is not"
		if t.name != "" {
			what = "cloud \"" + t.name + "\" is not"
		}
		return t, status.Errorf(codes.PermissionDenied, "%s this server's own cloud (%s): the server's RainMaker account is only used there; send the account for that cloud as x-rainmaker-* call metadata, leave cloud_url empty, or ask the operator to configure the server for it (ESPPROV_RAINMAKER_URL)", what, server)
	}
	return t, nil
}

// redactURL drops anything after the host of a string that might be a URL
// with secrets in it.
func redactURL(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	if i := strings.Index(s, "@"); i >= 0 {
		return "…" + s[i:]
	}
	return s
}
