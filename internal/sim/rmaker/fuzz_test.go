package simrmaker

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/espprov/espprov/internal/wire/chrespb"
	"github.com/espprov/espprov/internal/wire/usermappingpb"
)

// FuzzEndpoints feeds arbitrary requests to a node's ch_resp and
// cloud_user_assoc handlers (the device role of RainMaker mapping). They
// must never panic; an answer must decode as the endpoint's message.
func FuzzEndpoints(f *testing.F) {
	sign, _ := proto.Marshal(&chrespb.RMakerChRespPayload{Msg: chrespb.RMakerChRespMsgType_TypeCmdChallengeResponse,
		Payload: &chrespb.RMakerChRespPayload_CmdChallengeResponsePayload{CmdChallengeResponsePayload: &chrespb.CmdCRPayload{Payload: []byte("challenge")}}})
	disable, _ := proto.Marshal(&chrespb.RMakerChRespPayload{Msg: chrespb.RMakerChRespMsgType_TypeCmdDisableChalResp})
	assoc, _ := proto.Marshal(&usermappingpb.RMakerConfigPayload{Msg: usermappingpb.RMakerConfigMsgType_TypeCmdSetUserMapping,
		Payload: &usermappingpb.RMakerConfigPayload_CmdSetUserMapping{CmdSetUserMapping: &usermappingpb.CmdSetUserMapping{UserID: "u1", SecretKey: "k"}}})
	f.Add(sign, assoc)
	f.Add(disable, []byte{})
	f.Add([]byte{0x08, 0x07}, []byte{0x08, 0x01, 0x62, 0x00})
	chal, err := NewNode(Options{NodeID: "N1", KeyType: KeyECP256, ChalResp: true})
	if err != nil {
		f.Fatal(err)
	}
	trad, err := NewNode(Options{NodeID: "N2", KeyType: KeyECP256})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, chReq, assocReq []byte) {
		if out, err := chal.HandleChalResp(chReq); err == nil {
			var m chrespb.RMakerChRespPayload
			if proto.Unmarshal(out, &m) != nil {
				t.Fatalf("ch_resp answered %x", out)
			}
		}
		chal.Enable()
		if out, err := trad.HandleUserMapping(assocReq); err == nil {
			var m usermappingpb.RMakerConfigPayload
			if proto.Unmarshal(out, &m) != nil {
				t.Fatalf("cloud_user_assoc answered %x", out)
			}
		}
	})
}
