package provisioning_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/rainmaker"
	"github.com/espprov/espprov/internal/server"
	simcloud "github.com/espprov/espprov/internal/sim/cloud"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	simrmaker "github.com/espprov/espprov/internal/sim/rmaker"
	"github.com/espprov/espprov/services/provisioning"
)

// faultCase is one injected device fault and what a caller must see.
type faultCase struct {
	fault device.Fault
	code  codes.Code // codes.OK: the service rides the fault out
	// wifi is the fail reason of the final result (Wi-Fi faults).
	wifi espprovv1.WifiFailReason
	// applied: the device took the credentials before the fault, so the
	// retry asks it to start over (reprovision), as the error says.
	applied bool
}

// faultMatrix lists every device fault at every step it applies to.
func faultMatrix(secVer int) []faultCase {
	f := func(kind device.FaultKind, step string, code codes.Code) faultCase {
		return faultCase{fault: device.Fault{Kind: kind, Step: step}, code: code}
	}
	cases := []faultCase{
		// proto-ver: the capabilities cannot be read.
		f(device.FaultDrop, device.StepProtoVer, codes.Unavailable),
		f(device.FaultStall, device.StepProtoVer, codes.DeadlineExceeded),
		f(device.FaultGarbage, device.StepProtoVer, codes.OK), // not JSON: old firmware, the requested scheme is used
		f(device.FaultTruncate, device.StepProtoVer, codes.OK),
		// The handshake.
		f(device.FaultDrop, device.StepSession0, codes.Unavailable),
		f(device.FaultStall, device.StepSession0, codes.DeadlineExceeded),
		f(device.FaultGarbage, device.StepSession0, codes.Unavailable),
		f(device.FaultTruncate, device.StepSession0, codes.Unavailable),
		f(device.FaultKeyLength, device.StepSession0, codes.Unavailable),
		// A dropped proof is how firmware rejects one: the device still
		// answers proto-ver, so it is reported as rejected credentials.
		f(device.FaultDrop, device.StepSession1, codes.PermissionDenied),
		f(device.FaultStall, device.StepSession1, codes.DeadlineExceeded),
		f(device.FaultGarbage, device.StepSession1, codes.Unavailable),
		f(device.FaultTruncate, device.StepSession1, codes.Unavailable),
	}
	for _, step := range []string{device.StepSetConfig, device.StepApplyConfig} {
		for _, k := range []device.FaultKind{device.FaultDrop, device.FaultStall, device.FaultGarbage, device.FaultTruncate, device.FaultNonce} {
			c := f(k, step, codes.Unavailable)
			if k == device.FaultStall {
				c.code = codes.DeadlineExceeded
			}
			// A reply lost or garbled after the device applied them.
			c.applied = step == device.StepApplyConfig && k != device.FaultDrop && k != device.FaultStall
			cases = append(cases, c)
		}
	}
	// Status polls tolerate a bad read or two (like esp_prov): the
	// provisioning still succeeds. Security 1 cannot ride out a garbled
	// reply: its CTR keystream is then out of step for good.
	for _, k := range []device.FaultKind{device.FaultDrop, device.FaultStall, device.FaultGarbage, device.FaultTruncate} {
		c := f(k, device.StepGetStatus, codes.OK)
		if secVer == 1 && (k == device.FaultGarbage || k == device.FaultTruncate) {
			c.code, c.applied = codes.Unavailable, true
		}
		cases = append(cases, c)
	}
	cases = append(cases,
		faultCase{fault: device.Fault{Kind: device.FaultAuthError, Step: device.StepWifi}, code: codes.FailedPrecondition,
			wifi: espprovv1.WifiFailReason_WIFI_FAIL_REASON_AUTH_ERROR},
		faultCase{fault: device.Fault{Kind: device.FaultNotFound, Step: device.StepWifi}, code: codes.FailedPrecondition,
			wifi: espprovv1.WifiFailReason_WIFI_FAIL_REASON_NETWORK_NOT_FOUND},
		// Association slower than the Wi-Fi timeout.
		faultCase{fault: device.Fault{Kind: device.FaultSlow, Step: device.StepWifi}, code: codes.DeadlineExceeded, applied: true},
	)
	return cases
}

