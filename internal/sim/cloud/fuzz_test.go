package simcloud

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fuzzRoutes are the cloud's API calls (method, path and query).
var fuzzRoutes = []struct{ method, target string }{
	{"POST", "/v1/login2"},
	{"POST", "/v1/user/nodes/mapping/initiate"},
	{"POST", "/v1/user/nodes/mapping/verify"},
	{"PUT", "/v1/user/nodes/mapping"},
	{"GET", "/v1/user/nodes/mapping?request_id=x"},
	{"GET", "/v1/user/nodes?node_id=N1&node_details=true"},
	{"PUT", "/v1/user/nodes?node_id=N1"},
	{"DELETE", "/v1/user/nodes?node_id=N1"},
	{"GET", "/apiversions"},
}

// FuzzServe sends arbitrary JSON bodies to every route of the simulated
// cloud, signed in or not. It must never panic and always answer JSON.
func FuzzServe(f *testing.F) {
	for i, body := range []string{
		`{"user_name":"maker@example.com","password":"makerpass"}`,
		`{"timeout":60}`,
		`{"request_id":"r","node_id":"N1","challenge_response":"00","tags":["a"],"metadata":{"k":1}}`,
		`{"node_id":"N1","secret_key":"k","operation":"add"}`,
		``, `{}`, `[]`, `null`, `{"refreshtoken":"x"}`, `{"tags":[1],"metadata":[]}`,
	} {
		f.Add(uint8(i), true, []byte(body))
		f.Add(uint8(i), false, []byte(body))
	}
	c := New(Options{})
	defer c.Close()
	c.AddUser("maker@example.com", "makerpass")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	c.RegisterNode("N1", key.Public())
	tok, err := c.Login("maker@example.com", "makerpass")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, route uint8, signedIn bool, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(rt.method, rt.target, bytes.NewReader(body))
		if signedIn {
			req.Header.Set("Authorization", tok.AccessToken)
		}
		w := httptest.NewRecorder()
		c.serve(w, req)
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("status %d", w.Code)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %s answered %d with non-JSON %q", rt.method, rt.target, w.Code, w.Body.String())
		}
		if !signedIn && rt.target != "/v1/login2" && rt.target != "/apiversions" && w.Code != http.StatusUnauthorized {
			t.Fatalf("%s %s without a token answered %d", rt.method, rt.target, w.Code)
		}
		c.mu.Lock()
		c.requests = nil // the log would grow for the whole fuzzing run
		c.mu.Unlock()
	})
}
