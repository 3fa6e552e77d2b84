// Package cli implements the espprov command line: provision (compatible
// with `esp-rainmaker-cli provision`, without its defects), discover, scan,
// map, disable-chal-resp and login. Every command speaks the public
// espprov.v1 gRPC API: to an in-process service over an in-memory
// connection by default, or to a remote espprovd with --server.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/espprov/espprov/internal/version"
)

// Exit codes. They are part of the command line contract (README, --help).
const (
	ExitOK          = 0
	ExitInternal    = 1
	ExitUsage       = 2
	ExitDevice      = 3
	ExitCredentials = 4
	ExitWifi        = 5
	ExitCloud       = 6
	ExitInterrupted = 130
)

// exitCodesHelp documents the exit codes in --help.
const exitCodesHelp = `Exit codes:
  0    success
  1    internal error
  2    bad usage: invalid or missing flags/arguments (nothing was sent to the device)
  3    device or transport failure: not found, unreachable, stopped answering, refused a step
  4    wrong credentials: the device rejected the PoP or the Security 2 username/password
  5    network failure: the device could not join Wi-Fi or attach to Thread (wrong passphrase
       or network key, network not found, timeout)
  6    cloud failure: ESP RainMaker login, mapping or account problem
  130  interrupted (Ctrl-C)`

// exitError carries an exit code and the message printed as "Error: ...".
type exitError struct {
	code int
	msg  string
	// quiet: the message was already printed.
	quiet bool
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, a ...any) error {
	return &exitError{code: ExitUsage, msg: fmt.Sprintf(format, a...)}
}

func codeErr(code int, format string, a ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, a...)}
}

// ExitCode returns the process exit code for an error returned by a command.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	if errors.Is(err, context.Canceled) {
		return ExitInterrupted
	}
	return ExitInternal
}

// IO is the process environment a command runs in.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (default os.Getenv).
	Getenv func(string) string
}

// app is the state shared by all commands of one invocation.
type app struct {
	io     IO
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string

	// global flags
	server        string
	useTLS        bool
	tlsCA         string
	tlsServerName string
	tlsInsecure   bool
	token         string
	tlsCert       string
	tlsKey        string
	output        string
	noInput       bool
	verbose       bool

	ui *ui
	// auth logs in to RainMaker (default: HTTP login2).
	auth Authenticator
	// prepared, when set (tests), receives the resolved provision request
	// instead of running it.
	prepared func(*provRun) error
}

func (a *app) json() bool { return a.output == "json" }

// interactive reports whether the user can be asked: stdin is a terminal,
// --no-input is not set and the output is text.
func (a *app) interactive() bool {
	return !a.noInput && !a.json() && a.ui.inTTY
}

func (a *app) logger() *slog.Logger {
	if !a.verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Main runs the command line and returns the exit code.
func Main(args []string, std IO) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, std)
}

