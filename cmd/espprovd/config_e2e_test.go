package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/version"
)

// TestConfigFile: settings from a YAML file, ESPPROV_* over the file,
// flags over both; `config print` shows the result with secrets masked; an
// unknown key is an error naming key and file.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.yaml")
	tok := createToken(t, tokens, "mes", "admin")
	cfg := filepath.Join(dir, "espprovd.yaml")
	writeFile(t, cfg, "grpc-listen: 127.0.0.1:0\nhttp-listen: 127.0.0.1:0\nauth-tokens: "+tokens+
		"\nlog-format: text\nshutdown-grace: 3s\nrainmaker-password: rm-Secret-99\nrainmaker-user: maker@example.com\ncloud: [lab=https://rm.lab.example/]\n")
	env := map[string]string{"ESPPROV_LOG_FORMAT": "json", "ESPPROV_SHUTDOWN_GRACE": "5s"}
	getenv := func(k string) string { return env[k] }

	var out, errs syncBuf
	s := newSettings("espprovd config print", &errs)
	if err := s.parse([]string{"--config", cfg, "--shutdown-grace", "7s"}, getenv); err != nil {
		t.Fatal(err)
	}
	if err := s.layers.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"auth-tokens: " + tokens + " # file", "log-format: json # env ESPPROV_LOG_FORMAT", "shutdown-grace: 7s # flag",
		"rainmaker-password: '****' # file", "cloud: lab=https://rm.lab.example/ # file",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config print lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "rm-Secret-99") {
		t.Error("config print shows the RainMaker password")
	}

	// The daemon started from the file serves with its settings (JSON
	// logs from the environment, tokens from the file).
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuf{}
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, []string{"--config", cfg, "--store", filepath.Join(dir, "jobs.db")}, &syncBuf{}, logs, getenv)
	}()
	d := &daemon{t: t, logs: logs, stop: cancel, done: done}
	l := d.waitLog("espprovd serving", 20*time.Second)
	if l["auth"] != "tokens" {
		t.Errorf("auth from the config file: %v", l)
	}
	if err := d.shutdown(); err != nil {
		t.Fatal(err)
	}
	checkLogsNoSecret(t, logs.String(), []string{"rm-Secret-99", tok})

	for _, tc := range []struct{ body, want string }{
		{"grpc-listen: 127.0.0.1:0\ngrpc-lissen: x\n", `line 2: unknown key "grpc-lissen"`},
		{"demo: true\n", `unknown key "demo"`},
	} {
		writeFile(t, cfg, tc.body)
		err := run(context.Background(), []string{"--config", cfg}, &syncBuf{}, &syncBuf{})
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), cfg) {
			t.Errorf("%q: %v", tc.body, err)
		}
	}
}

func TestVersion(t *testing.T) {
	var out syncBuf
	if err := run(context.Background(), []string{"--version"}, &out, &syncBuf{}); err != nil {
		t.Fatal(err)
	}
	want := "espprovd " + version.Get().String()
	if strings.TrimSpace(out.String()) != want || !strings.Contains(want, "commit ") || !strings.Contains(want, "built ") {
		t.Errorf("--version: %q, want %q", out.String(), want)
	}
}

func TestTokenCommands(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	tok := createToken(t, file, "line-3", "provision,map")
	var out, errs syncBuf
	if err := run(context.Background(), []string{"token", "list", "--file", file}, &out, &errs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "line-3") || !strings.Contains(out.String(), "provision,map") || strings.Contains(out.String(), tok) {
		t.Errorf("token list:\n%s", out.String())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "create", "--file", file, "--name", "x", "--scopes", "root"}, `unknown scope "root"`},
		{[]string{"token", "create", "--file", file, "--name", "line-3", "--scopes", "map"}, "exists"},
		{[]string{"token", "create", "--file", file, "--scopes", "map"}, "--name"},
		{[]string{"token", "revoke", "--file", file, "--name", "nobody"}, "no token named"},
		{[]string{"token", "frobnicate", "--file", file}, "unknown subcommand"},
	} {
		err := run(context.Background(), tc.args, &syncBuf{}, &syncBuf{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func checkLogsNoSecret(t *testing.T, logs string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("logs hold the secret %q", s)
		}
	}
}
