package provisioning

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/mapping"
	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/internal/rainmaker"
	"github.com/espprov/espprov/internal/validate"
)

// CloudConfig configures RainMaker access for mapping.
type CloudConfig struct {
	// Server holds the server-wide base URL and credentials (may be empty:
	// then every mapping call must carry x-rainmaker-* metadata).
	Server rainmaker.ServerConfig
	// Client tunes timeouts, retries and logging of cloud calls.
	Client rainmaker.Config
	// Clouds are extra named clouds (name → base URL or preset) a request
	// may pick with mapping.cloud_url, besides "global" and "china". Only
	// the server's own cloud (Server.BaseURL) is ever given the server's
	// account; the others need per-call credentials.
	Clouds map[string]string
	// AllowHTTP lets a request name an unconfigured plain-http cloud URL
	// (with per-call credentials). Default: https only.
	AllowHTTP bool
	// RefuseCustomURLs refuses every cloud_url that is not a configured
	// cloud, even with per-call credentials.
	RefuseCustomURLs bool
}

// cloudClients caches logged-in clients, so that tokens are reused across
// calls: the server's own account per base URL, and per-call accounts by a
// hash of their credentials (never the credentials themselves).
type cloudClients struct {
	mu     sync.Mutex
	shared map[string]*rainmaker.Client // by base URL
	perMD  map[[32]byte]*rainmaker.Client
}

// maxPerCallClients bounds the cache of per-call accounts.
const maxPerCallClients = 256

