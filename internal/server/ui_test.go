package server_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/internal/server/auth"
	"github.com/espprov/espprov/internal/station"
)

// TestUIRoute: with authentication on, the station page's assets are
// served without a token (they hold no data) with the page's CSP, while
// the API behind it still needs one; only GET/HEAD reach the assets.
func TestUIRoute(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	if _, err := auth.CreateToken(path, "station", []auth.Scope{auth.ScopeProvision, auth.ScopeJobsRead}, time.Now()); err != nil {
		t.Fatal(err)
	}
	a, err := auth.NewAuthenticator(path)
	if err != nil {
		t.Fatal(err)
	}
	g := startGW(t, server.Options{Guard: &auth.Guard{Auth: a}, UI: station.Handler(), UIPrefix: station.Prefix})
	tests := []struct {
		method, path string
		status       int
		ctype        string // prefix
		body         string // substring
	}{
		{"GET", "/ui/", 200, "text/html", `<script type="module" src="app.js">`},
		{"GET", "/ui/app.js", 200, "text/javascript", "import"},
		{"GET", "/ui/style.css", 200, "text/css", "--ok"},
		{"HEAD", "/ui/qr.js", 200, "text/javascript", ""},
		{"GET", "/ui", 301, "", ""},
		{"GET", "/ui/nothing.js", 404, "", ""},
		{"POST", "/ui/", 405, "", ""},
		{"GET", "/v1/jobs", 401, "application/json", "UNAUTHENTICATED"},
	}
	for _, tc := range tests {
		hdr := map[string]string{}
		if tc.method == "POST" {
			hdr["Content-Type"] = "application/json"
		}
		client := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest(tc.method, g.base+tc.path, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		b := string(body)
		if res.StatusCode != tc.status {
			t.Errorf("%s %s: %d, want %d: %s", tc.method, tc.path, res.StatusCode, tc.status, b)
			continue
		}
		if tc.ctype != "" && !strings.HasPrefix(res.Header.Get("Content-Type"), tc.ctype) {
			t.Errorf("%s %s: Content-Type %q, want %s", tc.method, tc.path, res.Header.Get("Content-Type"), tc.ctype)
		}
		if !strings.Contains(b, tc.body) {
			t.Errorf("%s %s: body lacks %q", tc.method, tc.path, tc.body)
		}
		if tc.status == 200 {
			if csp := res.Header.Get("Content-Security-Policy"); csp != station.CSP || !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("%s %s: CSP %q", tc.method, tc.path, csp)
			}
			if res.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("%s %s: no nosniff", tc.method, tc.path)
			}
		}
		if tc.status == 301 && res.Header.Get("Location") != "/ui/" {
			t.Errorf("GET /ui redirects to %q", res.Header.Get("Location"))
		}
	}
}
