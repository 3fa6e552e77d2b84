package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/espprov/espprov/internal/config"
	"github.com/espprov/espprov/internal/rainmaker"
	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/internal/server/logging"
)

// settings are espprovd's flags; each is also a config file key and an
// ESPPROV_* environment variable (package config).
type settings struct {
	fs *flag.FlagSet

	config, grpcListen, httpListen, metricsListen string
	pprofListen                                   string
	logLevel, logFormat                           string
	authTokens, tlsCert, tlsKey, tlsClientCA      string
	rmURL, rmUser, rmPassword, rmRefresh, rmFile  string
	metricsOpen, insecureNoAuth, demo, version    bool
	shutdownGrace                                 time.Duration
	clouds                                        cloudFlag
	cloudAllowHTTP, cloudRefuseURLs               bool
	bleAdapters, profiles                         string
	limits                                        func() (server.HTTPOptions, server.GRPCLimits)
	jobs                                          *jobFlags

	layers *config.Layers
}

// notSettings are flags that only make sense on a command line.
var notSettings = []string{"config", "demo", "version"}

func newSettings(name string, stderr io.Writer) *settings {
	s := &settings{fs: flag.NewFlagSet(name, flag.ContinueOnError), clouds: cloudFlag{}}
	fs := s.fs
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: espprovd [flags]                 serve the espprov.v1 API (gRPC + REST gateway)
       espprovd token create|list|revoke  manage the --auth-tokens file (espprovd token --help)
       espprovd config print [flags]      the effective configuration, secrets masked
       espprovd --version

Every flag is also a key of the YAML --config file and an ESPPROV_<FLAG>
environment variable; precedence: flag > environment > file > default.
SIGHUP re-reads the tokens file, the TLS files and the profiles file;
SIGTERM stops gracefully.

Station profiles (--profiles FILE, YAML; a file holding a passphrase or a
Thread dataset must not be readable by other users) are named presets a
ProvisionRequest picks with its profile field; the request's unset fields
come from the profile, secrets are never returned (ListProfiles):

  profiles:
    - name: line-1                # letters, digits, . _ : -
      description: Line 1, fixture A
      transport: httpd            # softap, httpd, ble, console, on-network
      address: 192.168.4.1:80     # default device address
      addresses: {PROV_0001: 10.0.7.11:80}   # device name -> host:port
      adapter: hci0               # BLE
      security: 2                 # 0, 1, 2 or auto
      sec2_username: wifiprov
      wifi: {ssid: factory-net, passphrase_file: /etc/espprov/wifi.pass}
      # thread: {dataset_file: /etc/espprov/thread.hex}
      mapping: {enabled: true, cloud: ""}    # "" = the server's account
      work_order: WO-118
      station: line-1-a
      labels: {line: "1"}
      timeouts: {exchange: 10s, overall: 3m, wifi_connect: 60s}

flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&s.config, "config", "", "YAML config `FILE`: keys are these flag names (default $ESPPROV_CONFIG); precedence: flag > ESPPROV_* env > file > default")
	fs.StringVar(&s.grpcListen, "grpc-listen", "127.0.0.1:50051", "gRPC listen address `HOST:PORT`")
	fs.StringVar(&s.httpListen, "http-listen", "127.0.0.1:8090", "REST gateway listen address `HOST:PORT` (empty disables it)")
	fs.StringVar(&s.metricsListen, "metrics-listen", "", "serve /metrics on this `HOST:PORT` instead of the REST gateway's")
	fs.StringVar(&s.pprofListen, "pprof-listen", "", "serve the Go profiler (/debug/pprof/) on this loopback `HOST:PORT` (refused on any other address)")
	fs.BoolVar(&s.metricsOpen, "metrics-open", false, "serve /metrics without authentication")
	fs.StringVar(&s.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&s.logFormat, "log-format", "text", "log format: "+logging.Formats)
	fs.DurationVar(&s.shutdownGrace, "shutdown-grace", 10*time.Second, "on SIGINT/SIGTERM, how long running calls may finish before they are cancelled")
	fs.StringVar(&s.authTokens, "auth-tokens", "", "tokens `FILE` (token hashes and certificate subjects with scopes; see `espprovd token`); re-read on SIGHUP")
	fs.StringVar(&s.tlsCert, "tls-cert", "", "server certificate `FILE` (PEM) for gRPC and REST; re-read on SIGHUP")
	fs.StringVar(&s.tlsKey, "tls-key", "", "server private key `FILE` (PEM); re-read on SIGHUP")
	fs.StringVar(&s.tlsClientCA, "tls-client-ca", "", "CA `FILE` (PEM): a client certificate it signed authenticates as its subject (scopes in --auth-tokens)")
	fs.BoolVar(&s.insecureNoAuth, "insecure-no-auth", false, "allow listening on non-loopback addresses without authentication (anyone who can connect may provision and map devices)")
	fs.StringVar(&s.rmURL, "rainmaker-url", "", "RainMaker cloud of the server's account: global, china or a URL")
	fs.StringVar(&s.rmUser, "rainmaker-user", "", "RainMaker account user name")
	fs.StringVar(&s.rmPassword, "rainmaker-password", "", "RainMaker account password (prefer the config file or ESPPROV_RAINMAKER_PASSWORD: a command line is visible to every local user)")
	fs.StringVar(&s.rmRefresh, "rainmaker-refresh-token", "", "RainMaker refresh token (prefer the config file or the environment)")
	fs.StringVar(&s.rmFile, "rainmaker-credentials-file", "", "RainMaker credentials `FILE` (JSON, as written by `espprov login`)")
	fs.Var(s.clouds, "cloud", "add a named RainMaker cloud `NAME=URL` that calls may pick with mapping.cloud_url (repeatable; \"global\" and \"china\" are built in). Only the server's own cloud (--rainmaker-url) receives the server's account; the others need per-call x-rainmaker-* credentials")
	fs.BoolVar(&s.cloudAllowHTTP, "cloud-allow-http", false, "let calls with per-call credentials name an unconfigured plain-http cloud_url (default: https only)")
	fs.BoolVar(&s.cloudRefuseURLs, "cloud-refuse-urls", false, "refuse every cloud_url that is not a configured cloud, even with per-call credentials")
	fs.StringVar(&s.bleAdapters, "ble-adapters", "", "comma-separated Bluetooth `ADAPTERS` (hci0,hci1) BLE calls are spread over, one session per adapter at a time (default: the adapter a call names, else hci0)")
	fs.StringVar(&s.profiles, "profiles", "", "station profiles `FILE` (YAML, format above): presets a ProvisionRequest names with its profile field; re-read on SIGHUP")
	s.limits = limitFlags(fs)
	s.jobs = addJobFlags(fs)
	fs.BoolVar(&s.demo, "demo", false, "start a simulated device and this server on loopback, provision the device through the gRPC API and print the progress")
	fs.BoolVar(&s.version, "version", false, "print the version and exit")
	return s
}

