package simonnetwork

import (
	"context"
	"fmt"
	"maps"
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
}

func announce(cfg announceConfig) (*announcement, error) {
	svc, err := dnssd.NewService(dnssd.Config{
		Name:   cfg.instance,
		Type:   cfg.typ,
		Domain: "local",
		Host:   cfg.host,
		Text:   maps.Clone(cfg.txt),
		Port:   cfg.port,
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
