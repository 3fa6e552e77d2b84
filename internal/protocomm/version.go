// Package protocomm is the client side of an ESP-IDF protocomm session: it
// reads the device's proto-ver capabilities, chooses the security scheme,
// runs the prov-session handshake over a transport and then makes encrypted
// endpoint calls. It knows the flow of a session, not the wire of a
// transport nor the mathematics of a scheme.
package protocomm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/espprov/espprov/transports"
)

// Endpoint names registered by the provisioning manager (protocol.md §3).
const (
	EndpointVersion = "proto-ver"
	EndpointSession = "prov-session"
	EndpointConfig  = "prov-config"
	EndpointScan    = "prov-scan"
	EndpointCtrl    = "prov-ctrl"
)

// App is one application object of the proto-ver JSON (e.g. rmaker_extra).
type App struct {
	Version string
	Caps    []string
}

// Version is a parsed proto-ver reply.
type Version struct {
	// Raw is the reply as received.
	Raw []byte
	// JSON reports whether the reply was a JSON object. Old firmware answers
	// a plain string such as "V0.1", kept in Ver.
	JSON bool
	// HasProv reports a "prov" object with a "cap" list.
	HasProv bool
	// Ver is prov.ver (or the plain-string reply).
	Ver string
	// SecVer is prov.sec_ver, or -1 when absent.
	SecVer int
	// SecPatchVer is prov.sec_patch_ver (0 when absent).
	SecPatchVer int
	// Caps is prov.cap.
	Caps []string
	// Apps holds the other top-level objects by label, AppOrder their order.
	Apps     map[string]App
	AppOrder []string
}

// Has reports whether prov.cap lists c.
func (v Version) Has(c string) bool { return contains(v.Caps, c) }

// AppHas reports whether application object app lists capability c.
func (v Version) AppHas(app, c string) bool {
	a, ok := v.Apps[app]
	return ok && contains(a.Caps, c)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type rawApp struct {
	Ver         json.RawMessage `json:"ver"`
	SecVer      json.RawMessage `json:"sec_ver"`
	SecPatchVer json.RawMessage `json:"sec_patch_ver"`
	Cap         json.RawMessage `json:"cap"`
}

// ParseVersion decodes a proto-ver reply. A reply that is not a JSON object is
// not an error: it is returned with JSON false and the text in Ver. Fields of
// the wrong type are ignored rather than trusted.
func ParseVersion(b []byte) (Version, error) {
	v := Version{Raw: append([]byte(nil), b...), SecVer: -1}
	trimmed := bytes.TrimSpace(bytes.TrimRight(b, "\x00"))
	if len(trimmed) == 0 {
		return v, fmt.Errorf("protocomm: empty proto-ver reply: %w", transports.ErrProtocol)
	}
	if trimmed[0] != '{' {
		v.Ver = strings.ToValidUTF8(string(trimmed), "\uFFFD")
		return v, nil
	}
	// Keep the order of the top-level keys: decode token by token.
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if _, err := dec.Token(); err != nil {
		v.Ver = strings.ToValidUTF8(string(trimmed), "\uFFFD")
		return v, nil
	}
	objs := map[string]rawApp{}
	var order []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			v.Ver = strings.ToValidUTF8(string(trimmed), "\uFFFD")
			return v, nil
		}
		key, ok := tok.(string)
		if !ok {
			v.Ver = strings.ToValidUTF8(string(trimmed), "\uFFFD")
			return v, nil
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			v.Ver = strings.ToValidUTF8(string(trimmed), "\uFFFD")
			return v, nil
		}
		var app rawApp
		if json.Unmarshal(raw, &app) != nil {
			continue // not an object: not an app record
		}
		if _, dup := objs[key]; !dup {
			order = append(order, key)
		}
		objs[key] = app
	}
	v.JSON = true
	v.Apps = map[string]App{}
	for _, key := range order {
		o := objs[key]
		if key == "prov" {
			v.Ver = jsonString(o.Ver)
			if n, ok := jsonInt(o.SecVer); ok {
				v.SecVer = n
			}
			if n, ok := jsonInt(o.SecPatchVer); ok {
				v.SecPatchVer = n
			}
			if caps, ok := jsonStrings(o.Cap); ok {
				v.Caps = caps
				v.HasProv = true
			}
			continue
		}
		caps, _ := jsonStrings(o.Cap)
		v.Apps[key] = App{Version: jsonString(o.Ver), Caps: caps}
		v.AppOrder = append(v.AppOrder, key)
	}
	return v, nil
}

func jsonString(r json.RawMessage) string {
	var s string
	if json.Unmarshal(r, &s) != nil {
		return ""
	}
	return s
}

func jsonInt(r json.RawMessage) (int, bool) {
	var f float64
	if len(r) == 0 || json.Unmarshal(r, &f) != nil || f != float64(int(f)) || f < 0 || f > 1<<20 {
		return 0, false
	}
	return int(f), true
}

func jsonStrings(r json.RawMessage) ([]string, bool) {
	var any []any
	if len(r) == 0 || json.Unmarshal(r, &any) != nil {
		return nil, false
	}
	out := make([]string, 0, len(any))
	for _, x := range any {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out, true
}

// ReadVersion asks the device for its proto-ver reply. The request body is
// ignored by the firmware but must not be empty over HTTP.
func ReadVersion(ctx context.Context, t transports.Transport) (Version, error) {
	reply, err := t.Exchange(ctx, EndpointVersion, []byte("---"))
	if err != nil {
		return Version{}, fmt.Errorf("protocomm: reading proto-ver: %w", err)
	}
	return ParseVersion(reply)
}

// String summarises the version for logs (no secrets are involved).
func (v Version) String() string {
	if !v.JSON {
		return fmt.Sprintf("proto-ver %q (plain)", v.Ver)
	}
	return fmt.Sprintf("proto-ver %s sec_ver=%d patch=%d cap=[%s]", v.Ver, v.SecVer, v.SecPatchVer, strings.Join(v.Caps, ","))
}

// LooksLikeProtocomm reports whether a proto-ver reply can come from an ESP
// protocomm endpoint: a JSON object with a "prov" record or application
// records, or (old firmware) a short version string such as "V0.1". A web
// page, a JSON API or binary data cannot.
func (v Version) LooksLikeProtocomm() bool {
	if v.JSON {
		return v.HasProv || len(v.Apps) > 0
	}
	s := strings.TrimSpace(v.Ver)
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r > '~' || r == '<' || r == '>' {
			return false
		}
	}
	return strings.ContainsAny(s, "0123456789")
}
