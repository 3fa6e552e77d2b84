package rainmaker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveBaseURL(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"", GlobalBaseURL, false},
		{"global", GlobalBaseURL, false},
		{"GLOBAL", GlobalBaseURL, false},
		{"china", ChinaBaseURL, false},
		{"cn", ChinaBaseURL, false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/v1/", false},
		{"http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1/", false},
		{"http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1/", false},
		{"https://example.com/v1/", "https://example.com/v1/", false},
		{"https://example.com/api", "https://example.com/api/v1/", false},
		{"https://example.com/v1/?x=1#f", "https://example.com/v1/", false},
		{"ftp://example.com", "", true},
		{"example.com", "", true},
		{"http://", "", true},
		{"http://user:pw@example.com", "", true},
	}
	for _, tc := range tests {
		got, err := ResolveBaseURL(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ResolveBaseURL(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("error leaks URL user info: %v", err)
		}
	}
}

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	c := Credentials{Username: "me@example.com", Password: "hunter2-secret", RefreshToken: "refresh-secret-xyz",
		AccessToken: "access-secret-abc", IDToken: "id-secret-def"}
	var logbuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logbuf, nil)).Info("creds", "c", c)
	slog.New(slog.NewJSONHandler(&logbuf, nil)).Info("creds", "c", c)
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs := []string{
		fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprintf("%v", &c),
		string(j), logbuf.String(),
	}
	for _, out := range outputs {
		for _, s := range []string{c.Password, c.RefreshToken, c.AccessToken, c.IDToken} {
			if strings.Contains(out, s) {
				t.Errorf("output %q contains secret %q", out, s)
			}
		}
	}
	if !strings.Contains(outputs[0], "me@example.com") || !strings.Contains(outputs[0], "password=set") {
		t.Errorf("String() = %s, want user name and password=set", outputs[0])
	}
}

func TestCredentialsValidate(t *testing.T) {
	tests := []struct {
		c  Credentials
		ok bool
	}{
		{Credentials{RefreshToken: "r"}, true},
		{Credentials{Username: "u", Password: "p"}, true},
		{Credentials{AccessToken: "a", IDToken: "i"}, true},
		{Credentials{Username: "u"}, false},
		{Credentials{Password: "p"}, false},
		{Credentials{AccessToken: "a"}, false},
		{Credentials{}, false},
	}
	for _, tc := range tests {
		err := tc.c.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%v: Validate() = %v, want ok=%v", tc.c, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%v: error %v does not wrap ErrUnauthenticated", tc.c, err)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "creds.json")
	// The reference CLI's token file layout plus espprov's keys.
	if err := os.WriteFile(file, []byte(`{"idtoken":"i","refreshtoken":"file-refresh","accesstoken":"a","user_name":"fileuser","password":"filepw","base_url":"http://127.0.0.1:9"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`not json secret-content`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     map[string]string
		want    ServerConfig
		wantErr bool
	}{
		{"empty", nil, ServerConfig{BaseURL: GlobalBaseURL}, false},
		{"env only", map[string]string{EnvUsername: "u", EnvPassword: "p", EnvBaseURL: "china"},
			ServerConfig{BaseURL: ChinaBaseURL, Credentials: Credentials{Username: "u", Password: "p"}}, false},
		{"CLI password variable", map[string]string{EnvUsername: "u", EnvCLIPassword: "clipw"},
			ServerConfig{BaseURL: GlobalBaseURL, Credentials: Credentials{Username: "u", Password: "clipw"}}, false},
		{"file", map[string]string{EnvCredentialsFile: file},
			ServerConfig{BaseURL: "http://127.0.0.1:9/v1/", Credentials: Credentials{Username: "fileuser", Password: "filepw",
				RefreshToken: "file-refresh", AccessToken: "a", IDToken: "i"}}, false},
		{"env overrides file", map[string]string{EnvCredentialsFile: file, EnvRefreshToken: "env-refresh", EnvBaseURL: "global"},
			ServerConfig{BaseURL: GlobalBaseURL, Credentials: Credentials{Username: "fileuser", Password: "filepw",
				RefreshToken: "env-refresh", AccessToken: "a", IDToken: "i"}}, false},
		{"missing file", map[string]string{EnvCredentialsFile: filepath.Join(dir, "nope")}, ServerConfig{}, true},
		{"bad file", map[string]string{EnvCredentialsFile: bad}, ServerConfig{}, true},
		{"bad URL", map[string]string{EnvBaseURL: "nonsense"}, ServerConfig{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadConfig(func(k string) string { return tc.env[k] })
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret-content") {
				t.Fatalf("error leaks file content: %v", err)
			}
			if got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCredentialsFromMetadata(t *testing.T) {
	tests := []struct {
		name    string
		md      map[string][]string
		want    Credentials
		ok      bool
		wantErr bool
	}{
		{"none", map[string][]string{"other": {"x"}}, Credentials{}, false, false},
		{"refresh", map[string][]string{MDRefreshToken: {"r"}}, Credentials{RefreshToken: "r"}, true, false},
		{"user+password", map[string][]string{MDUsername: {"u"}, MDPassword: {"p"}}, Credentials{Username: "u", Password: "p"}, true, false},
		{"user without password", map[string][]string{MDUsername: {"u"}}, Credentials{}, false, true},
		{"duplicate", map[string][]string{MDRefreshToken: {"r1", "r2"}}, Credentials{}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := CredentialsFromMetadata(tc.md)
			if (err != nil) != tc.wantErr || ok != tc.ok || got != tc.want {
				t.Fatalf("got %v %v %v; want %v %v error %v", got, ok, err, tc.want, tc.ok, tc.wantErr)
			}
			if err != nil {
				for _, vs := range tc.md {
					for _, v := range vs {
						if len(v) > 1 && strings.Contains(err.Error(), v) {
							t.Fatalf("error leaks a value: %v", err)
						}
					}
				}
			}
		})
	}
}
