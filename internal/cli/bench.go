package cli

import (
	"errors"
	"os"
	"os/exec"
	"time"

	"github.com/spf13/cobra"

	"github.com/espprov/espprov/internal/bench"
)

// benchChildCommand is the hidden subcommand a benchmark re-executes
// espprov with to run its server and simulator processes.
const benchChildCommand = "__bench-child"

const benchLong = `Measure espprov at scale. bench starts a provisioning server (or uses
--server) and a simulated fleet, each in its own process, runs --devices
provisions, --concurrency at a time, through the public gRPC API, and reports
throughput, latency (p50/p95/p99 and per step), CPU per provision split by
process and as a multiple of the scheme's cryptographic floor (measured in
the same run: one provision's handshake and encryption, both roles), round
trips per provision, server memory per session in flight, peak RSS and errors.

The simulated devices join Wi-Fi after --connect-delay (default 1 ms:
instant association). Progress goes to stderr; the report to stdout (a table,
or one JSON object with --output json). With --server the server's CPU and
memory are measured only if --server-pid names its process on this machine.

` + exitCodesHelp

func (a *app) benchCommand() *cobra.Command {
	var (
		o          bench.Options
		profileDir string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark provisioning against a simulated fleet",
		Long:  benchLong,
		Example: `  espprov bench --sec-ver 1 --devices 5000 --concurrency 64
  espprov bench --sec-ver 2 --devices 500 --concurrency 64 --output json
  espprov --server 127.0.0.1:50051 bench --server-pid $(pidof espprovd) --devices 1000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if profileDir != "" {
				if err := os.MkdirAll(profileDir, 0o755); err != nil {
					return usageErr("--profile-dir: %v", err)
				}
				o.ProfileDir = profileDir
			}
			if a.server != "" {
				c, err := a.connectRemote()
				if err != nil {
					return err
				}
				defer c.close()
				o.Client = c
			} else if o.ServerPID != 0 {
				return usageErr("--server-pid needs --server")
			}
			o.Spawn = selfSpawner
			o.Progress = a.stderr
			o.ProgressCR = a.ui.errTTY
			res, err := bench.Run(cmd.Context(), o)
			if errors.Is(err, bench.ErrUsage) {
				return usageErr("%v", errors.Unwrap(err))
			}
			if err != nil {
				return codeErr(ExitInternal, "%v", err)
			}
			if a.json() {
				writeJSONLine(a.stdout, res)
			} else {
				_, _ = a.stdout.Write([]byte(res.String()))
			}
			if res.Errors > 0 {
				return &exitError{code: ExitDevice, msg: "some provisions failed", quiet: true}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Transport, "transport", "httpd", "transport of the simulated devices: httpd (Wi-Fi provisioning) or on-network (RainMaker challenge-response mapping through a simulated cloud)")
	fs.IntVar(&o.SecVer, "sec_ver", 2, "security scheme 0, 1 or 2")
	fs.IntVar(&o.Devices, "devices", 200, "number of provisions (N)")
	fs.IntVar(&o.Concurrency, "concurrency", 16, "provisions in flight at once (C); the fleet has min(N, C) devices")
	fs.DurationVar(&o.ConnectDelay, "connect-delay", time.Millisecond, "simulated Wi-Fi association time")
	fs.DurationVar(&o.StatusPoll, "status-poll", 10*time.Millisecond, "Wi-Fi status poll interval requested from the server")
	fs.DurationVar(&o.FloorTime, "floor-time", 300*time.Millisecond, "how long the crypto floor is measured")
	fs.IntVar(&o.Singles, "singles", 5, "provisions run alone first, for the uncontended latency")
	fs.BoolVar(&o.NoMemory, "no-memory", false, "skip the memory phase (min(N, C) provisions held in flight to measure the server's memory per session)")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "with --server: the server's process id, to measure its CPU and memory")
	fs.StringVar(&profileDir, "profile-dir", "", "write CPU profiles of the measured run (server.pprof, sim.pprof, client.pprof) here")
	return cmd
}

// selfSpawner runs a benchmark child by re-executing this program.
func selfSpawner(role string, args []string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return exec.Command(exe, append([]string{benchChildCommand, role}, args...)...)
}

func (a *app) benchChild() *cobra.Command {
	return &cobra.Command{
		Use:                benchChildCommand + " ROLE [ARGS]",
		Hidden:             true,
		DisableFlagParsing: true,
		Args:               cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return bench.RunChild(cmd.Context(), args[0], args[1:], a.io.Stdin, a.stdout)
		},
	}
}
