package simonnetwork

import (
	"context"
	"fmt"
	"maps"
	"net"
	"time"

	"github.com/brutella/dnssd"
)

// announcement is one DNS-SD service published by its own dnssd responder.
// Each announcement owns its responder so that withdrawing it is a context
// cancellation, which dnssd handles at any stage (while probing it gives up,
// once announced it sends the goodbye packets).
type announcement struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// goodbyeWait bounds how long withdrawing waits for dnssd's goodbye packets
// (two per interface, 250 ms apart).
const goodbyeWait = 5 * time.Second

type announceConfig struct {
	instance, typ, host string
	port                int
	txt                 map[string]string
	// listen is the address the service listens on: only addresses a
	// client can reach it at are announced.
	listen net.Addr
}

// listenScope returns the addresses and interfaces to announce for a
// listener: a specific address alone, on the interface that has it; for a
// wildcard listen nothing (dnssd then announces each interface's own
// addresses on that interface).
func listenScope(a net.Addr) (ips []net.IP, ifaces []string, err error) {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.IP == nil || ta.IP.IsUnspecified() {
		return nil, nil, nil
	}
	if ta.Zone != "" {
		return []net.IP{ta.IP}, []string{ta.Zone}, nil
	}
	all, err := net.Interfaces()
	if err != nil {
		return nil, nil, err
	}
	for _, ifi := range all {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, ad := range addrs {
			if ipn, ok := ad.(*net.IPNet); ok && ipn.IP.Equal(ta.IP) {
				return []net.IP{ta.IP}, []string{ifi.Name}, nil
			}
		}
	}
	return nil, nil, fmt.Errorf("no interface has the listen address %s", ta.IP)
}

func announce(cfg announceConfig) (*announcement, error) {
	ips, ifaces, err := listenScope(cfg.listen)
	if err != nil {
		return nil, fmt.Errorf("simonnetwork: mDNS service %s: %w", cfg.typ, err)
	}
	svc, err := dnssd.NewService(dnssd.Config{
		Name:   cfg.instance,
		Type:   cfg.typ,
		Domain: "local",
		Host:   cfg.host,
		Text:   maps.Clone(cfg.txt),
		Port:   cfg.port,
		IPs:    ips,
		Ifaces: ifaces,
	})
	if err != nil {
		return nil, fmt.Errorf("simonnetwork: mDNS service %s: %w", cfg.typ, err)
	}
	r, err := dnssd.NewResponder()
	if err != nil {
		return nil, fmt.Errorf("simonnetwork: mDNS responder: %w", err)
	}
	if _, err := r.Add(svc); err != nil {
		return nil, fmt.Errorf("simonnetwork: mDNS add %s: %w", cfg.typ, err)
	}
	// Respond's socket readers stop only on context.Canceled, so the context
	// is cancelled, never timed out.
	ctx, cancel := context.WithCancel(context.Background())
	a := &announcement{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		_ = r.Respond(ctx) // returns ctx.Err() after the goodbye, or a probe error
	}()
	return a, nil
}

// withdraw stops the responder (sending goodbye packets if the service was
// announced) and waits for it, bounded.
func (a *announcement) withdraw() {
	if a == nil {
		return
	}
	a.cancel()
	select {
	case <-a.done:
	case <-time.After(goodbyeWait):
	}
}