// Run runs the command line with ctx (cancelled on Ctrl-C) and returns the
// exit code; errors are printed to std.Stderr.
func Run(ctx context.Context, args []string, std IO) int {
	if std.Getenv == nil {
		std.Getenv = os.Getenv
	}
	a := &app{io: std, stdout: std.Stdout, stderr: std.Stderr, getenv: std.Getenv}
	a.ui = newUI(std.Stdin, std.Stdout, std.Stderr)
	defer a.ui.close()
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(std.Stdin)
	root.SetOut(std.Stdout)
	root.SetErr(std.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitCode(err)
	if code == ExitInternal && isCobraUsage(err) {
		err, code = usageErr("%v", err), ExitUsage
	}
	if ctx.Err() != nil && (code == ExitInternal || errors.Is(err, context.Canceled)) {
		code = ExitInterrupted
	}
	if code == ExitInterrupted {
		a.ui.restore()
		fmt.Fprintln(a.stderr, "\nProvisioning cancelled by user.")
		return code
	}
	var e *exitError
	if errors.As(err, &e) && e.quiet {
		return code
	}
	a.printError(err, code)
	return code
}

func (a *app) printError(err error, code int) {
	a.ui.stopSpinner()
	if a.json() {
		writeJSONLine(a.stdout, map[string]any{"error": map[string]any{"message": err.Error(), "exitCode": code}})
	}
	fmt.Fprintf(a.stderr, "Error: %s\n", err.Error())
	if code == ExitUsage {
		fmt.Fprintln(a.stderr, "Run 'espprov --help' for usage.")
	}
}

// isCobraUsage recognises cobra's own (untyped) command-line errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "unknown flag", "unknown shorthand flag", "requires at least", "requires at most", "invalid argument"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// flagAliases lets the dashed spellings of the reference CLI's underscore
// flags work too (--sec-ver = --sec_ver).
var flagAliases = map[string]string{
	"sec-ver":       "sec_ver",
	"sec2-username": "sec2_username",
	"sec2-password": "sec2_password",
	"device-name":   "device_name",
}

func normalizeFlag(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	if n, ok := flagAliases[name]; ok {
		name = n
	}
	return pflag.NormalizedName(name)
}

const rootLong = `espprov provisions ESP32 devices running ESP-IDF protocomm (Wi-Fi provisioning
over SoftAP/HTTP, BLE, UART console, and ESP RainMaker on-network mapping).

By default the provisioning engine runs inside this process. With --server
HOST:PORT, espprov is a client of a remote espprovd speaking the same gRPC API.

At a terminal espprov asks for what is missing (Wi-Fi network, passphrase,
Security 2 credentials). In scripts (stdin not a terminal, --no-input or
--output json) it never prompts: missing input is an error naming the flag
to pass.

` + exitCodesHelp

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "espprov",
		Short:         "Provision ESP32 devices (ESP-IDF protocomm, ESP RainMaker)",
		Long:          rootLong,
		Version:       version.Get().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Example: `  espprov provision --pop abcd1234 --transport softap
  espprov provision --transport httpd --device-ip 10.0.0.7 --pop abcd1234 --ssid Home --passphrase 'secret-pass'
  espprov provision --qrcode '{"ver":"v1","name":"PROV_fc9ea3","pop":"7a9d365e","transport":"ble"}'
  espprov scan --transport httpd --device-ip 10.0.0.7 --pop abcd1234
  espprov discover --transport on-network
  espprov login --email me@example.com
  espprov --server espprovd.lan:50051 --tls-ca ca.pem provision --transport httpd --device-ip 10.0.0.7 ...`,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			switch a.output {
			case "text", "json":
			default:
				return usageErr("--output must be text or json (got %q)", a.output)
			}
			if a.server == "" && (a.useTLS || a.tlsCA != "" || a.tlsServerName != "" || a.tlsInsecure || a.tlsCert != "" || a.token != "") {
				return usageErr("--tls, --tls-ca, --tls-server-name, --tls-insecure, --tls-cert and --token need --server")
			}
			if (a.tlsCert == "") != (a.tlsKey == "") {
				return usageErr("--tls-cert and --tls-key go together")
			}
			return nil
		},
	}
	root.SetVersionTemplate("espprov {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return usageErr("%v", err)
	})
	root.SetGlobalNormalizationFunc(normalizeFlag)
	pf := root.PersistentFlags()
	pf.StringVar(&a.server, "server", "", "use a remote espprovd at `HOST:PORT` instead of the in-process engine")
	pf.BoolVar(&a.useTLS, "tls", false, "connect to --server with TLS (system trust store)")
	pf.StringVar(&a.tlsCA, "tls-ca", "", "trust this PEM CA `FILE` for --server (implies --tls)")
	pf.StringVar(&a.tlsServerName, "tls-server-name", "", "expected server certificate `NAME` (implies --tls)")
	pf.BoolVar(&a.tlsInsecure, "tls-insecure", false, "TLS without certificate verification (testing only; implies --tls)")
	pf.StringVar(&a.token, "token", "", "bearer token for --server (prefer ESPPROV_TOKEN: a command line is visible to every local user)")
	pf.StringVar(&a.tlsCert, "tls-cert", "", "client certificate `FILE` (PEM) for a --server with --tls-client-ca (implies --tls)")
	pf.StringVar(&a.tlsKey, "tls-key", "", "client private key `FILE` (PEM) for --tls-cert")
	pf.StringVarP(&a.output, "output", "o", "text", "output format: text, or json (one JSON object per line; never prompts)")
	pf.BoolVar(&a.noInput, "no-input", false, "never prompt; missing input is an error")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "log the engine's steps to stderr")

	root.AddCommand(a.provisionCommand(), a.discoverCommand(), a.scanCommand(), a.mapCommand(),
		a.disableChalRespCommand(), a.loginCommand(), a.logoutCommand(), a.jobsCommand(), a.benchCommand(), a.benchChild())
	for _, c := range root.Commands() {
		c.SilenceUsage = true
		c.Flags().SortFlags = false
	}
	root.SetHelpCommand(&cobra.Command{Hidden: true, Use: "no-help"})
	return root
}

// isTerminal reports whether r is a terminal file.
func isTerminal(r any) (int, bool) {
	f, ok := r.(*os.File)
	if !ok || f == nil {
		return -1, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// flagHint rewrites API field names in server messages to the CLI flags.
func flagHint(msg string) string {
	r := strings.NewReplacer(
		"security.sec2_username and security.sec2_password", "--sec2_username and --sec2_password",
		"security.sec2_username", "--sec2_username",
		"security.sec2_password", "--sec2_password",
		"pass security.pop", "pass --pop",
		"security.pop", "--pop",
		"wifi.ssid", "--ssid",
		"device.address", "--device-ip/--device-host",
		"device.serial_port", "--port",
		"device.baud_rate", "--baud",
		"with reprovision set (CLI: --reprovision)", "with --reprovision",
		"custom_data", "--custom-data",
	)
	return r.Replace(msg)
}
