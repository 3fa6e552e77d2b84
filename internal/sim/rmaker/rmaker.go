// Package simrmaker simulates the device side of ESP RainMaker user-node
// mapping (rainmaker.md §2): the traditional endpoint cloud_user_assoc and
// the challenge-response endpoint ch_resp with the firmware's exact replies,
// the process-wide "disabled" flag, and the rmaker / rmaker_extra
// capabilities in proto-ver.
package simrmaker

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/espprov/espprov/internal/wire/chrespb"
	"github.com/espprov/espprov/internal/wire/usermappingpb"
)

// Endpoint names (firmware esp_rmaker_user_mapping.c / esp_rmaker_chal_resp.c).
const (
	EndpointUserMapping = "cloud_user_assoc"
	EndpointChalResp    = "ch_resp"
)

// Registrar is what Install needs from the simulated device
// (internal/sim/device.Device has these methods).
type Registrar interface {
	RegisterEndpoint(name string, h func([]byte) ([]byte, error)) error
	SetAppInfo(label, ver string, caps ...string)
}

// KeyType selects the node key algorithm.
type KeyType int

const (
	// KeyRSA2048 signs challenges with RSASSA-PSS/SHA-256.
	KeyRSA2048 KeyType = iota
	// KeyECP256 signs challenges with ECDSA P-256 (DER).
	KeyECP256
)

// Options configure the simulated RainMaker node.
type Options struct {
	// NodeID is the node id (required).
	NodeID string
	// KeyType selects the generated key when Key is nil.
	KeyType KeyType
	// Key is the node's private key (*rsa.PrivateKey or *ecdsa.PrivateKey
	// on P-256); generated when nil.
	Key crypto.Signer
	// ChalResp enables challenge-response (endpoint ch_resp, capability
	// rmaker_extra ch_resp); otherwise the traditional cloud_user_assoc
	// endpoint is registered (they are mutually exclusive in firmware).
	ChalResp bool
	// NeedsClaim advertises rmaker {"cap":["claim"]}: the node is not
	// claimed yet. Firmware refuses challenge-response on such a node, so
	// ch_resp is then not enabled even if ChalResp is set.
	NeedsClaim bool
	// LocalCtrl adds "local_ctrl" to the rmaker_extra capabilities.
	LocalCtrl bool
	// OnDisabled is called (outside any lock) when a disable command moved
	// the flag from enabled to disabled, so an on-network service can
	// withdraw its mDNS announcement and stop.
	OnDisabled func()
}

// Reporter receives the device's MQTT user/mapping publish
// (simcloud.Cloud implements it).
type Reporter interface {
	ReportUserMapping(nodeID, userID, secretKey string)
}

// Node is the simulated RainMaker node state.
type Node struct {
	opts Options
	key  crypto.Signer

	mu        sync.Mutex
	disabled  bool
	userID    string
	secretKey string
	mapped    bool
	reported  bool
}

// Install creates the node and registers its endpoints and capabilities on
// d. It panics if opts.NodeID is empty, key generation fails or the endpoint
// cannot be registered (programming errors in a simulator setup).
func Install(d Registrar, opts Options) *Node {
	n, err := NewNode(opts)
	if err != nil {
		panic(err)
	}
	if err := n.Register(d); err != nil {
		panic(err)
	}
	return n
}

// NewNode creates the node without registering anything (for services, such
// as the on-network one, that wire HandleChalResp themselves).
func NewNode(opts Options) (*Node, error) {
	if opts.NodeID == "" {
		return nil, errors.New("simrmaker: NodeID is required")
	}
	key := opts.Key
	if key == nil {
		var err error
		switch opts.KeyType {
		case KeyECP256:
			key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		default:
			key, err = rsa.GenerateKey(rand.Reader, 2048)
		}
		if err != nil {
			return nil, fmt.Errorf("simrmaker: generate key: %w", err)
		}
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("simrmaker: ECDSA key must be on P-256")
		}
	default:
		return nil, fmt.Errorf("simrmaker: unsupported key type %T", key)
	}
	return &Node{opts: opts, key: key}, nil
}

