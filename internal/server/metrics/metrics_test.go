package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCloudTransport: requests to a (loopback) cloud are timed by endpoint
// and outcome; 4xx/5xx and network errors are counted as errors.
func TestCloudTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/login2") {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	m := New()
	hc := &http.Client{Transport: m.CloudTransport(nil)}
	for _, p := range []string{"/v1/user/nodes/mapping", "/v1/user/nodes/mapping", "/v1/login2", "/v1/secret/path"} {
		resp, err := hc.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if _, err := hc.Get("http://127.0.0.1:1/v1/user/nodes"); err == nil {
		t.Fatal("request to a closed port succeeded")
	}
	if n := testutil.CollectAndCount(m.cloud); n != 4 {
		t.Errorf("%d duration series, want 4 (mapping 2xx, login2 4xx, other 2xx, user/nodes error)", n)
	}
	want := `
# HELP espprov_cloud_request_errors_total ESP RainMaker cloud requests that failed (network error or HTTP status >= 400), by endpoint and outcome.
# TYPE espprov_cloud_request_errors_total counter
espprov_cloud_request_errors_total{endpoint="login2",outcome="4xx"} 1
espprov_cloud_request_errors_total{endpoint="user/nodes",outcome="error"} 1
`
	if err := testutil.CollectAndCompare(m.cloudErrors, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	m.QueueDepth("ble", 3)
	if v := testutil.ToFloat64(m.queue.WithLabelValues("ble")); v != 3 {
		t.Errorf("queue depth %v", v)
	}
}
