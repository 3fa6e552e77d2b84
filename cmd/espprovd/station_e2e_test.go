package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/sim/device"
)

// TestFailureClassesEndToEnd: each device fault, provisioned through
// espprovd as a job, ends with the matching failure class on the last
// event's result and on the job's error (gRPC GetJob and REST).
func TestFailureClassesEndToEnd(t *testing.T) {
	d := startDaemon(t)
	client := dial(t, d.grpc)
	ctx := e2eCtx(t)
	sec1 := func(faults ...device.Fault) string {
		return serveSim(t, device.Config{SecVer: 1, PoP: "right-pop", Faults: faults, SlowAssociation: time.Minute, ConnectDelay: 20 * time.Millisecond,
			APs: []device.AP{{SSID: e2eSSID, Passphrase: e2ePass, Channel: 6, RSSI: -40}}})
	}
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a := l.Addr().String()
		l.Close()
		return a
	}
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html>router admin</html>")
	}))
	t.Cleanup(web.Close)
	tests := []struct {
		name string
		addr string
		pop  string
		want espprovv1.FailureClass
	}{
		{"wrong pop", sec1(), "wrong-pop", espprovv1.FailureClass_FAILURE_CLASS_WRONG_POP},
		{"wifi auth error", sec1(device.Fault{Kind: device.FaultAuthError, Step: device.StepWifi}), "", espprovv1.FailureClass_FAILURE_CLASS_WIFI_AUTH},
		{"network not found", sec1(device.Fault{Kind: device.FaultNotFound, Step: device.StepWifi}), "", espprovv1.FailureClass_FAILURE_CLASS_NETWORK_NOT_FOUND},
		{"unreachable", closed(), "", espprovv1.FailureClass_FAILURE_CLASS_DEVICE_UNREACHABLE},
		{"stall mid-session", sec1(device.Fault{Kind: device.FaultStall, Step: device.StepSetConfig}), "", espprovv1.FailureClass_FAILURE_CLASS_DEVICE_STOPPED_ANSWERING},
		{"link drop mid-session", sec1(device.Fault{Kind: device.FaultDrop, Step: device.StepApplyConfig}), "", espprovv1.FailureClass_FAILURE_CLASS_DEVICE_STOPPED_ANSWERING},
		{"garbage", sec1(device.Fault{Kind: device.FaultGarbage, Step: device.StepSession0}), "", espprovv1.FailureClass_FAILURE_CLASS_PROTOCOL},
		{"not protocomm", strings.TrimPrefix(web.URL, "http://"), "", espprovv1.FailureClass_FAILURE_CLASS_PROTOCOL},
		{"wifi connect deadline", sec1(device.Fault{Kind: device.FaultSlow, Step: device.StepWifi}), "", espprovv1.FailureClass_FAILURE_CLASS_DEADLINE},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pop := tc.pop
			if pop == "" {
				pop = "right-pop"
			}
			req := &espprovv1.ProvisionRequest{
				Device:   &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: tc.addr},
				Security: &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_1, Pop: pop},
				Wifi:     &espprovv1.WifiCredentials{Ssid: e2eSSID, Passphrase: e2ePass},
				Timeouts: &espprovv1.Timeouts{Exchange: durationpb.New(500 * time.Millisecond), WifiConnect: durationpb.New(time.Second),
					StatusPoll: durationpb.New(20 * time.Millisecond)},
				RequestId: fmt.Sprintf("class-%d", i),
			}
			s, err := client.Provision(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := recvAll(s)
			if err == nil || len(evs) == 0 {
				t.Fatalf("no failure: %v (%d events)", err, len(evs))
			}
			last := evs[len(evs)-1]
			if got := last.GetResult().GetFailureClass(); got != tc.want {
				t.Errorf("result class %v, want %v (%v)", got, tc.want, err)
			}
			job, err := client.GetJob(ctx, &espprovv1.GetJobRequest{JobId: last.GetJobId()})
			if err != nil {
				t.Fatal(err)
			}
			if got := job.GetError().GetFailureClass(); got != tc.want {
				t.Errorf("job error class %v, want %v", got, tc.want)
			}
			if code, body := get(t, "http://"+d.http+"/v1/jobs/"+last.GetJobId(), ""); code != http.StatusOK || !strings.Contains(body, `"failureClass":"`+tc.want.String()+`"`) {
				t.Errorf("REST GetJob: %d %.400s", code, body)
			}
		})
	}
}

