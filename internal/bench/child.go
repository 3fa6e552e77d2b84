package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/internal/sim/fleet"
	"github.com/espprov/espprov/services/provisioning"
)

// Credentials of the benchmark fleet (simulated devices only).
const (
	PoP         = "bench-pop-1234"
	SRPUsername = "wifiprov"
	SRPPassword = "abcd1234"
	SSID        = "BenchNet"
	Passphrase  = "bench-passphrase"
)

// Child roles: the processes a benchmark starts (espprov re-executes itself).
const (
	RoleServer = "server"
	RoleSim    = "sim"
)

// control is one command from the parent on the child's stdin.
type control struct {
	Cmd     string `json:"cmd"` // "mark" or "report"
	Profile string `json:"profile,omitempty"`
	// GC collects garbage before a report, so that the live heap is exact.
	GC bool `json:"gc,omitempty"`
}

// hello is the child's first line on stdout.
type hello struct {
	GRPC    string   `json:"grpc,omitempty"`
	Devices []string `json:"devices,omitempty"`
	// Parked are devices that take minutes to join Wi-Fi: provisions to
	// them stay in flight until cancelled (memory per session).
	Parked []string `json:"parked,omitempty"`
	PID    int      `json:"pid"`
}

// RunChild runs a benchmark child process: role with its args, reading
// control lines from in and answering on out, until in ends or ctx is done.
func RunChild(ctx context.Context, role string, args []string, in io.Reader, out io.Writer) error {
	var (
		h       hello
		cleanup func()
		count   func() int64
	)
	switch role {
	case RoleServer:
		srv, err := startServer(ctx, args)
		if err != nil {
			return err
		}
		h.GRPC = srv.GRPCAddr()
		cleanup = func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}
	case RoleSim:
		f, parked, err := startSim(ctx, args)
		if err != nil {
			return err
		}
		for _, m := range f.Devices() {
			h.Devices = append(h.Devices, m.Addr)
		}
		all := f.Devices()
		if parked != nil {
			for _, m := range parked.Devices() {
				h.Parked = append(h.Parked, m.Addr)
			}
			all = append(all, parked.Devices()...)
		}
		cleanup = func() {
			_ = f.Close()
			if parked != nil {
				_ = parked.Close()
			}
		}
		count = func() int64 {
			var n int64
			for _, m := range all {
				for _, c := range m.Device.Stats().Exchanges {
					n += int64(c)
				}
			}
			return n
		}
	default:
		return fmt.Errorf("bench: unknown child role %q", role)
	}
	defer cleanup()
	h.PID = os.Getpid()
	enc := json.NewEncoder(out)
	if err := enc.Encode(h); err != nil {
		return err
	}
	var s sampler
	defer s.halt()
	lines := make(chan []byte)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
	}()
	stopProf := func() {}
	defer func() { stopProf() }()
	for {
		var line []byte
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case line, ok = <-lines:
		}
		if !ok {
			return nil
		}
		var c control
		if err := json.Unmarshal(line, &c); err != nil {
			return fmt.Errorf("bench child: control line: %w", err)
		}
		switch c.Cmd {
		case "mark":
			stopProf()
			stopProf = func() {}
			if c.Profile != "" {
				stop, err := startCPUProfile(c.Profile)
				if err != nil {
					return err
				}
				stopProf = stop
			}
			s.mark(5 * time.Millisecond)
			u := s.report()
			if count != nil {
				u.Exchanges = count()
			}
			if err := enc.Encode(u); err != nil {
				return err
			}
		case "report":
			stopProf()
			stopProf = func() {}
			if c.GC {
				fullGC()
			}
			u := s.report()
			if count != nil {
				u.Exchanges = count()
			}
			if err := enc.Encode(u); err != nil {
				return err
			}
		default:
			return fmt.Errorf("bench child: unknown command %q", c.Cmd)
		}
	}
}

func startServer(ctx context.Context, args []string) (*server.Server, error) {
	fs := flag.NewFlagSet("bench server", flag.ContinueOnError)
	level := fs.String("log-level", "info", "log level (logs are formatted and discarded, like a server logging to a file)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: lv}))
	svc := provisioning.New(provisioning.Config{Modules: provisioning.DefaultModules(), Logger: log})
	return server.Start(ctx, server.Options{GRPCListen: "127.0.0.1:0", Service: svc, Logger: log})
}

// simArgs are the simulator child's flags.
type simArgs struct {
	devices      int
	secVer       int
	connectDelay time.Duration
	parked       int
}

// parkDelay is the association time of parked devices: longer than any run.
const parkDelay = time.Hour

func (a simArgs) args() []string {
	return []string{"-devices", fmt.Sprint(a.devices), "-sec-ver", fmt.Sprint(a.secVer),
		"-connect-delay", a.connectDelay.String(), "-parked", fmt.Sprint(a.parked)}
}

func startSim(ctx context.Context, args []string) (f, parked *fleet.Fleet, err error) {
	var a simArgs
	fs := flag.NewFlagSet("bench sim", flag.ContinueOnError)
	fs.IntVar(&a.devices, "devices", 1, "devices")
	fs.IntVar(&a.secVer, "sec-ver", 2, "security scheme")
	fs.DurationVar(&a.connectDelay, "connect-delay", time.Millisecond, "Wi-Fi association time")
	fs.IntVar(&a.parked, "parked", 0, "devices that never finish joining Wi-Fi")
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if a.devices < 1 {
		return nil, nil, errors.New("bench sim: need at least one device")
	}
	if f, err = fleet.Start(ctx, fleet.Options{N: a.devices, Template: deviceTemplate(a.secVer, a.connectDelay)}); err != nil {
		return nil, nil, err
	}
	if a.parked > 0 {
		if parked, err = fleet.Start(ctx, fleet.Options{N: a.parked, Template: deviceTemplate(a.secVer, parkDelay)}); err != nil {
			_ = f.Close()
			return nil, nil, err
		}
	}
	return f, parked, nil
}

func deviceTemplate(secVer int, connectDelay time.Duration) device.Config {
	c := device.Config{SecVer: secVer, APs: []device.AP{{SSID: SSID, Passphrase: Passphrase}},
		ConnectDelay: connectDelay, Recycle: true}
	switch secVer {
	case 1:
		c.PoP = PoP
	case 2:
		c.SecPatchVer, c.SRPUsername, c.SRPPassword = 1, SRPUsername, SRPPassword
	}
	return c
}
