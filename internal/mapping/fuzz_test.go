package mapping_test

import (
	"context"
	"errors"
	"testing"

	"github.com/espprov/espprov/internal/fuzzkit"
	"github.com/espprov/espprov/internal/mapping"
	"github.com/espprov/espprov/internal/rainmaker"
	simrmaker "github.com/espprov/espprov/internal/sim/rmaker"
)

// fuzzCloud accepts every mapping.
type fuzzCloud struct{}

func (fuzzCloud) UserID(context.Context) (string, error) { return "user-1", nil }
func (fuzzCloud) InitiateMapping(context.Context, int) (rainmaker.Challenge, error) {
	return rainmaker.Challenge{RequestID: "req-1", Challenge: "challenge-bytes"}, nil
}
func (fuzzCloud) VerifyMapping(context.Context, rainmaker.VerifyRequest) error { return nil }
func (fuzzCloud) AddNodeMapping(context.Context, rainmaker.AddMappingRequest) (string, error) {
	return "req-2", nil
}
func (fuzzCloud) MappingStatus(context.Context, string) (string, error) { return "confirmed", nil }

// recording records the replies of a real simulated node.
type recording struct {
	c       mapping.Caller
	replies [][]byte
}

func (r *recording) Call(ctx context.Context, ep string, req []byte) ([]byte, error) {
	b, err := r.c.Call(ctx, ep, req)
	r.replies = append(r.replies, b)
	return b, err
}

// nodeReplies runs the RainMaker flows against simulated nodes and returns
// the replies of ch_resp (sign, then disable) and cloud_user_assoc.
func nodeReplies(f *testing.F) (sign, disable, assoc []byte) {
	ctx := context.Background()
	for _, chalResp := range []bool{true, false} {
		node, err := simrmaker.NewNode(simrmaker.Options{NodeID: "NODE1234", KeyType: simrmaker.KeyECP256, ChalResp: chalResp})
		if err != nil {
			f.Fatal(err)
		}
		d := &device{}
		if err := node.Register(d); err != nil {
			f.Fatal(err)
		}
		rec := &recording{c: d}
		if chalResp {
			if _, err := mapping.ChallengeResponse(ctx, rec, fuzzCloud{}, mapping.ChallengeOptions{DisableOnSuccess: true}, nil); err != nil {
				f.Fatal(err)
			}
			sign, disable = rec.replies[0], rec.replies[1]
		} else {
			if _, _, err := mapping.TraditionalAssociate(ctx, rec, "user-1"); err != nil {
				f.Fatal(err)
			}
			assoc = rec.replies[0]
		}
	}
	return sign, disable, assoc
}

// FuzzDeviceReplies feeds arbitrary ch_resp and cloud_user_assoc replies
// to the RainMaker flows. They must never panic; a success names a node.
func FuzzDeviceReplies(f *testing.F) {
	sign, disable, assoc := nodeReplies(f)
	f.Add(sign, disable, assoc)
	f.Add(sign, []byte{}, []byte{0x08, 0x01})
	f.Add([]byte{0x08, 0x01, 0x10, 0x02}, disable, []byte{0xff})
	f.Fuzz(func(t *testing.T, sign, disable, assoc []byte) {
		ctx := context.Background()
		res, err := mapping.ChallengeResponse(ctx, fuzzkit.NewReplies(sign, disable), fuzzCloud{}, mapping.ChallengeOptions{DisableOnSuccess: true}, nil)
		if err == nil && (res.NodeID == "" || !res.Mapped) {
			t.Fatalf("success without a node: %+v", res)
		}
		if _, err := mapping.DisableChalResp(ctx, fuzzkit.NewReplies(disable)); err != nil && errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		node, secret, err := mapping.TraditionalAssociate(ctx, fuzzkit.NewReplies(assoc), "user-1")
		if err == nil && (node == "" || secret == "") {
			t.Fatalf("success without node %q or secret", node)
		}
	})
}

// FuzzParseTags: what the CLI accepts as --tags is valid for the cloud.
func FuzzParseTags(f *testing.F) {
	for _, s := range []string{"", "a,b", "line:3, station:7", ",,", " x ", "tag\x00", "é,ü", "a,,b,", `"q"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tags, err := mapping.ParseTags(s)
		if err != nil {
			return
		}
		if err := mapping.ValidateTags(tags); err != nil {
			t.Fatalf("ParseTags(%q) = %q, which does not validate: %v", s, tags, err)
		}
	})
}

// FuzzParseMetadata: what the CLI accepts as --metadata is a valid object.
func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{"", "{}", `{"a":1}`, `{"serial":"X1","line":{"n":3}}`, `[1]`, `{"a":`, `null`, `{"a":1}{"b":2}`, `{"":true}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := mapping.ParseMetadata(s)
		if err != nil {
			return
		}
		if err := mapping.ValidateMetadata(m); err != nil {
			t.Fatalf("ParseMetadata(%q) = %v, which does not validate: %v", s, m, err)
		}
	})
}
