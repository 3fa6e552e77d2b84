// Package thread holds Thread network credentials: the active operational
// dataset, a list of MeshCoP TLVs (type, length, value) that ESP-IDF 6
// network_provisioning devices take as their Thread configuration (what
// `ot-ctl dataset active -x` prints). It parses a dataset with the checks
// OpenThread's otDatasetParseTlvs applies, and builds one from its parts.
package thread

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MeshCoP TLV types of an operational dataset (Thread 1.3, OpenThread
// meshcop_tlvs.hpp).
const (
	TLVChannel          = 0
	TLVPanID            = 1
	TLVExtPanID         = 2
	TLVNetworkName      = 3
	TLVPSKc             = 4
	TLVNetworkKey       = 5
	TLVKeySequence      = 6
	TLVMeshLocalPrefix  = 7
	TLVSecurityPolicy   = 12
	TLVActiveTimestamp  = 14
	TLVPendingTimestamp = 51
	TLVDelayTimer       = 52
	TLVChannelMask      = 53
)

// MaxDatasetLen is OT_OPERATIONAL_DATASET_MAX_LENGTH: the firmware's buffer.
const MaxDatasetLen = 254

// Channels of the 2.4 GHz band (channel page 0).
const (
	MinChannel = 11
	MaxChannel = 26
)

// ErrInvalid: the dataset or one of its parts is malformed.
var ErrInvalid = errors.New("invalid Thread dataset")

// minLen is the shortest valid value of the TLVs OpenThread validates;
// maxLen the longest where OpenThread bounds it.
var minLen = map[byte]int{
	TLVChannel: 3, TLVPanID: 2, TLVExtPanID: 8, TLVPSKc: 16, TLVNetworkKey: 16,
	TLVKeySequence: 4, TLVMeshLocalPrefix: 8, TLVSecurityPolicy: 3, TLVActiveTimestamp: 8,
	TLVPendingTimestamp: 8, TLVDelayTimer: 4,
}

// Dataset is a parsed operational dataset. It holds the network key: never
// log it (String hides the key).
type Dataset struct {
	// TLVs is the dataset as sent to the device.
	TLVs []byte

	HasChannel  bool
	ChannelPage uint8
	Channel     uint16

	HasPanID bool
	PanID    uint16

	HasExtPanID bool
	ExtPanID    [8]byte

	NetworkName string

	HasNetworkKey bool
	NetworkKey    [16]byte
}

// ParseHex decodes hex TLVs (spaces and a 0x prefix are tolerated) and parses them.
func ParseHex(s string) (Dataset, error) {
	s = strings.Join(strings.Fields(s), "")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(s)
	if err != nil {
		return Dataset{}, fmt.Errorf("%w: not hex digits (%v)", ErrInvalid, err)
	}
	return Parse(b)
}

// Parse checks the TLV structure the way otDatasetParseTlvs does: every TLV
// fits in the buffer, no type repeats, the known types have a valid length,
// the channel is a 2.4 GHz one and the network name is 1 to 16 bytes of
// UTF-8. It does not require any TLV: see CheckComplete.
func Parse(b []byte) (Dataset, error) {
	d := Dataset{TLVs: append([]byte(nil), b...)}
	if len(b) == 0 {
		return d, fmt.Errorf("%w: empty", ErrInvalid)
	}
	if len(b) > MaxDatasetLen {
		return d, fmt.Errorf("%w: %d bytes; a dataset holds at most %d", ErrInvalid, len(b), MaxDatasetLen)
	}
	seen := map[byte]bool{}
	for i := 0; i < len(b); {
		if len(b)-i < 2 {
			return d, fmt.Errorf("%w: truncated TLV header at byte %d", ErrInvalid, i)
		}
		typ, n := b[i], int(b[i+1])
		if n == 0xff {
			return d, fmt.Errorf("%w: extended-length TLV at byte %d", ErrInvalid, i)
		}
		if i+2+n > len(b) {
			return d, fmt.Errorf("%w: TLV type %d at byte %d claims %d bytes, %d left", ErrInvalid, typ, i, n, len(b)-i-2)
		}
		v := b[i+2 : i+2+n]
		i += 2 + n
		if seen[typ] {
			return d, fmt.Errorf("%w: TLV type %d appears twice", ErrInvalid, typ)
		}
		seen[typ] = true
		if m, ok := minLen[typ]; ok && n < m {
			return d, fmt.Errorf("%w: TLV type %d is %d bytes; it needs at least %d", ErrInvalid, typ, n, m)
		}
		switch typ {
		case TLVChannel:
			d.HasChannel, d.ChannelPage, d.Channel = true, v[0], binary.BigEndian.Uint16(v[1:3])
			if d.ChannelPage != 0 || d.Channel < MinChannel || d.Channel > MaxChannel {
				return d, fmt.Errorf("%w: channel %d (page %d); Thread uses channels %d to %d on page 0", ErrInvalid, d.Channel, d.ChannelPage, MinChannel, MaxChannel)
			}
		case TLVPanID:
			d.HasPanID, d.PanID = true, binary.BigEndian.Uint16(v)
		case TLVExtPanID:
			d.HasExtPanID = true
			copy(d.ExtPanID[:], v)
		case TLVNetworkName:
			if n == 0 || n > 16 || !utf8.Valid(v) {
				return d, fmt.Errorf("%w: the network name must be 1 to 16 bytes of UTF-8", ErrInvalid)
			}
			d.NetworkName = string(v)
		case TLVNetworkKey:
			d.HasNetworkKey = true
			copy(d.NetworkKey[:], v)
		}
	}
	return d, nil
}

// CheckComplete reports whether the dataset names a network a device can
// attach to: network key, PAN ID, extended PAN ID and channel (the parts
// Espressif's esp_prov puts in the dataset it builds).
func (d Dataset) CheckComplete() error {
	var missing []string
	if !d.HasNetworkKey {
		missing = append(missing, "network key")
	}
	if !d.HasPanID {
		missing = append(missing, "PAN ID")
	}
	if !d.HasExtPanID {
		missing = append(missing, "extended PAN ID")
	}
	if !d.HasChannel {
		missing = append(missing, "channel")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: no %s TLV", ErrInvalid, strings.Join(missing, ", "))
	}
	if d.PanID == 0xffff {
		return fmt.Errorf("%w: PAN ID 0xffff is the broadcast PAN ID", ErrInvalid)
	}
	return nil
}

// String describes the dataset without its network key.
func (d Dataset) String() string {
	return fmt.Sprintf("Dataset{name=%q pan_id=0x%04x ext_pan_id=%x channel=%d key=%t}",
		d.NetworkName, d.PanID, d.ExtPanID, d.Channel, d.HasNetworkKey)
}

// Params are a dataset's parts, as a person types them.
type Params struct {
	// NetworkKey is 16 bytes (32 hex digits).
	NetworkKey []byte
	PanID      uint16
	// ExtPanID is 8 bytes (16 hex digits).
	ExtPanID []byte
	// Channel is 11 to 26.
	Channel uint16
	// NetworkName is optional (1 to 16 bytes).
	NetworkName string
}

// Build makes the dataset TLVs from its parts: channel, PAN ID, extended PAN
// ID, network name (if given) and network key, in TLV type order. It is the
// minimal dataset Espressif's esp_prov builds from a scan result and a key,
// plus the network name.
func Build(p Params) ([]byte, error) {
	switch {
	case len(p.NetworkKey) != 16:
		return nil, fmt.Errorf("%w: the network key must be 16 bytes (32 hex digits), got %d bytes", ErrInvalid, len(p.NetworkKey))
	case len(p.ExtPanID) != 8:
		return nil, fmt.Errorf("%w: the extended PAN ID must be 8 bytes (16 hex digits), got %d bytes", ErrInvalid, len(p.ExtPanID))
	case p.Channel < MinChannel || p.Channel > MaxChannel:
		return nil, fmt.Errorf("%w: channel %d; Thread uses channels %d to %d", ErrInvalid, p.Channel, MinChannel, MaxChannel)
	case p.PanID == 0xffff:
		return nil, fmt.Errorf("%w: PAN ID 0xffff is the broadcast PAN ID", ErrInvalid)
	case len(p.NetworkName) > 16 || !utf8.ValidString(p.NetworkName):
		return nil, fmt.Errorf("%w: the network name must be at most 16 bytes of UTF-8", ErrInvalid)
	}
	b := []byte{TLVChannel, 3, 0, byte(p.Channel >> 8), byte(p.Channel)}
	b = append(b, TLVPanID, 2, byte(p.PanID>>8), byte(p.PanID))
	b = append(b, TLVExtPanID, 8)
	b = append(b, p.ExtPanID...)
	if p.NetworkName != "" {
		b = append(b, TLVNetworkName, byte(len(p.NetworkName)))
		b = append(b, p.NetworkName...)
	}
	b = append(b, TLVNetworkKey, 16)
	b = append(b, p.NetworkKey...)
	return b, nil
}

// DecodeHexField decodes a hex value of exactly n bytes (a network key or
// an extended PAN ID), naming it in errors.
func DecodeHexField(name, s string, n int) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("%w: the %s must be %d hex digits", ErrInvalid, name, 2*n)
	}
	return b, nil
}
