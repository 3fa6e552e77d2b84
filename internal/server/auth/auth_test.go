package auth

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/identity"
)

func TestTokenFileLifecycle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	mes, err := CreateToken(path, "mes", []Scope{ScopeProvision, ScopeMap}, now)
	if err != nil {
		t.Fatal(err)
	}
	viewer, err := CreateToken(path, "viewer", []Scope{ScopeJobsRead}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateToken(path, "mes", []Scope{ScopeAdmin}, now); err == nil || !strings.Contains(err.Error(), `"mes" exists`) {
		t.Errorf("duplicate name: %v", err)
	}
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), mes) || strings.Contains(string(raw), viewer) {
		t.Fatal("tokens file holds a token")
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	a, err := NewAuthenticator(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Authenticate(mes, nil)
	if err != nil || p.Identity != (identity.Identity{Kind: identity.KindToken, Name: "mes"}) || !p.Allows(ScopeMap) || p.Allows(ScopeDiscover) {
		t.Fatalf("mes: %+v %v", p, err)
	}
	if _, err := a.Authenticate(mes+"x", nil); !errors.Is(err, ErrBadToken) {
		t.Errorf("bad token: %v", err)
	}
	if _, err := a.Authenticate("", nil); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("none: %v", err)
	}
	if err := RevokeToken(path, "mes"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(mes, nil); err != nil {
		t.Fatal("revocation took effect before Reload")
	}
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(mes, nil); !errors.Is(err, ErrBadToken) {
		t.Errorf("revoked token accepted: %v", err)
	}
	if p, err := a.Authenticate(viewer, nil); err != nil || p.Name != "viewer" {
		t.Errorf("viewer: %v %v", p, err)
	}
	if err := RevokeToken(path, "nobody"); err == nil {
		t.Error("revoking an unknown name succeeded")
	}
}

func TestCertificateIdentity(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	writeString(t, path, "certificates:\n  - subject: CN=station-7,O=Factory\n    scopes: [provision, discover]\n")
	a, err := NewAuthenticator(path)
	if err != nil {
		t.Fatal(err)
	}
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "station-7", Organization: []string{"Factory"}}}
	p, err := a.Authenticate("", []*x509.Certificate{cert})
	if err != nil || p.String() != "certificate:CN=station-7,O=Factory" || !p.Allows(ScopeDiscover) || p.Allows(ScopeMap) {
		t.Fatalf("%+v %v", p, err)
	}
	other := &x509.Certificate{Subject: pkix.Name{CommonName: "intruder"}}
	p, err = a.Authenticate("", []*x509.Certificate{other})
	if err != nil || len(p.Scopes) != 0 || p.Allows(ScopeDiscover) {
		t.Fatalf("unlisted subject: %+v %v", p, err)
	}
}

func TestReadFileErrors(t *testing.T) {
	tests := []struct{ body, want string }{
		{"tokens:\n  - name: a\n    scopes: [provision]\n    hash: sha256:00\n", "64 hex digits"},
		{"tokens:\n  - name: a\n    scopes: [root]\n    hash: sha256:" + strings.Repeat("0", 64) + "\n", `unknown scope "root"`},
		{"tokens:\n  - name: a\n    scope: [provision]\n", "field scope not found"},
		{"certificates:\n  - subject: CN=x\n    scopes: []\n", "no scopes"},
		{"tokenz: []\n", "field tokenz not found"},
	}
	for _, tc := range tests {
		path := filepath.Join(t.TempDir(), "tokens.yaml")
		writeString(t, path, tc.body)
		_, err := NewAuthenticator(path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: %v, want %q and the path", tc.body, err, tc.want)
		}
	}
	// A failed reload keeps the previous file in force.
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	tok, err := CreateToken(path, "ok", []Scope{ScopeAdmin}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAuthenticator(path)
	if err != nil {
		t.Fatal(err)
	}
	writeString(t, path, "garbage: [")
	if err := a.Reload(); err == nil {
		t.Fatal("reload of a broken file succeeded")
	}
	if _, err := a.Authenticate(tok, nil); err != nil {
		t.Errorf("previous tokens lost after a failed reload: %v", err)
	}
}

func TestMethodScopes(t *testing.T) {
	tests := map[string]Scope{
		"/espprov.v1.ProvisioningService/Discover":                 ScopeDiscover,
		"/espprov.v1.ProvisioningService/ScanWifi":                 ScopeDiscover,
		"/espprov.v1.ProvisioningService/ScanThread":               ScopeDiscover,
		"/espprov.v1.ProvisioningService/Provision":                ScopeProvision,
		"/espprov.v1.ProvisioningService/ProvisionInteractive":     ScopeProvision,
		"/espprov.v1.ProvisioningService/MapNode":                  ScopeMap,
		"/espprov.v1.ProvisioningService/DisableChallengeResponse": ScopeMap,
		"/espprov.v1.ProvisioningService/ListJobs":                 ScopeJobsRead,
		"/espprov.v1.ProvisioningService/ListProfiles":             ScopeJobsRead,
		"/espprov.v1.ProvisioningService/UpdateJobLabels":          ScopeProvision,
		"/espprov.v1.ProvisioningService/SomethingNew":             ScopeAdmin,
		"/other.Service/Provision":                                 ScopeAdmin,
	}
	for m, want := range tests {
		if got := MethodScope(m); got != want {
			t.Errorf("%s: %s, want %s", m, got, want)
		}
	}
	if !Open("/grpc.health.v1.Health/Check") || Open("/espprov.v1.ProvisioningService/Discover") {
		t.Error("Open")
	}
	if _, err := ParseScopes("provision, map"); err != nil {
		t.Error(err)
	}
	if _, err := ParseScopes("provision,sudo"); err == nil {
		t.Error("unknown scope accepted")
	}
	if _, err := ParseScopes(""); err == nil {
		t.Error("empty scopes accepted")
	}
}

func TestBearerToken(t *testing.T) {
	for in, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "Bearer": "", "abc": ""} {
		got, ok := BearerToken(in)
		if got != want || ok != (want != "") {
			t.Errorf("%q: %q %v", in, got, ok)
		}
	}
}

func writeString(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkAuthenticate: one token check against a file of 100 tokens (every
// stored hash is compared, in constant time).
func BenchmarkAuthenticate(b *testing.B) {
	path := filepath.Join(b.TempDir(), "tokens.yaml")
	var last string
	for i := range 100 {
		tok, err := CreateToken(path, "t"+strconv.Itoa(i), []Scope{ScopeProvision}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		last = tok
	}
	a, err := NewAuthenticator(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(last, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEveryMethodHasAScope: each RPC of espprov.v1 has an explicit entry in
// the scope table (a new RPC must choose one; unlisted would mean admin).
func TestEveryMethodHasAScope(t *testing.T) {
	sd := espprovv1.ProvisioningService_ServiceDesc
	var names []string
	for _, m := range sd.Methods {
		names = append(names, m.MethodName)
	}
	for _, s := range sd.Streams {
		names = append(names, s.StreamName)
	}
	for _, n := range names {
		if _, ok := methodScopes[n]; !ok {
			t.Errorf("%s has no entry in methodScopes (internal/server/auth/scope.go) and the README's scope table", n)
		}
	}
}