// TestCancelledClassAndLabels: a running job is labelled (set aside) while
// it runs and keeps the labels through its end; CancelJob ends it with
// FAILURE_CLASS_CANCELLED; UpdateJobLabels merges, removes and validates
// over gRPC and REST.
func TestCancelledClassAndLabels(t *testing.T) {
	d := startDaemon(t)
	client := dial(t, d.grpc)
	ctx := e2eCtx(t)
	h := startHeldDevice(t)
	req := jobReq(h.addr, "held-1")
	req.Labels = map[string]string{"line": "1"}
	s, err := client.Provision(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	id := first.GetJobId()
	<-h.reached // parked in prov-config: running

	j, err := client.UpdateJobLabels(ctx, &espprovv1.UpdateJobLabelsRequest{JobId: id, Labels: map[string]string{"set_aside": "true", "set_aside_reason": "cracked case"}})
	if err != nil {
		t.Fatal(err)
	}
	if j.GetLabels()["set_aside"] != "true" || j.GetLabels()["line"] != "1" || j.GetState() != espprovv1.JobState_JOB_STATE_RUNNING {
		t.Errorf("labels of the running job: %v (state %v)", j.GetLabels(), j.GetState())
	}
	if _, err := client.CancelJob(ctx, &espprovv1.CancelJobRequest{JobId: id}); err != nil {
		t.Fatal(err)
	}
	h.open()
	if _, err := recvAll(s); status.Code(err) != codes.Canceled {
		t.Errorf("cancelled job's stream: %v", err)
	}
	j, err = client.GetJob(ctx, &espprovv1.GetJobRequest{JobId: id})
	if err != nil {
		t.Fatal(err)
	}
	if j.GetState() != espprovv1.JobState_JOB_STATE_CANCELLED || j.GetError().GetFailureClass() != espprovv1.FailureClass_FAILURE_CLASS_CANCELLED ||
		j.GetResult().GetFailureClass() != espprovv1.FailureClass_FAILURE_CLASS_CANCELLED {
		t.Errorf("cancelled job: state %v error %v", j.GetState(), j.GetError())
	}
	if j.GetLabels()["set_aside_reason"] != "cracked case" || j.GetLabels()["line"] != "1" {
		t.Errorf("labels lost when the job ended: %v", j.GetLabels())
	}

	// REST: remove one, set another.
	post := func(path, body string) (int, string) {
		r, _ := http.NewRequest(http.MethodPost, "http://"+d.http+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := post("/v1/jobs/"+id+":updateLabels", `{"labels":{"set_aside":"","bin":"B7"}}`)
	if code != http.StatusOK || strings.Contains(body, "set_aside\"") || !strings.Contains(body, `"bin":"B7"`) || !strings.Contains(body, `"set_aside_reason":"cracked case"`) {
		t.Errorf("REST updateLabels: %d %s", code, body)
	}
	many := map[string]string{}
	for i := range 16 {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	for name, tc := range map[string]struct {
		req  *espprovv1.UpdateJobLabelsRequest
		code codes.Code
	}{
		"bad key":        {&espprovv1.UpdateJobLabelsRequest{JobId: id, Labels: map[string]string{"a=b": "x"}}, codes.InvalidArgument},
		"multi-line":     {&espprovv1.UpdateJobLabelsRequest{JobId: id, Labels: map[string]string{"a": "x\ny"}}, codes.InvalidArgument},
		"too many":       {&espprovv1.UpdateJobLabelsRequest{JobId: id, Labels: many}, codes.InvalidArgument},
		"nothing":        {&espprovv1.UpdateJobLabelsRequest{JobId: id}, codes.InvalidArgument},
		"no job id":      {&espprovv1.UpdateJobLabelsRequest{Labels: map[string]string{"a": "b"}}, codes.InvalidArgument},
		"unknown job id": {&espprovv1.UpdateJobLabelsRequest{JobId: "j-none", Labels: map[string]string{"a": "b"}}, codes.NotFound},
	} {
		if _, err := client.UpdateJobLabels(ctx, tc.req); status.Code(err) != tc.code {
			t.Errorf("%s: %v, want %v", name, err, tc.code)
		}
	}
	if code, body := post("/v1/jobs/"+id+":updateLabels", `{"labels":{"a;b":"x"}}`); code != http.StatusBadRequest || !strings.Contains(body, "INVALID_ARGUMENT") {
		t.Errorf("REST bad label: %d %s", code, body)
	}
	j, _ = client.GetJob(ctx, &espprovv1.GetJobRequest{JobId: id})
	if len(j.GetLabels()) != 3 { // line, set_aside_reason, bin: the refused changes changed nothing
		t.Errorf("labels after refusals: %v", j.GetLabels())
	}
}