// ChalRespEnabled reports whether the node serves ch_resp (ChalResp set and
// no claiming needed).
func (n *Node) ChalRespEnabled() bool { return n.opts.ChalResp && !n.opts.NeedsClaim }

// Register sets the capabilities and endpoints on d, in the firmware's
// order: rmaker (claim) app info, rmaker_extra app info, then the endpoint.
func (n *Node) Register(d Registrar) error {
	if n.opts.NeedsClaim {
		d.SetAppInfo("rmaker", "1.0", "claim")
	}
	name, h := EndpointUserMapping, n.HandleUserMapping
	if n.ChalRespEnabled() {
		caps := []string{"ch_resp"}
		if n.opts.LocalCtrl {
			caps = append(caps, "local_ctrl")
		}
		d.SetAppInfo("rmaker_extra", "1.0", caps...)
		name, h = EndpointChalResp, n.HandleChalResp
	}
	if err := d.RegisterEndpoint(name, h); err != nil {
		return fmt.Errorf("simrmaker: registering %s: %w", name, err)
	}
	return nil
}

// NodeID is the node id.
func (n *Node) NodeID() string { return n.opts.NodeID }

// PublicKey is the public half of the node key, for simcloud.RegisterNode.
func (n *Node) PublicKey() crypto.PublicKey { return n.key.Public() }

// Disabled reports the challenge-response "disabled" flag.
func (n *Node) Disabled() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.disabled
}

// Enable clears the disabled flag (esp_rmaker_chal_resp_enable; also what
// starting the on-network service or a reboot does).
func (n *Node) Enable() {
	n.mu.Lock()
	n.disabled = false
	n.mu.Unlock()
}

// UserMapping returns what cloud_user_assoc stored.
func (n *Node) UserMapping() (userID, secretKey string, ok bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.userID, n.secretKey, n.mapped
}

// Online is the node coming online after Wi-Fi success: in the traditional
// flow it publishes {node_id, user_id, secret_key} on node/<id>/user/mapping
// once (to r). With challenge-response nothing is published. It reports
// whether a publish happened.
func (n *Node) Online(r Reporter) bool {
	n.mu.Lock()
	if !n.mapped || n.reported || n.ChalRespEnabled() {
		n.mu.Unlock()
		return false
	}
	n.reported = true
	node, user, secret := n.opts.NodeID, n.userID, n.secretKey
	n.mu.Unlock()
	r.ReportUserMapping(node, user, secret)
	return true
}

// HandleUserMapping is the cloud_user_assoc handler, reproducing
// esp_rmaker_user_mapping_handler: an undecodable request fails (no reply);
// TypeCmdSetUserMapping stores user id and secret key and answers Success
// with the node id (InvalidParam without node id if the payload is not
// cmd_set_user_mapping); any other message type gets an empty reply.
func (n *Node) HandleUserMapping(req []byte) ([]byte, error) {
	var in usermappingpb.RMakerConfigPayload
	if err := proto.Unmarshal(req, &in); err != nil {
		return nil, fmt.Errorf("simrmaker: cloud_user_assoc: %w", err)
	}
	if in.GetMsg() != usermappingpb.RMakerConfigMsgType_TypeCmdSetUserMapping {
		return []byte{}, nil
	}
	resp := &usermappingpb.RespSetUserMapping{}
	if cmd := in.GetCmdSetUserMapping(); cmd == nil {
		resp.Status = usermappingpb.RMakerConfigStatus_InvalidParam
	} else {
		n.mu.Lock()
		n.userID, n.secretKey, n.mapped, n.reported = cmd.GetUserID(), cmd.GetSecretKey(), true, false
		n.mu.Unlock()
		resp.Status = usermappingpb.RMakerConfigStatus_Success
		resp.NodeId = n.opts.NodeID
	}
	return proto.Marshal(&usermappingpb.RMakerConfigPayload{
		Msg:     usermappingpb.RMakerConfigMsgType_TypeRespSetUserMapping,
		Payload: &usermappingpb.RMakerConfigPayload_RespSetUserMapping{RespSetUserMapping: resp},
	})
}

