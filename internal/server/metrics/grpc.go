package metrics

import (
	"context"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// deviceMethods hold a device session while they run.
var deviceMethods = map[string]bool{
	"Provision": true, "ProvisionInteractive": true, "ScanWifi": true, "ScanThread": true, "MapNode": true, "DisableChallengeResponse": true,
}

func shortMethod(full string) string {
	return full[strings.LastIndex(full, "/")+1:]
}

// UnaryInterceptor counts and times unary calls; it goes before
// authentication so that refused calls are counted.
func (m *Metrics) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		name := shortMethod(info.FullMethod)
		done := m.begin(name)
		resp, err := h(ctx, req)
		done(err)
		return resp, err
	}
}

// StreamInterceptor counts and times streaming calls; it goes before
// authentication so that refused calls are counted.
func (m *Metrics) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		done := m.begin(shortMethod(info.FullMethod))
		err := h(srv, ss)
		done(err)
		return err
	}
}

// ProvisionInterceptor reads the requests and progress events of Provision
// and ProvisionInteractive as they pass; it goes after authentication, so
// that only provisionings that started are counted.
func (m *Metrics) ProvisionInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if name := shortMethod(info.FullMethod); name != "Provision" && name != "ProvisionInteractive" {
			return h(srv, ss)
		}
		ps := &provisionStream{ServerStream: ss, m: m, start: time.Now(), last: time.Now(), transport: "unknown", scheme: "unknown"}
		err := h(srv, ps)
		ps.finish(err)
		return err
	}
}

func (m *Metrics) begin(name string) func(error) {
	start := time.Now()
	dev := deviceMethods[name]
	if dev {
		m.inFlight.WithLabelValues(name).Inc()
	}
	return func(err error) {
		if dev {
			m.inFlight.WithLabelValues(name).Dec()
		}
		m.rpcs.WithLabelValues(name, status.Code(err).String()).Inc()
		m.rpcDuration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	}
}

// provisionStream observes one provisioning through its public messages.
// ProvisionInteractive may receive and send from two goroutines: mu guards
// the fields.
type provisionStream struct {
	grpc.ServerStream
	m                 *Metrics
	mu                sync.Mutex
	start, last       time.Time
	transport, scheme string
}

func (p *provisionStream) RecvMsg(msg any) error {
	err := p.ServerStream.RecvMsg(msg)
	if err != nil {
		return err
	}
	var req *espprovv1.ProvisionRequest
	switch r := msg.(type) {
	case *espprovv1.ProvisionRequest:
		req = r
	case *espprovv1.ProvisionInteractiveRequest:
		req = r.GetStart()
	}
	if req != nil {
		p.mu.Lock()
		p.transport = label(req.GetDevice().GetTransport().String(), "TRANSPORT_")
		p.mu.Unlock()
	}
	return nil
}

func (p *provisionStream) SendMsg(msg any) error {
	var ev *espprovv1.ProvisionResponse
	switch r := msg.(type) {
	case *espprovv1.ProvisionResponse:
		ev = r
	case *espprovv1.ProvisionInteractiveResponse:
		ev = r.GetEvent()
	}
	if ev != nil {
		p.mu.Lock()
		now := time.Now()
		p.m.steps.WithLabelValues(label(ev.GetStep().String(), "STEP_")).Observe(now.Sub(p.last).Seconds())
		p.last = now
		if di := ev.GetDeviceInfo(); di != nil && di.GetSecurity() != espprovv1.SecurityScheme_SECURITY_SCHEME_UNSPECIFIED {
			p.scheme = "sec" + label(di.GetSecurity().String(), "SECURITY_SCHEME_")
		}
		p.mu.Unlock()
	}
	return p.ServerStream.SendMsg(msg)
}

func (p *provisionStream) finish(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	result := status.Code(err).String()
	p.m.provisions.WithLabelValues(p.transport, p.scheme, result).Inc()
	p.m.provDuration.WithLabelValues(p.transport, result).Observe(time.Since(p.start).Seconds())
}

// label turns TRANSPORT_HTTPD into "httpd".
func label(enum, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(enum, prefix))
}
