package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// cloudEndpoints bounds the endpoint label to the RainMaker API paths
// espprov calls (anything else is "other").
var cloudEndpoints = map[string]bool{
	"login2": true, "user/nodes/mapping/initiate": true, "user/nodes/mapping/verify": true,
	"user/nodes/mapping": true, "user/nodes": true,
}

// CloudTransport wraps next (nil: http.DefaultTransport) so that every
// RainMaker cloud request is timed and its failures counted.
func (m *Metrics) CloudTransport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		ep := "other"
		if i := strings.LastIndex(r.URL.Path, "/v1/"); i >= 0 && cloudEndpoints[r.URL.Path[i+4:]] {
			ep = r.URL.Path[i+4:]
		}
		start := time.Now()
		resp, err := next.RoundTrip(r)
		outcome := "error"
		if err == nil {
			outcome = strconv.Itoa(resp.StatusCode/100) + "xx"
		}
		m.cloud.WithLabelValues(ep, outcome).Observe(time.Since(start).Seconds())
		if err != nil || resp.StatusCode >= 400 {
			m.cloudErrors.WithLabelValues(ep, outcome).Inc()
		}
		return resp, err
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