// HandleChalResp is the ch_resp handler, reproducing
// esp_rmaker_chal_resp_handler:
//   - disabled flag set: {msg=TypeRespChallengeResponse, status=Disabled}
//     without parsing the request (so a second disable gets msg=1 too);
//   - TypeCmdDisableChalResp: set the flag, {msg=TypeRespDisableChalResp, status=Success};
//   - TypeCmdChallengeResponse with a non-empty challenge: sign
//     SHA-256(challenge), {msg=1, status=0, resp{payload=signature, node_id}};
//   - anything else (GetNodeID, empty challenge, undecodable): error, no reply.
func (n *Node) HandleChalResp(req []byte) ([]byte, error) {
	n.mu.Lock()
	if n.disabled {
		n.mu.Unlock()
		return proto.Marshal(&chrespb.RMakerChRespPayload{
			Msg:    chrespb.RMakerChRespMsgType_TypeRespChallengeResponse,
			Status: chrespb.RMakerChRespStatus_Disabled,
		})
	}
	n.mu.Unlock()
	var in chrespb.RMakerChRespPayload
	if err := proto.Unmarshal(req, &in); err != nil {
		return nil, fmt.Errorf("simrmaker: ch_resp: %w", err)
	}
	switch in.GetMsg() {
	case chrespb.RMakerChRespMsgType_TypeCmdDisableChalResp:
		n.mu.Lock()
		was := n.disabled
		n.disabled = true
		n.mu.Unlock()
		if !was && n.opts.OnDisabled != nil {
			n.opts.OnDisabled()
		}
		return proto.Marshal(&chrespb.RMakerChRespPayload{
			Msg:     chrespb.RMakerChRespMsgType_TypeRespDisableChalResp,
			Status:  chrespb.RMakerChRespStatus_Success,
			Payload: &chrespb.RMakerChRespPayload_RespDisableChalRespPayload{RespDisableChalRespPayload: &chrespb.RespDisableChalRespPayload{}},
		})
	case chrespb.RMakerChRespMsgType_TypeCmdChallengeResponse:
		challenge := in.GetCmdChallengeResponsePayload().GetPayload()
		if len(challenge) == 0 {
			return nil, errors.New("simrmaker: ch_resp: empty challenge")
		}
		sig, err := n.Sign(challenge)
		if err != nil {
			return nil, err
		}
		return proto.Marshal(&chrespb.RMakerChRespPayload{
			Msg:    chrespb.RMakerChRespMsgType_TypeRespChallengeResponse,
			Status: chrespb.RMakerChRespStatus_Success,
			Payload: &chrespb.RMakerChRespPayload_RespChallengeResponsePayload{RespChallengeResponsePayload: &chrespb.RespCRPayload{
				Payload: sig,
				NodeId:  n.opts.NodeID,
			}},
		})
	}
	return nil, fmt.Errorf("simrmaker: ch_resp: unsupported message type %v", in.GetMsg())
}

// Sign signs SHA-256(challenge) like the firmware: RSASSA-PSS with SHA-256
// and MGF1-SHA-256 (salt length = hash length) or ECDSA P-256 in DER.
func (n *Node) Sign(challenge []byte) ([]byte, error) {
	digest := sha256.Sum256(challenge)
	var opts crypto.SignerOpts = crypto.SHA256
	if _, ok := n.key.(*rsa.PrivateKey); ok {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	}
	// ecdsa.PrivateKey.Sign returns ASN.1 DER, rsa.PrivateKey.Sign with
	// PSSOptions returns PSS.
	sig, err := n.key.Sign(rand.Reader, digest[:], opts)
	if err != nil {
		return nil, fmt.Errorf("simrmaker: sign challenge: %w", err)
	}
	return sig, nil
}