// parse parses args and applies the environment and the config file.
func (s *settings) parse(args []string, getenv func(string) string) error {
	if err := s.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if s.fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", s.fs.Arg(0))}
	}
	if s.version {
		return nil
	}
	if s.config == "" {
		s.config = getenv("ESPPROV_CONFIG")
	}
	l, err := config.Apply(s.fs, s.config, getenv, config.Options{Skip: notSettings})
	if err != nil {
		return usageError{err}
	}
	s.layers = l
	return nil
}

// rainmakerEnv is the getenv rainmaker.LoadConfig reads: the --rainmaker-*
// settings under their ESPPROV_RAINMAKER_* names, else the environment.
func (s *settings) rainmakerEnv(getenv func(string) string) func(string) string {
	m := map[string]string{
		rainmaker.EnvBaseURL: s.rmURL, rainmaker.EnvUsername: s.rmUser, rainmaker.EnvPassword: s.rmPassword,
		rainmaker.EnvRefreshToken: s.rmRefresh, rainmaker.EnvCredentialsFile: s.rmFile,
	}
	return func(k string) string {
		if v := m[k]; v != "" {
			return v
		}
		if strings.HasPrefix(k, "ESPPROV_RAINMAKER_") {
			return "" // these are settings: already applied above
		}
		return getenv(k)
	}
}

func (s *settings) isSet(name string) bool {
	set := false
	s.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
