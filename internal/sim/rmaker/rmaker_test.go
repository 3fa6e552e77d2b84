package simrmaker

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/espprov/espprov/internal/wire/chrespb"
	"github.com/espprov/espprov/internal/wire/usermappingpb"
)

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
	ecKey   *ecdsa.PrivateKey
)

func keys(t *testing.T) (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	keyOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
	return rsaKey, ecKey
}

type fakeDevice struct {
	endpoints map[string]func([]byte) ([]byte, error)
	order     []string
	appInfo   []string
}

func (d *fakeDevice) RegisterEndpoint(name string, h func([]byte) ([]byte, error)) error {
	if d.endpoints == nil {
		d.endpoints = map[string]func([]byte) ([]byte, error){}
	}
	d.endpoints[name] = h
	d.order = append(d.order, name)
	return nil
}

func (d *fakeDevice) SetAppInfo(label, ver string, caps ...string) {
	d.appInfo = append(d.appInfo, label+"/"+ver+"/"+strings.Join(caps, ","))
}

func TestRegister(t *testing.T) {
	_, ec := keys(t)
	tests := []struct {
		name    string
		opts    Options
		wantEP  []string
		wantApp []string
	}{
		{"traditional", Options{}, []string{EndpointUserMapping}, nil},
		{"chal resp", Options{ChalResp: true}, []string{EndpointChalResp}, []string{"rmaker_extra/1.0/ch_resp"}},
		{"chal resp + local ctrl", Options{ChalResp: true, LocalCtrl: true}, []string{EndpointChalResp}, []string{"rmaker_extra/1.0/ch_resp,local_ctrl"}},
		{"needs claim", Options{NeedsClaim: true}, []string{EndpointUserMapping}, []string{"rmaker/1.0/claim"}},
		{"needs claim refuses chal resp", Options{NeedsClaim: true, ChalResp: true}, []string{EndpointUserMapping}, []string{"rmaker/1.0/claim"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.NodeID, tc.opts.Key = "node1", ec
			d := &fakeDevice{}
			n := Install(d, tc.opts)
			if !slices.Equal(d.order, tc.wantEP) || !slices.Equal(d.appInfo, tc.wantApp) {
				t.Fatalf("endpoints %v app info %v; want %v %v", d.order, d.appInfo, tc.wantEP, tc.wantApp)
			}
			if n.NodeID() != "node1" {
				t.Fatal("node id")
			}
		})
	}
}

func TestNewNodeOptions(t *testing.T) {
	if _, err := NewNode(Options{}); err == nil {
		t.Fatal("empty node id accepted")
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := NewNode(Options{NodeID: "n", Key: p384}); err == nil {
		t.Fatal("P-384 key accepted")
	}
	n, err := NewNode(Options{NodeID: "n", KeyType: KeyECP256})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := n.PublicKey().(*ecdsa.PublicKey); !ok {
		t.Fatalf("generated key %T, want ECDSA", n.PublicKey())
	}
}

func chReq(t *testing.T, m *chrespb.RMakerChRespPayload) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decodeCh(t *testing.T, b []byte) *chrespb.RMakerChRespPayload {
	var m chrespb.RMakerChRespPayload
	if err := proto.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

func challenge(c []byte) *chrespb.RMakerChRespPayload {
	return &chrespb.RMakerChRespPayload{
		Msg:     chrespb.RMakerChRespMsgType_TypeCmdChallengeResponse,
		Payload: &chrespb.RMakerChRespPayload_CmdChallengeResponsePayload{CmdChallengeResponsePayload: &chrespb.CmdCRPayload{Payload: c}},
	}
}

var disableCmd = &chrespb.RMakerChRespPayload{Msg: chrespb.RMakerChRespMsgType_TypeCmdDisableChalResp}

func TestChallengeSignatures(t *testing.T) {
	rk, ek := keys(t)
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{{"RSA-2048 PSS", rk}, {"ECDSA P-256 DER", ek}} {
		t.Run(tc.name, func(t *testing.T) {
			n, _ := NewNode(Options{NodeID: "node-x", Key: tc.key, ChalResp: true})
			ch := []byte("3f1c0e9a-challenge-from-cloud")
			out, err := n.HandleChalResp(chReq(t, challenge(ch)))
			if err != nil {
				t.Fatal(err)
			}
			resp := decodeCh(t, out)
			if resp.GetMsg() != chrespb.RMakerChRespMsgType_TypeRespChallengeResponse || resp.GetStatus() != chrespb.RMakerChRespStatus_Success {
				t.Fatalf("reply %v", resp)
			}
			cr := resp.GetRespChallengeResponsePayload()
			if cr.GetNodeId() != "node-x" {
				t.Fatalf("node id %q", cr.GetNodeId())
			}
			digest := sha256.Sum256(ch)
			sig := cr.GetPayload()
			switch k := n.PublicKey().(type) {
			case *rsa.PublicKey:
				if len(sig) != 256 {
					t.Fatalf("RSA signature length %d", len(sig))
				}
				if err := rsa.VerifyPSS(k, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}); err != nil {
					t.Fatal(err)
				}
				if rsa.VerifyPSS(k, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: 32}) != nil {
					t.Fatal("salt length is not the hash length")
				}
			case *ecdsa.PublicKey:
				if sig[0] != 0x30 {
					t.Fatalf("not DER: % x", sig[:4])
				}
				if !ecdsa.VerifyASN1(k, digest[:], sig) {
					t.Fatal("ECDSA signature does not verify")
				}
			}
			// A different challenge gives a signature that does not verify for this one.
			other, _ := n.Sign([]byte("other"))
			if k, ok := n.PublicKey().(*ecdsa.PublicKey); ok && ecdsa.VerifyASN1(k, digest[:], other) {
				t.Fatal("signature not bound to the challenge")
			}
		})
	}
}

