package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newFS() (*flag.FlagSet, *string, *string, *time.Duration, *bool, *string) {
	fs := flag.NewFlagSet("espprovd", flag.ContinueOnError)
	a := fs.String("grpc-listen", "127.0.0.1:50051", "")
	b := fs.String("http-listen", "127.0.0.1:8081", "")
	d := fs.Duration("shutdown-grace", 10*time.Second, "")
	o := fs.Bool("metrics-open", false, "")
	p := fs.String("rainmaker-password", "", "")
	fs.String("config", "", "")
	fs.Var(&multi{}, "cloud", "")
	fs.String("store", "", "")
	return fs, a, b, d, o, p
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "espprovd.yaml")
	os.WriteFile(path, []byte("grpc-listen: 0.0.0.0:1\nhttp-listen: 0.0.0.0:2\nshutdown-grace: 30s\nmetrics-open: true\nrainmaker-password: hunter2-file\ncloud: [a=1, b=2]\nstore: postgres://espprov:db-Secret-5@10.0.0.9/line\n"), 0o600)
	fs, grpcL, httpL, grace, open, pw := newFS()
	if err := fs.Parse([]string{"--grpc-listen", "10.0.0.1:3"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ESPPROV_HTTP_LISTEN": "10.0.0.2:4", "ESPPROV_CONFIG": "/ignored"}
	l, err := Apply(fs, path, func(k string) string { return env[k] }, Options{Skip: []string{"config"}})
	if err != nil {
		t.Fatal(err)
	}
	if *grpcL != "10.0.0.1:3" || *httpL != "10.0.0.2:4" || *grace != 30*time.Second || !*open || *pw != "hunter2-file" {
		t.Fatalf("values: %s %s %v %v", *grpcL, *httpL, *grace, *open)
	}
	if got := fs.Lookup("cloud").Value.(*multi); len(*got) != 2 || (*got)[1] != "b=2" {
		t.Errorf("repeatable flag from a list: %v", *got)
	}
	for name, want := range map[string]Source{"grpc-listen": SourceFlag, "http-listen": SourceEnv, "shutdown-grace": SourceFile} {
		if got := l.Source(name); got != want {
			t.Errorf("%s: source %s, want %s", name, got, want)
		}
	}
	var out bytes.Buffer
	if err := l.Print(&out); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"grpc-listen: 10.0.0.1:3 # flag", "http-listen: 10.0.0.2:4 # env ESPPROV_HTTP_LISTEN", "shutdown-grace: 30s # file", `rainmaker-password: '****' # file`, "store: postgres://espprov:****@10.0.0.9/line # file"} {
		if !strings.Contains(s, want) {
			t.Errorf("print lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "hunter2") || strings.Contains(s, "db-Secret-5") || strings.Contains(s, "config:") {
		t.Errorf("print shows a secret or a skipped flag:\n%s", s)
	}
}

func TestFileErrors(t *testing.T) {
	tests := []struct{ body, want string }{
		{"grpc-listen: a\ngrpc-lisen: b\n", `line 2: unknown key "grpc-lisen"`},
		{"config: x\n", `unknown key "config"`},
		{"- a\n", "want a mapping"},
		{"shutdown-grace: soon\n", "shutdown-grace"},
		{"grpc-listen: {a: b}\n", "want a value"},
		{"grpc-listen: a\ngrpc-listen: b\n", "appears twice"},
		{"rainmaker-password: [x\n", "espprovd.yaml"},
	}
	for _, tc := range tests {
		path := filepath.Join(t.TempDir(), "espprovd.yaml")
		os.WriteFile(path, []byte(tc.body), 0o600)
		fs, _, _, _, _, _ := newFS()
		fs.Parse(nil)
		_, err := Apply(fs, path, func(string) string { return "" }, Options{Skip: []string{"config"}})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%q: %v; want %q and the path", tc.body, err, tc.want)
		}
	}
	fs, _, _, _, _, _ := newFS()
	fs.Parse(nil)
	_, err := Apply(fs, "", func(k string) string {
		if k == "ESPPROV_RAINMAKER_PASSWORD" {
			return "x"
		}
		if k == "ESPPROV_METRICS_OPEN" {
			return "maybe"
		}
		return ""
	}, Options{})
	if err == nil || !strings.Contains(err.Error(), "ESPPROV_METRICS_OPEN") {
		t.Errorf("bad env value: %v", err)
	}
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ";") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }
