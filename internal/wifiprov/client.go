package wifiprov

import "context"

// Client provisions Wi-Fi over an established session. Legacy speaks the
// wifi_provisioning messages (ESP-IDF up to 5.x); netprov.Wifi speaks the
// network_provisioning ones (ESP-IDF 6).
type Client interface {
	Scan(ctx context.Context, opts ScanOptions) ([]AP, error)
	SetConfig(ctx context.Context, ssid, passphrase []byte) error
	ApplyConfig(ctx context.Context) error
	GetStatus(ctx context.Context) (State, error)
	Reset(ctx context.Context) error
	Reprov(ctx context.Context) error
}

// Legacy is the wifi_provisioning Client.
type Legacy struct{ C Caller }

var _ Client = Legacy{}

func (l Legacy) Scan(ctx context.Context, o ScanOptions) ([]AP, error) { return Scan(ctx, l.C, o) }
func (l Legacy) SetConfig(ctx context.Context, ssid, pass []byte) error {
	return SetConfig(ctx, l.C, ssid, pass)
}
func (l Legacy) ApplyConfig(ctx context.Context) error        { return ApplyConfig(ctx, l.C) }
func (l Legacy) GetStatus(ctx context.Context) (State, error) { return GetStatus(ctx, l.C) }
func (l Legacy) Reset(ctx context.Context) error              { return Reset(ctx, l.C) }
func (l Legacy) Reprov(ctx context.Context) error             { return Reprov(ctx, l.C) }