func TestChalRespDisabledFlag(t *testing.T) {
	_, ek := keys(t)
	var calls int
	n, _ := NewNode(Options{NodeID: "n", Key: ek, ChalResp: true, OnDisabled: func() { calls++ }})

	steps := []struct {
		name       string
		req        []byte
		wantMsg    chrespb.RMakerChRespMsgType
		wantStatus chrespb.RMakerChRespStatus
		wantCalls  int
	}{
		{"first disable", chReq(t, disableCmd), chrespb.RMakerChRespMsgType_TypeRespDisableChalResp, chrespb.RMakerChRespStatus_Success, 1},
		// Firmware: a disabled device answers msg=1 status=3 to everything, a second disable included.
		{"second disable", chReq(t, disableCmd), chrespb.RMakerChRespMsgType_TypeRespChallengeResponse, chrespb.RMakerChRespStatus_Disabled, 1},
		{"challenge while disabled", chReq(t, challenge([]byte("c"))), chrespb.RMakerChRespMsgType_TypeRespChallengeResponse, chrespb.RMakerChRespStatus_Disabled, 1},
		{"garbage while disabled (not parsed)", []byte{0xff, 0xff, 0xff}, chrespb.RMakerChRespMsgType_TypeRespChallengeResponse, chrespb.RMakerChRespStatus_Disabled, 1},
	}
	for _, s := range steps {
		out, err := n.HandleChalResp(s.req)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		r := decodeCh(t, out)
		if r.GetMsg() != s.wantMsg || r.GetStatus() != s.wantStatus || calls != s.wantCalls {
			t.Fatalf("%s: got msg %v status %v calls %d; want %v %v %d", s.name, r.GetMsg(), r.GetStatus(), calls, s.wantMsg, s.wantStatus, s.wantCalls)
		}
	}
	// Exact bytes of the disabled reply: msg=1 (08 01), status=3 (10 03), nothing else.
	out, _ := n.HandleChalResp(nil)
	if !bytes.Equal(out, []byte{0x08, 0x01, 0x10, 0x03}) {
		t.Fatalf("disabled reply bytes % x", out)
	}
	if !n.Disabled() {
		t.Fatal("Disabled() false")
	}
	n.Enable()
	out, err := n.HandleChalResp(chReq(t, challenge([]byte("c"))))
	if err != nil || decodeCh(t, out).GetStatus() != chrespb.RMakerChRespStatus_Success {
		t.Fatalf("after Enable: %v", err)
	}
	// Disable again after re-enable fires the callback again.
	if _, err := n.HandleChalResp(chReq(t, disableCmd)); err != nil || calls != 2 {
		t.Fatalf("re-disable: %v calls %d", err, calls)
	}
}

