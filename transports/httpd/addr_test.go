package httpd

import "testing"

func TestNormalizeAddress(t *testing.T) {
	tests := []struct {
		in, dial, host string
		bad            bool
	}{
		{in: "192.168.4.1:80", dial: "192.168.4.1:80", host: "192.168.4.1"},
		{in: "192.168.4.1", dial: "192.168.4.1:80", host: "192.168.4.1"},
		{in: "127.0.0.1:8080", dial: "127.0.0.1:8080", host: "127.0.0.1:8080"},
		{in: "[::1]:80", dial: "[::1]:80", host: "[::1]"},
		{in: "[::1]", dial: "[::1]:80", host: "[::1]"},
		{in: "[fe80::1]:8080", dial: "[fe80::1]:8080", host: "[fe80::1]:8080"},
		{in: "my-esp.local:80", dial: "my-esp.local:80", host: "my-esp.local"},
		{in: "", bad: true},
		{in: ":80", bad: true},
		{in: "host:0", bad: true},
		{in: "host:http", bad: true},
		{in: "::1", bad: true},
	}
	for _, tc := range tests {
		dial, host, err := normalizeAddress(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("%q: accepted as %q", tc.in, dial)
			}
			continue
		}
		if err != nil || dial != tc.dial || host != tc.host {
			t.Errorf("%q: got %q %q %v, want %q %q", tc.in, dial, host, err, tc.dial, tc.host)
		}
	}
}

func TestValidEndpoint(t *testing.T) {
	for _, ep := range []string{"prov-session", "proto-ver", "esp_local_ctrl/session", "custom-data", "a.b~c"} {
		if !validEndpoint(ep) {
			t.Errorf("%q rejected", ep)
		}
	}
	for _, ep := range []string{"", "/prov-session", "a b", "a?b", "a#b", "a%20b", "a\r\nb", "é"} {
		if validEndpoint(ep) {
			t.Errorf("%q accepted", ep)
		}
	}
}

func TestBuildRequestHostWithoutDefaultPort(t *testing.T) {
	tr := &Transport{host: "192.168.4.1", cookie: "session=1"}
	got := string(tr.buildRequest("proto-ver", []byte("v")))
	want := "POST /proto-ver HTTP/1.1\r\nHost: 192.168.4.1\r\nContent-Type: application/x-www-form-urlencoded\r\nAccept: text/plain\r\nContent-Length: 1\r\nCookie: session=1\r\n\r\nv"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}