func credsKey(base string, c rainmaker.Credentials) [32]byte {
	h := sha256.New()
	for _, f := range []string{base, c.Username, c.Password, c.RefreshToken, c.AccessToken, c.IDToken} {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

// mapPlan is a validated mapping request with a logged-in cloud client.
type mapPlan struct {
	cloud    *rainmaker.Client
	userID   string
	tags     []string
	metadata map[string]any
	disable  bool
	poll     time.Duration
	maxWait  time.Duration
	noWifi   bool
	flow     mapping.Flow
}

// wantsMapping: explicit mapping, mapping-only, or an on-network device
// (which is reached only to be mapped).
func wantsMapping(req *espprovv1.ProvisionRequest) bool {
	return req.GetMapping().GetEnabled() || req.GetNoWifi() ||
		req.GetDevice().GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK
}

// validateMapping checks tags, metadata and durations; nothing is contacted.
func validateMapping(m *espprovv1.Mapping) ([]string, map[string]any, error) {
	if err := checkFields(validate.Mapping(m)); err != nil {
		return nil, nil, err
	}
	var md map[string]any
	if m.GetMetadata() != nil {
		md = m.GetMetadata().AsMap()
	}
	return m.GetTags(), md, nil
}

// cloudClient picks the account: per-call metadata credentials win over the
// server's configuration.
func (s *Service) cloudClient(ctx context.Context, m *espprovv1.Mapping) (*rainmaker.Client, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	creds, perCall, err := rainmaker.CredentialsFromMetadata(md)
	if err != nil {
		return nil, status.Errorf(codes.Unauthenticated, "RainMaker credentials in the call metadata: %v", err)
	}
	if !perCall && s.cloud.Server.Credentials.IsZero() {
		return nil, status.Error(codes.Unauthenticated, "RainMaker mapping needs an account: configure the server (ESPPROV_RAINMAKER_REFRESH_TOKEN, or ESPPROV_RAINMAKER_USER and ESPPROV_RAINMAKER_PASSWORD, or ESPPROV_RAINMAKER_CREDENTIALS_FILE) or send x-rainmaker-* call metadata")
	}
	target, err := s.cloud.resolveCloud(m.GetCloudUrl(), perCall)
	if err != nil {
		return nil, err
	}
	base := target.base
	cfg := s.cloud.Client
	cfg.BaseURL = base
	if perCall {
		key := credsKey(base, creds)
		s.clouds.mu.Lock()
		defer s.clouds.mu.Unlock()
		if c, ok := s.clouds.perMD[key]; ok {
			return c, nil
		}
		c, err := rainmaker.New(cfg, creds)
		if err != nil {
			return nil, status.Errorf(codes.Unauthenticated, "RainMaker credentials in the call metadata: %v", err)
		}
		if s.clouds.perMD == nil || len(s.clouds.perMD) >= maxPerCallClients {
			s.clouds.perMD = map[[32]byte]*rainmaker.Client{} // simple bound: start over
		}
		s.clouds.perMD[key] = c
		return c, nil
	}
	s.clouds.mu.Lock()
	defer s.clouds.mu.Unlock()
	if c, ok := s.clouds.shared[base]; ok {
		return c, nil
	}
	c, err := rainmaker.New(cfg, s.cloud.Server.Credentials)
	if err != nil {
		return nil, status.Errorf(codes.Unauthenticated, "the server's RainMaker credentials: %v", err)
	}
	if s.clouds.shared == nil {
		s.clouds.shared = map[string]*rainmaker.Client{}
	}
	s.clouds.shared[base] = c
	return c, nil
}

// prepareMapping validates the mapping part of a request and logs in to
// the cloud, all before the device is contacted.
func (s *Service) prepareMapping(ctx context.Context, d *espprovv1.Device, m *espprovv1.Mapping, noWifi bool) (*mapPlan, error) {
	tags, md, err := validateMapping(m)
	if err != nil {
		return nil, err
	}
	cloud, err := s.cloudClient(ctx, m)
	if err != nil {
		return nil, err
	}
	userID, err := cloud.UserID(ctx)
	if err != nil {
		return nil, fmt.Errorf("RainMaker login: %w", err)
	}
	p := &mapPlan{cloud: cloud, userID: userID, tags: tags, metadata: md, noWifi: noWifi,
		poll: m.GetPollInterval().AsDuration(), maxWait: m.GetMaxWait().AsDuration()}
	var override *bool
	if m != nil && m.DisableChalResp != nil {
		v := m.GetDisableChalResp()
		override = &v
	}
	p.disable = mapping.DisableByDefault(transportName(d.GetTransport()), override)
	return p, nil
}

func rmakerCaps(v protocomm.Version) mapping.Capabilities {
	return mapping.Capabilities{
		Claim:     v.AppHas("rmaker", "claim") || v.AppHas("rmaker", "camera_claim"),
		ChResp:    v.AppHas("rmaker_extra", "ch_resp"),
		LocalCtrl: v.AppHas("rmaker_extra", "local_ctrl"),
	}
}

// plan picks the flow from the device's capabilities, before the handshake.
func (p *mapPlan) plan(v protocomm.Version) error {
	flow, err := mapping.Plan(rmakerCaps(v), p.noWifi)
	if err != nil {
		return err
	}
	p.flow = flow
	return nil
}

func apiFlow(f mapping.Flow) espprovv1.MappingFlow {
	switch f {
	case mapping.FlowChallengeResponse:
		return espprovv1.MappingFlow_MAPPING_FLOW_CHALLENGE_RESPONSE
	case mapping.FlowTraditional:
		return espprovv1.MappingFlow_MAPPING_FLOW_TRADITIONAL
	}
	return espprovv1.MappingFlow_MAPPING_FLOW_UNSPECIFIED
}

func (em *emitter) mappingEvent(ev mapping.Event) {
	_ = em.emit(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_MAPPING, Message: ev.Message,
		Mapping: &espprovv1.MappingEvent{Flow: apiFlow(ev.Flow), NodeId: ev.NodeID, RequestId: ev.RequestID,
			RequestStatus: ev.RequestStatus, Mapped: ev.Mapped, ChalRespDisabled: ev.Disabled}})
}

// challengeResponse runs the challenge-response flow on an open session;
// a failed disable after a successful mapping is only logged.
func (s *Service) challengeResponse(ctx context.Context, c *conn, p *mapPlan, events func(mapping.Event)) (mapping.Result, error) {
	res, err := mapping.ChallengeResponse(ctx, c.sess, p.cloud, mapping.ChallengeOptions{
		Tags: p.tags, Metadata: p.metadata, DisableOnSuccess: p.disable}, events)
	if err == nil && res.DisableErr != nil {
		s.log.WarnContext(ctx, "mapped, but disabling challenge-response failed", "node", res.NodeID, "error", res.DisableErr)
	}
	return res, err
}

// MapNode implements the RPC: challenge-response mapping without Wi-Fi.
func (s *Service) MapNode(ctx context.Context, req *espprovv1.MapNodeRequest) (*espprovv1.MapNodeResponse, error) {
	to, err := s.checkRequest(req.GetDevice(), req.GetSecurity(), req.GetTimeouts())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, to.overall)
	defer cancel()
	p, err := s.prepareMapping(ctx, req.GetDevice(), req.GetMapping(), true)
	if err != nil {
		return nil, toStatus(err)
	}
	c, err := s.open(ctx, req.GetDevice(), req.GetSecurity(), to, func(c *conn) error { return p.plan(c.version) })
	if err != nil {
		return nil, toStatus(err)
	}
	defer c.close()
	res, err := s.challengeResponse(ctx, c, p, nil)
	if err != nil {
		return nil, toStatus(err)
	}
	s.log.InfoContext(ctx, "node mapped", "node", res.NodeID, "transport", transportName(req.GetDevice().GetTransport()))
	return &espprovv1.MapNodeResponse{NodeId: res.NodeID, RequestId: res.RequestID, ChalRespDisabled: res.Disabled}, nil
}

// DisableChallengeResponse implements the RPC.
func (s *Service) DisableChallengeResponse(ctx context.Context, req *espprovv1.DisableChallengeResponseRequest) (*espprovv1.DisableChallengeResponseResponse, error) {
	to, err := s.checkRequest(req.GetDevice(), req.GetSecurity(), req.GetTimeouts())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, to.overall)
	defer cancel()
	c, err := s.open(ctx, req.GetDevice(), req.GetSecurity(), to, func(c *conn) error {
		if !rmakerCaps(c.version).ChResp {
			return status.Error(codes.FailedPrecondition, "the device does not offer challenge-response (no ch_resp capability): nothing to disable")
		}
		return nil
	})
	if err != nil {
		return nil, toStatus(err)
	}
	defer c.close()
	already, err := mapping.DisableChalResp(ctx, c.sess)
	if err != nil {
		return nil, toStatus(err)
	}
	return &espprovv1.DisableChallengeResponseResponse{DisabledNow: !already, AlreadyDisabled: already}, nil
}

// errNotMapped marks a provisioning whose Wi-Fi succeeded but whose node
// could not be mapped (partial success is a failure, D7).
var errNotMapped = errors.New("Wi-Fi provisioned, but the node was not added to the RainMaker account")
