package onnetwork

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"
)

// VersionInfo is the reply of the esp_local_ctrl/version endpoint.
//
// Standalone service: {"on_network":{"ver":"v1.0","cap":["ch_resp"]}} — no
// sec_ver and no sec_patch_ver, unlike the provisioning proto-ver JSON
// (rainmaker.md §3.2). Local Control variant: the local-control version, on
// current ESP-IDF {"local_ctrl":{"ver":"v1.0","sec_ver":N,"sec_patch_ver":N}}
// and on old ESP-IDF the plain text "v1.0".
type VersionInfo struct {
	// Raw is the reply as received.
	Raw string
	// Key is the top-level JSON key ("on_network", "local_ctrl"); "" for a
	// plain-text reply.
	Key string
	// Ver is the version string, e.g. "v1.0".
	Ver string
	// Cap lists the capabilities, e.g. ["ch_resp"].
	Cap []string
	// SecVer and SecPatchVer are -1 when absent (always for the standalone
	// service: the Security 2 patch level is then taken from the device
	// nonce length, protocol.md §7.5).
	SecVer      int
	SecPatchVer int
}

// Version keys.
const (
	VersionKeyOnNetwork = "on_network"
	VersionKeyLocalCtrl = "local_ctrl"
	// CapChalResp is the challenge-response capability.
	CapChalResp = "ch_resp"
)

// HasCap reports whether the device lists capability c.
func (v VersionInfo) HasCap(c string) bool { return slices.Contains(v.Cap, c) }

// ParseVersion parses an esp_local_ctrl/version reply (JSON of either
// variant, or plain text).
func ParseVersion(b []byte) (VersionInfo, error) {
	v := VersionInfo{Raw: string(b), SecVer: -1, SecPatchVer: -1}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return v, fmt.Errorf("onnetwork: empty version reply")
	}
	if trimmed[0] != '{' {
		if !utf8.Valid(trimmed) || bytes.ContainsFunc(trimmed, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return v, fmt.Errorf("onnetwork: version reply is neither JSON nor text")
		}
		v.Ver = string(trimmed)
		return v, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &top); err != nil {
		return v, fmt.Errorf("onnetwork: version reply: %w", err)
	}
	key := ""
	switch {
	case top[VersionKeyOnNetwork] != nil:
		key = VersionKeyOnNetwork
	case top[VersionKeyLocalCtrl] != nil:
		key = VersionKeyLocalCtrl
	case len(top) == 1:
		for k := range top {
			key = k
		}
	default:
		return v, fmt.Errorf("onnetwork: version reply has no %q or %q object", VersionKeyOnNetwork, VersionKeyLocalCtrl)
	}
	var inner struct {
		Ver         *string  `json:"ver"`
		Cap         []string `json:"cap"`
		SecVer      *int     `json:"sec_ver"`
		SecPatchVer *int     `json:"sec_patch_ver"`
	}
	if err := json.Unmarshal(top[key], &inner); err != nil {
		return v, fmt.Errorf("onnetwork: version reply %q: %w", key, err)
	}
	v.Key = key
	if inner.Ver != nil {
		v.Ver = *inner.Ver
	}
	v.Cap = inner.Cap
	if inner.SecVer != nil {
		v.SecVer = *inner.SecVer
	}
	if inner.SecPatchVer != nil {
		v.SecPatchVer = *inner.SecPatchVer
	}
	return v, nil
}