// faultExchange bounds each exchange of the faulted call: a stall ends
// after it. It must still fit an unfaulted exchange on a loaded 2-core
// machine (400 ms did not at load 40: proto-ver timed out).
const faultExchange = 1500 * time.Millisecond

// faultClasses are the failure classes a device fault may produce.
func faultClasses(secVer int, f device.Fault) []espprovv1.FailureClass {
	// Security 1 has no message authentication: a cut-off reply at
	// prov-config, or a status read after a garbled one, reaches the client
	// as a connection closed mid-reply or as a reply that does not parse,
	// depending on where the cut falls and when the device closes.
	if secVer == 1 && (f.Kind == device.FaultTruncate && f.Step != device.StepSession0 && f.Step != device.StepSession1 && f.Step != device.StepProtoVer ||
		f.Kind == device.FaultGarbage && f.Step == device.StepGetStatus) {
		return []espprovv1.FailureClass{espprovv1.FailureClass_FAILURE_CLASS_DEVICE_STOPPED_ANSWERING, espprovv1.FailureClass_FAILURE_CLASS_PROTOCOL}
	}
	return []espprovv1.FailureClass{faultClass(f)}
}

// faultClass is the failure class of a fault on a device with message
// authentication (Security 2) or before the session.
func faultClass(f device.Fault) espprovv1.FailureClass {
	switch f.Kind {
	case device.FaultDrop:
		if f.Step == device.StepSession1 {
			return espprovv1.FailureClass_FAILURE_CLASS_WRONG_POP // how firmware rejects a proof
		}
		return espprovv1.FailureClass_FAILURE_CLASS_DEVICE_STOPPED_ANSWERING
	case device.FaultStall:
		return espprovv1.FailureClass_FAILURE_CLASS_DEVICE_STOPPED_ANSWERING
	case device.FaultAuthError:
		return espprovv1.FailureClass_FAILURE_CLASS_WIFI_AUTH
	case device.FaultNotFound:
		return espprovv1.FailureClass_FAILURE_CLASS_NETWORK_NOT_FOUND
	case device.FaultSlow:
		return espprovv1.FailureClass_FAILURE_CLASS_DEADLINE
	}
	return espprovv1.FailureClass_FAILURE_CLASS_PROTOCOL // garbage, truncate, key-length, nonce
}

// TestFaultMatrix drives every device fault through gRPC: each call ends
// with the right status code within its deadline, and a second call to the
// same device (the fault fires once) provisions it.
func TestFaultMatrix(t *testing.T) {
	h := startServer(t)
	for _, secVer := range []int{2, 1} {
		for _, tc := range faultMatrix(secVer) {
			t.Run(fmt.Sprintf("sec%d/%s", secVer, tc.fault), func(t *testing.T) {
				cfg := device.Config{SecVer: secVer, PoP: testPoP, Faults: []device.Fault{tc.fault}, NoAutoStop: true,
					SlowAssociation: time.Minute}
				sec := &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_1, Pop: testPoP}
				if secVer == 2 {
					cfg.PoP, cfg.SecPatchVer, cfg.SRPUsername, cfg.SRPPassword = "", 1, testUser, testPoP
					sec = &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_2, Sec2Username: testUser, Sec2Password: testPoP}
				}
				d := startDevice(t, cfg, simhttpd.Options{})
				req := provisionReq(d.addr, sec, testSSID, testPass)
				req.Timeouts.Exchange = durationpb.New(faultExchange)
				req.Timeouts.StatusPoll = durationpb.New(20 * time.Millisecond)
				req.Timeouts.WifiConnect = durationpb.New(3 * faultExchange) // outlasts one stalled status read
				// Deadline: a few exchanges' worth (the proof-drop probe
				// and poll retries each take at most one).
				deadline := 4*faultExchange + 2*time.Second
				start := time.Now()
				events, err := collect(t, h.client, req)
				elapsed := time.Since(start)
				if got := status.Code(err); got != tc.code {
					t.Fatalf("status %v (%v), want %v", got, err, tc.code)
				}
				if elapsed > deadline {
					t.Errorf("took %s, deadline %s", elapsed, deadline)
				}
				if tc.wifi != espprovv1.WifiFailReason_WIFI_FAIL_REASON_UNSPECIFIED {
					if r := lastResult(t, events); r.GetFailReason() != tc.wifi || !r.GetDeviceReset() {
						t.Errorf("result %v, want fail reason %v and device reset", r, tc.wifi)
					}
				}
				if tc.code == codes.OK {
					return
				}
				if got, want := lastResult(t, events).GetFailureClass(), faultClasses(secVer, tc.fault); !slices.Contains(want, got) {
					t.Errorf("failure class %v, want one of %v (%v)", got, want, err)
				}
				// The device is left retryable: the same call succeeds now.
				// The retry tests the device's state, not deadlines: it gets
				// the default exchange timeout, so that a loaded machine
				// (a 400 ms exchange is tight at load 30) cannot fail it.
				req.Reprovision = tc.applied
				req.Timeouts.Exchange = nil
				req.Timeouts.WifiConnect = durationpb.New(30 * time.Second)
				events, err = collect(t, h.client, req)
				if err != nil || !lastResult(t, events).GetSuccess() {
					t.Fatalf("retry after %s: %v (steps %v)", tc.fault, err, steps(events))
				}
			})
		}
	}
}