func TestChalRespNoReply(t *testing.T) {
	_, ek := keys(t)
	n, _ := NewNode(Options{NodeID: "n", Key: ek, ChalResp: true})
	for name, req := range map[string][]byte{
		"get node id":     chReq(t, &chrespb.RMakerChRespPayload{Msg: chrespb.RMakerChRespMsgType_TypeCmdGetNodeID}),
		"empty challenge": chReq(t, challenge(nil)),
		"undecodable":     {0xff, 0xff, 0xff},
		"response type":   chReq(t, &chrespb.RMakerChRespPayload{Msg: chrespb.RMakerChRespMsgType_TypeRespChallengeResponse}),
	} {
		if out, err := n.HandleChalResp(req); err == nil {
			t.Errorf("%s: reply % x, want error (no reply)", name, out)
		}
	}
}

func TestUserMapping(t *testing.T) {
	_, ek := keys(t)
	n, _ := NewNode(Options{NodeID: "trad-node", Key: ek})
	set := func(m *usermappingpb.RMakerConfigPayload) ([]byte, error) {
		b, _ := proto.Marshal(m)
		return n.HandleUserMapping(b)
	}
	out, err := set(&usermappingpb.RMakerConfigPayload{
		Msg: usermappingpb.RMakerConfigMsgType_TypeCmdSetUserMapping,
		Payload: &usermappingpb.RMakerConfigPayload_CmdSetUserMapping{CmdSetUserMapping: &usermappingpb.CmdSetUserMapping{
			UserID: "user-1", SecretKey: "secret-1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var r usermappingpb.RMakerConfigPayload
	if err := proto.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if r.GetMsg() != usermappingpb.RMakerConfigMsgType_TypeRespSetUserMapping ||
		r.GetRespSetUserMapping().GetStatus() != usermappingpb.RMakerConfigStatus_Success ||
		r.GetRespSetUserMapping().GetNodeId() != "trad-node" {
		t.Fatalf("reply %v", &r)
	}
	if u, s, ok := n.UserMapping(); !ok || u != "user-1" || s != "secret-1" {
		t.Fatalf("stored %q %q %v", u, s, ok)
	}

	// Wrong payload case: InvalidParam, no node id.
	out, err = set(&usermappingpb.RMakerConfigPayload{Msg: usermappingpb.RMakerConfigMsgType_TypeCmdSetUserMapping})
	if err != nil {
		t.Fatal(err)
	}
	r.Reset()
	_ = proto.Unmarshal(out, &r)
	if r.GetRespSetUserMapping().GetStatus() != usermappingpb.RMakerConfigStatus_InvalidParam || r.GetRespSetUserMapping().GetNodeId() != "" {
		t.Fatalf("wrong payload reply %v", &r)
	}
	// Unknown message type: empty reply, no error.
	out, err = set(&usermappingpb.RMakerConfigPayload{Msg: usermappingpb.RMakerConfigMsgType_TypeRespSetUserMapping})
	if err != nil || len(out) != 0 {
		t.Fatalf("unknown msg: % x %v", out, err)
	}
	// Undecodable: error.
	if _, err := n.HandleUserMapping([]byte{0xff, 0xff}); err == nil {
		t.Fatal("undecodable accepted")
	}
}

type reporter struct{ got []string }

func (r *reporter) ReportUserMapping(node, user, secret string) {
	r.got = append(r.got, node+"|"+user+"|"+secret)
}

func TestOnline(t *testing.T) {
	_, ek := keys(t)
	n, _ := NewNode(Options{NodeID: "n1", Key: ek})
	r := &reporter{}
	if n.Online(r) {
		t.Fatal("published without a user mapping")
	}
	b, _ := proto.Marshal(&usermappingpb.RMakerConfigPayload{
		Msg: usermappingpb.RMakerConfigMsgType_TypeCmdSetUserMapping,
		Payload: &usermappingpb.RMakerConfigPayload_CmdSetUserMapping{CmdSetUserMapping: &usermappingpb.CmdSetUserMapping{
			UserID: "u", SecretKey: "k"}},
	})
	if _, err := n.HandleUserMapping(b); err != nil {
		t.Fatal(err)
	}
	if !n.Online(r) || n.Online(r) {
		t.Fatal("want exactly one publish")
	}
	if !slices.Equal(r.got, []string{"n1|u|k"}) {
		t.Fatalf("published %v", r.got)
	}
	cr, _ := NewNode(Options{NodeID: "n2", Key: ek, ChalResp: true})
	if cr.Online(r) {
		t.Fatal("challenge-response node published user/mapping")
	}
}
