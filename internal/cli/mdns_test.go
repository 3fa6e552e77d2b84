package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/espprov/espprov/internal/netnstest"
	simcloud "github.com/espprov/espprov/internal/sim/cloud"
	"github.com/espprov/espprov/internal/sim/device"
	simonnetwork "github.com/espprov/espprov/internal/sim/onnetwork"
	simrmaker "github.com/espprov/espprov/internal/sim/rmaker"
)

// TestOnNetworkRealMDNS drives the CLI binary against an on-network device
// found through real multicast DNS, inside a network namespace made for
// this test: discover lists it, provision --device_name maps it.
func TestOnNetworkRealMDNS(t *testing.T) {
	if !netnstest.Run(t) {
		return
	}
	cloud := simcloud.New(simcloud.Options{})
	t.Cleanup(cloud.Close)
	userID := cloud.AddUser(cloudUser, cloudPass)
	env := loggedIn(t, cloud)
	dev, err := device.New(device.Config{SecVer: 1})
	if err != nil {
		t.Fatal(err)
	}
	node := simrmaker.Install(dev, simrmaker.Options{NodeID: dev.Config().NodeID, ChalResp: true})
	cloud.RegisterNode(node.NodeID(), node.PublicKey())
	svc, err := simonnetwork.Start(context.Background(), dev, simonnetwork.Options{NodeID: node.NodeID(), Security: 1, ChalRespDisabled: node.Disabled})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })

	r := runCLI(t, env, "", "discover", "--transport", "on-network", "--timeout", "2")
	if r.code != 0 || !strings.Contains(r.stdout, node.NodeID()) || !strings.Contains(r.stdout, "ChalResp") {
		t.Fatalf("discover: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "", "provision", "--transport", "on-network", "--device_name", strings.ToLower(node.NodeID()), "--discovery-timeout", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "mapped to your account successfully") {
		t.Fatalf("provision: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if n, _ := cloud.Node(node.NodeID()); n.UserID != userID {
		t.Fatalf("cloud node %+v, want mapped to %s", n, userID)
	}
	if !node.Disabled() {
		t.Error("challenge-response still enabled after on-network mapping (documented default: disable)")
	}
}