// TestCloudFaults: RainMaker cloud failures (5xx beyond the retries, replies
// slower than the request timeout, 401) end the call with the right code
// within its deadline, before any Wi-Fi credentials reach the device, and
// the same call succeeds once the cloud behaves.
func TestCloudFaults(t *testing.T) {
	cloud := simcloud.New(simcloud.Options{})
	t.Cleanup(cloud.Close)
	cloud.AddUser(cloudUser, cloudPass)
	cc := provisioning.CloudConfig{Server: rainmaker.ServerConfig{BaseURL: cloud.URL(), Credentials: rainmaker.Credentials{Username: cloudUser, Password: cloudPass}},
		AllowHTTP: true,
		Client: rainmaker.Config{MaxAttempts: 2, Backoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond,
			RequestTimeout: 300 * time.Millisecond, SkipRegionCheck: true}}
	h := startServerWith(t, provisioning.Config{Modules: provisioning.DefaultModules(), Cloud: cc}, server.Options{})
	rm := &rmHarness{harness: h, cloud: cloud}
	tests := []struct {
		name  string
		fault func()
		ctx   context.Context
		code  codes.Code
	}{
		{"5xx beyond the retries", func() { cloud.FailNext(50, 503) }, context.Background(), codes.Unavailable},
		{"timeouts", func() { cloud.SetDelay(time.Second) }, context.Background(), codes.Unavailable},
		{"401 for the caller's account", nil,
			metadata.AppendToOutgoingContext(context.Background(), rainmaker.MDUsername, cloudUser, rainmaker.MDPassword, "wrong-password"),
			codes.Unauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := startRMDevice(t, rm, simrmaker.Options{ChalResp: true})
			if tc.fault != nil {
				tc.fault()
			}
			start := time.Now()
			evs, err := collectCtx(tc.ctx, t, h.client, mappingReq(d.addr))
			if got := status.Code(err); got != tc.code {
				t.Fatalf("status %v (%v), want %v", got, err, tc.code)
			}
			if got := lastResult(t, evs).GetFailureClass(); got != espprovv1.FailureClass_FAILURE_CLASS_CLOUD {
				t.Errorf("failure class %v, want CLOUD", got)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("took %s", el)
			}
			if n := d.dev.Stats().Exchanges["prov-config"]; n != 0 {
				t.Errorf("Wi-Fi credentials sent despite the cloud failure (%d prov-config exchanges)", n)
			}
			cloud.FailNext(0, 0)
			cloud.SetDelay(0)
			events, err := collect(t, h.client, mappingReq(d.addr))
			if err != nil || !lastResult(t, events).GetMapped() {
				t.Fatalf("retry: %v (steps %v)", err, steps(events))
			}
		})
	}
}
