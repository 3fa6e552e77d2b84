package jobs_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/rainmaker"
	simcloud "github.com/espprov/espprov/internal/sim/cloud"
	"github.com/espprov/espprov/internal/sim/device"
	simrmaker "github.com/espprov/espprov/internal/sim/rmaker"
	"github.com/espprov/espprov/services/provisioning"
)

func mappingCalls(c *simcloud.Cloud) int {
	n := 0
	for _, r := range c.Requests() {
		if r.Path == "/v1/user/nodes/mapping/initiate" || r.Path == "/v1/user/nodes/mapping/verify" {
			n++
		}
	}
	return n
}

// TestIdempotentRetry: the caller drops mid-job and retries with the same
// request_id (gRPC, then REST): both attach to the one job, the device sees
// one secure session and the cloud one mapping. The same key with another
// request is ALREADY_EXISTS. A later job for the same unit does not map it
// again. Per-call cloud credentials, the PoP and the passphrase are in no
// stored byte and no log line.
func TestIdempotentRetry(t *testing.T) {
	stores(t, func(t *testing.T, k storeKind) {
		cloud := simcloud.New(simcloud.Options{})
		t.Cleanup(cloud.Close)
		userID := cloud.AddUser(cloudUser, cloudPass)
		h := start(t, k, options{cloud: provisioning.CloudConfig{Server: rainmaker.ServerConfig{BaseURL: cloud.URL()},
			Client: rainmaker.Config{MaxAttempts: 2, Backoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, SkipRegionCheck: true}}})
		var g *gate
		d := startDevice(t, device.Config{SecVer: 1, PoP: testPoP, NoAutoStop: true}, func(p device.Protocomm) device.Protocomm { g = newGate(p, "prov-config"); return g })
		node := simrmaker.Install(d.dev, simrmaker.Options{NodeID: d.dev.Config().NodeID, ChalResp: true})
		cloud.RegisterNode(node.NodeID(), node.PublicKey())

		req := provisionReq(d.addr)
		req.Security = &espprovv1.Security{Pop: testPoP}
		req.Mapping = &espprovv1.Mapping{Enabled: true, PollInterval: durationpb.New(20 * time.Millisecond), MaxWait: durationpb.New(5 * time.Second)}
		req.RequestId, req.SerialNumber = "unit-7-attempt-1", "SN-7"
		ctx := withCloudUser(testCtx(t))

		callCtx, drop := context2(ctx)
		s1 := mustProvision(t, h, callCtx, req)
		first, err := s1.Recv()
		if err != nil {
			t.Fatal(err)
		}
		id := first.GetJobId()
		<-g.reached // mapped, at SetConfig
		drop()

		// The retry attaches: it replays from the first event.
		s2 := mustProvision(t, h, ctx, req)
		again, err := s2.Recv()
		if err != nil || again.GetJobId() != id || again.GetSequence() != 1 {
			t.Fatalf("retry's first event %v (%v), want job %s from sequence 1", again, err, id)
		}
		// Same key, different request.
		other := provisionReq(d.addr)
		other.Security, other.Mapping, other.RequestId, other.SerialNumber = req.Security, req.Mapping, req.RequestId, req.SerialNumber
		other.Wifi.Ssid = "OtherNet"
		if _, err := drain[*espprovv1.ProvisionResponse](mustProvision(t, h, ctx, other)); status.Code(err) != codes.AlreadyExists || !strings.Contains(status.Convert(err).Message(), id) {
			t.Fatalf("same request_id, other request: %v, want ALREADY_EXISTS naming %s", err, id)
		}
		g.open()
		evs, err := drain[*espprovv1.ProvisionResponse](s2)
		if err != nil {
			t.Fatal(err)
		}
		res := evs[len(evs)-1].GetResult()
		if !res.GetSuccess() || !res.GetMapped() || res.GetNodeId() != node.NodeID() {
			t.Fatalf("result %v", res)
		}
		// REST retry of the finished job: the same job, replayed.
		body, _ := protojson.Marshal(req)
		resp, err := http.Post("http://"+h.srv.HTTPAddr()+"/v1/devices:provision", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		lines := readLines(t, resp) // every event: s2's first one plus evs
		if len(lines) != len(evs)+1 || !strings.Contains(lines[0], `"jobId":"`+id+`"`) || !strings.Contains(lines[len(lines)-1], "JOB_STATE_SUCCEEDED") {
			t.Fatalf("REST retry: %d lines (want %d): %q", len(lines), len(evs)+1, lines)
		}
		st := d.dev.Stats()
		if st.HandshakesCompleted != 1 || mappingCalls(cloud) != 2 || len(cloud.Mappings()) != 1 || cloud.Mappings()[node.NodeID()] != userID {
			t.Fatalf("device handshakes %d (want 1), cloud mapping calls %d (want initiate+verify once), mappings %v",
				st.HandshakesCompleted, mappingCalls(cloud), cloud.Mappings())
		}
		list, err := h.client.ListJobs(ctx, &espprovv1.ListJobsRequest{SerialNumber: "SN-7"})
		if err != nil || len(list.GetJobs()) != 1 {
			t.Fatalf("jobs for SN-7: %v %v, want one", list, err)
		}

		// A new attempt for the same unit: Wi-Fi again, no second mapping.
		d.dev.Reset()
		req2 := proto2(req)
		req2.RequestId = "unit-7-attempt-2"
		evs, err = drain[*espprovv1.ProvisionResponse](mustProvision(t, h, ctx, req2))
		if err != nil {
			t.Fatal(err)
		}
		if res := evs[len(evs)-1].GetResult(); !res.GetSuccess() || !res.GetMapped() || res.GetNodeId() != node.NodeID() ||
			!strings.Contains(evs[0].GetMessage(), "was mapped by job "+id) || mappingCalls(cloud) != 2 {
			t.Fatalf("second attempt: first event %q, result %v, cloud mapping calls %d", evs[0].GetMessage(), res, mappingCalls(cloud))
		}
		scanSecrets(t, h)
	})
}
