package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/services/provisioning"
)

// ptySession drives the real binary in a pseudo-terminal.
type ptySession struct {
	t    *testing.T
	cmd  *exec.Cmd
	f    *os.File
	mu   sync.Mutex
	buf  bytes.Buffer
	pos  int
	done chan struct{}
}

func startPTY(t *testing.T, args ...string) *ptySession {
	t.Helper()
	return startPTYEnv(t, nil, args...)
}

// startPTYEnv is startPTY with extra environment variables.
func startPTYEnv(t *testing.T, env []string, args ...string) *ptySession {
	t.Helper()
	return startPTYTyped(t, env, "", args...)
}

// startPTYTyped is startPTYEnv with keystrokes typed before espprov starts:
// they are in the terminal's input queue (and echoed) before the process
// exists, whatever the machine's load.
func startPTYTyped(t *testing.T, env []string, typedAhead string, args ...string) *ptySession {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "TERM=dumb"}, env...)
	f, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("opening a pty: %v", err)
	}
	if err := pty.Setsize(f, &pty.Winsize{Rows: 40, Cols: 160}); err != nil {
		t.Fatalf("pty size: %v", err)
	}
	s := &ptySession{t: t, cmd: cmd, f: f, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		b := make([]byte, 4096)
		for {
			n, err := f.Read(b)
			s.mu.Lock()
			s.buf.Write(b[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
		_ = f.Close()
		<-s.done
		if cmd.Process != nil {
			_ = cmd.Wait()
		}
	})
	if typedAhead != "" {
		s.send(typedAhead)
		// The echo shows that the line discipline holds the keystrokes.
		s.expect(typedAhead)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	err = cmd.Start()
	_ = tty.Close()
	if err != nil {
		t.Fatalf("starting espprov in a pty: %v", err)
	}
	return s
}

func (s *ptySession) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// expect waits for want to appear after the previous match.
func (s *ptySession) expect(want string) {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		out := s.buf.String()
		s.mu.Unlock()
		if i := strings.Index(out[s.pos:], want); i >= 0 {
			s.pos += i + len(want)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("timed out waiting for %q; terminal so far:\n%s", want, s.output())
}

func (s *ptySession) send(text string) {
	s.t.Helper()
	if _, err := s.f.Write([]byte(text)); err != nil {
		s.t.Fatalf("writing to the pty: %v", err)
	}
}

// wait returns the exit code.
func (s *ptySession) wait() int {
	s.t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- s.cmd.Wait() }()
	select {
	case err := <-ch:
		<-s.done
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			s.t.Fatalf("wait: %v", err)
		}
		return 0
	case <-time.After(15 * time.Second):
		s.t.Fatalf("espprov did not exit; terminal:\n%s", s.output())
	}
	return -1
}

// TestInteractivePickAPAndHiddenPassphrase: a person picks the network from
// the device's list (after an invalid choice and a rescan) and types the
// passphrase, which is not echoed.
func TestInteractivePickAPAndHiddenPassphrase(t *testing.T) {
	d := startDevice(t, sec1)
	s := startPTY(t, "provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--pop", testPoP, "--status-poll", "50ms")
	s.expect("==== Auto-detected Security Scheme: 1 ====")
	s.expect("Establishing session - Successful")
	s.expect("Scanning Wi-Fi AP's...")
	s.expect("S.N. SSID                              BSSID             CHN RSSI AUTH")
	s.expect("[ 1] HomeNet                           24:0a:c4:11:22:33 6   -40  WPA2_PSK")
	s.expect("[ 4] Join another network")
	s.expect("Select AP by number (0 to rescan) : ")
	s.send("9\r")
	s.expect("Invalid selection! Retry")
	s.expect("Select AP by number (0 to rescan) : ")
	s.send("0\r")
	s.expect("[ 1] HomeNet")
	s.expect("Select AP by number (0 to rescan) : ")
	s.send("1\r")
	s.expect("Enter passphrase for HomeNet : ")
	s.send(testPass + "\r")
	s.expect("Sending Wi-Fi credentials to node - Successful")
	s.expect("Applying Wi-Fi config to node - Successful")
	s.expect("==== WiFi state: Connected ====")
	s.expect("Wi-Fi Provisioning Successful")
	if code := s.wait(); code != 0 {
		t.Fatalf("exit code %d; terminal:\n%s", code, s.output())
	}
	if strings.Contains(s.output(), testPass) {
		t.Errorf("the passphrase was echoed:\n%s", s.output())
	}
	if st := d.dev.Stats(); st.Exchanges["prov-scan"] == 0 || st.Exchanges["prov-config"] == 0 {
		t.Errorf("device stats %+v: expected scans and config", st)
	}
}

// TestInteractiveRetrySameSession: after a wrong passphrase the person
// retries with the same SSID and a new passphrase on the same secure session.
func TestInteractiveRetrySameSession(t *testing.T) {
	for _, mode := range []string{"local", "remote"} {
		t.Run(mode, func(t *testing.T) {
			d := startDevice(t, sec1)
			var args []string
			if mode == "remote" {
				args = append(args, "--server", startServer(t))
			}
			args = append(args, "provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--pop", testPoP,
				"--ssid", testSSID, "--status-poll", "50ms")
			s := startPTY(t, args...)
			s.expect("Enter passphrase for HomeNet : ")
			s.send("wrong-passphrase\r")
			s.expect("---- WiFi state: Connection failed (wrong passphrase) ----")
			s.expect("Wi-Fi Provisioning Failed.")
			s.expect("Device reset via prov-ctrl successful.")
			s.expect("Would you like to retry provisioning? [y/N]: ")
			s.send("y\r")
			s.expect("Retry with same SSID 'HomeNet' and new password? [Y/n]: ")
			s.send("\r")
			s.expect("Enter passphrase for HomeNet : ")
			s.send(testPass + "\r")
			s.expect("==== WiFi state: Connected ====")
			s.expect("Wi-Fi Provisioning Successful")
			if code := s.wait(); code != 0 {
				t.Fatalf("exit code %d; terminal:\n%s", code, s.output())
			}
			st := d.dev.Stats()
			if st.HandshakesCompleted != 1 {
				t.Errorf("handshakes = %d, want 1 (the retry must reuse the secure session)", st.HandshakesCompleted)
			}
			if st.Exchanges["prov-ctrl"] != 1 {
				t.Errorf("prov-ctrl exchanges = %d, want 1", st.Exchanges["prov-ctrl"])
			}
			out := s.output()
			if strings.Contains(out, testPass) || strings.Contains(out, "wrong-passphrase") {
				t.Errorf("a passphrase was echoed:\n%s", out)
			}
		})
	}
}

// TestInteractiveRetryDeclined: declining the retry ends with the Wi-Fi
// exit code.
func TestInteractiveRetryDeclined(t *testing.T) {
	d := startDevice(t, sec1)
	s := startPTY(t, "provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--pop", testPoP,
		"--ssid", testSSID, "--status-poll", "50ms")
	s.expect("Enter passphrase for HomeNet : ")
	s.send("wrong-passphrase\r")
	s.expect("Would you like to retry provisioning? [y/N]: ")
	s.send("\r")
	s.expect("Provisioning cancelled.")
	s.expect("Error: the device could not connect to Wi-Fi")
	if code := s.wait(); code != ExitWifi {
		t.Fatalf("exit code %d, want %d; terminal:\n%s", code, ExitWifi, s.output())
	}
}

// TestInteractiveSecurity2Prompts: missing SRP credentials are asked for
// (D3), the password hidden.
func TestInteractiveSecurity2Prompts(t *testing.T) {
	d := startDevice(t, sec2)
	s := startPTY(t, "provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--sec_ver", "2",
		"--ssid", testSSID, "--passphrase", testPass, "--status-poll", "50ms")
	s.expect("Security Scheme 2 - SRP6a Username required: ")
	s.send(testUser + "\r")
	s.expect("Security Scheme 2 - SRP6a Password required: ")
	s.send(testPoP + "\r")
	s.expect("Wi-Fi Provisioning Successful")
	if code := s.wait(); code != 0 {
		t.Fatalf("exit code %d; terminal:\n%s", code, s.output())
	}
	if strings.Contains(s.output(), testPoP) {
		t.Errorf("the SRP password was echoed:\n%s", s.output())
	}
}

// TestInteractiveMissingPoPAsked: auto-detection finds Security 1 without
// no_pop; the person is asked for the PoP instead of getting an error.
func TestInteractiveMissingPoPAsked(t *testing.T) {
	d := startDevice(t, sec1)
	s := startPTY(t, "provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port,
		"--ssid", testSSID, "--passphrase", testPass, "--status-poll", "50ms")
	s.expect("Enter Proof of Possession (PoP): ")
	s.send(testPoP + "\r")
	s.expect("Wi-Fi Provisioning Successful")
	if code := s.wait(); code != 0 {
		t.Fatalf("exit code %d; terminal:\n%s", code, s.output())
	}
}

// onNetworkService is the real provisioning service with on-network
// discovery and mapping answered from fixed records, standing in for the
// on-network module that is not part of this build yet.
type onNetworkService struct {
	*provisioning.Service
	devices []*espprovv1.DiscoverResponse
	mu      sync.Mutex
	mapped  []*espprovv1.MapNodeRequest
}

func (s *onNetworkService) Discover(req *espprovv1.DiscoverRequest, st grpc.ServerStreamingServer[espprovv1.DiscoverResponse]) error {
	if req.GetDevice().GetTransport() != espprovv1.Transport_TRANSPORT_ON_NETWORK {
		return s.Service.Discover(req, st)
	}
	for _, d := range s.devices {
		if err := st.Send(d); err != nil {
			return err
		}
	}
	return nil
}

func (s *onNetworkService) MapNode(_ context.Context, req *espprovv1.MapNodeRequest) (*espprovv1.MapNodeResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mapped = append(s.mapped, req)
	for _, d := range s.devices {
		if d.GetAddress() == req.GetDevice().GetAddress() {
			return &espprovv1.MapNodeResponse{NodeId: d.GetNodeId(), ChalRespDisabled: req.GetMapping().DisableChalResp == nil || req.GetMapping().GetDisableChalResp()}, nil
		}
	}
	return nil, errors.New("unknown device")
}

// TestInteractiveOnNetworkSelection: the on-network device table of the
// seed, then a selection after invalid input.
func TestInteractiveOnNetworkSelection(t *testing.T) {
	svc := &onNetworkService{Service: provisioning.New(provisioning.Config{Modules: provisioning.DefaultModules()}),
		devices: []*espprovv1.DiscoverResponse{
			{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK, Name: "MyDevice", NodeId: "XeRQn9TDhQDTfhrGgcLesA", Address: "127.0.0.1:8001", Security: espprovv1.SecurityScheme_SECURITY_SCHEME_1, PopRequired: true},
			{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK, Name: "XeRQn9TDhQDTfhrGgcLesB", NodeId: "XeRQn9TDhQDTfhrGgcLesB", Address: "127.0.0.1:8080", Security: espprovv1.SecurityScheme_SECURITY_SCHEME_1},
		}}
	srv, err := server.Start(context.Background(), server.Options{GRPCListen: "127.0.0.1:0", Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	s := startPTY(t, "--server", srv.GRPCAddr(), "provision", "--transport", "on-network", "--pop", testPoP, "--discovery-timeout", "1")
	s.expect("Discovering devices on local network...")
	s.expect("Discovered 2 device(s):")
	s.expect("#   Instance Name        Node ID                   IP Address       Port   Sec  PoP      Service")
	s.expect("1   MyDevice             XeRQn9TDhQDTfhrGgcLesA    127.0.0.1        8001   1    Yes      ChalResp")
	s.expect("2   XeRQn9TDhQDTfhrG...  XeRQn9TDhQDTfhrGgcLesB    127.0.0.1        8080   1    No       ChalResp")
	s.expect("Select device number (or 'q' to quit): ")
	s.send("5\r")
	s.expect("Invalid selection. Please enter a number between 1 and 2")
	s.send("x\r")
	s.expect("Invalid input. Please enter a number.")
	s.send("2\r")
	s.expect("Node XeRQn9TDhQDTfhrGgcLesB mapped to your account successfully!")
	s.expect("Challenge-response disabled on the device.")
	if code := s.wait(); code != 0 {
		t.Fatalf("exit code %d; terminal:\n%s", code, s.output())
	}
	svc.mu.Lock()
	defer svc.mu.Unlock()
	if len(svc.mapped) != 1 {
		t.Fatalf("MapNode calls = %d, want 1", len(svc.mapped))
	}
	req := svc.mapped[0]
	if req.GetDevice().GetAddress() != "127.0.0.1:8080" || req.GetSecurity().GetPop() != testPoP || !req.GetMapping().GetEnabled() {
		t.Errorf("MapNode request = %v", req)
	}
}

// TestInteractiveJoinAnotherNetwork: "Join another network" asks for the
// SSID; a passphrase of the wrong length is asked again.
func TestInteractiveJoinAnotherNetwork(t *testing.T) {
	d := startDevice(t, sec1)
	s := startPTY(t, "provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--pop", testPoP, "--status-poll", "50ms")
	s.expect("[ 4] Join another network")
	s.expect("Select AP by number (0 to rescan) : ")
	s.send("4\r")
	s.expect("Enter ssid : ")
	s.send(testSSID + "\r")
	s.expect("Enter passphrase for HomeNet : ")
	s.send("short\r")
	s.expect("The passphrase must be 8 to 63 characters (got 5), or empty for an open network. Retry")
	s.expect("Enter passphrase for HomeNet : ")
	s.send(testPass + "\r")
	s.expect("Wi-Fi Provisioning Successful")
	if code := s.wait(); code != 0 {
		t.Fatalf("exit %d\n%s", code, s.output())
	}
}

// TestTerminalNeverPromptsInScriptModes: --no-input and --output json do
// not prompt even at a terminal.
func TestTerminalNeverPromptsInScriptModes(t *testing.T) {
	for _, mode := range [][]string{{"--no-input"}, {"--output", "json"}} {
		t.Run(mode[0], func(t *testing.T) {
			d := startDevice(t, sec1)
			s := startPTY(t, append(mode, "provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--pop", testPoP)...)
			s.expect("pass --ssid and --passphrase")
			if code := s.wait(); code != ExitUsage {
				t.Fatalf("exit %d, want %d\n%s", code, ExitUsage, s.output())
			}
			if strings.Contains(s.output(), "Select AP") || len(d.dev.Stats().Exchanges) != 0 {
				t.Errorf("prompted or contacted the device:\n%s", s.output())
			}
		})
	}
}

// noInteractiveService is the real service without ProvisionInteractive,
// like an older espprovd.
type noInteractiveService struct{ *provisioning.Service }

func (noInteractiveService) ProvisionInteractive(grpc.BidiStreamingServer[espprovv1.ProvisionInteractiveRequest, espprovv1.ProvisionInteractiveResponse]) error {
	return status.Error(codes.Unimplemented, "method ProvisionInteractive not implemented")
}

// TestInteractiveRetryFallback: against a server without
// ProvisionInteractive the retry runs as a fresh Provision call.
func TestInteractiveRetryFallback(t *testing.T) {
	svc := noInteractiveService{provisioning.New(provisioning.Config{Modules: provisioning.DefaultModules()})}
	srv, err := server.Start(context.Background(), server.Options{GRPCListen: "127.0.0.1:0", Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	d := startDevice(t, sec1)
	s := startPTY(t, "--server", srv.GRPCAddr(), "provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port,
		"--pop", testPoP, "--ssid", testSSID, "--status-poll", "50ms")
	s.expect("Enter passphrase for HomeNet : ")
	s.send("wrong-passphrase\r")
	s.expect("Device reset via prov-ctrl successful.")
	s.expect("Would you like to retry provisioning? [y/N]: ")
	s.send("y\r")
	s.expect("Retry with same SSID 'HomeNet' and new password? [Y/n]: ")
	s.send("y\r")
	s.expect("Enter passphrase for HomeNet : ")
	s.send(testPass + "\r")
	s.expect("Establishing session - Successful")
	s.expect("Wi-Fi Provisioning Successful")
	if code := s.wait(); code != 0 {
		t.Fatalf("exit %d\n%s", code, s.output())
	}
	if st := d.dev.Stats(); st.HandshakesCompleted != 2 {
		t.Errorf("handshakes = %d, want 2 (a fresh session for the retry)", st.HandshakesCompleted)
	}
}
