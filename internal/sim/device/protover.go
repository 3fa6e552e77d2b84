package device

import (
	"fmt"
	"strconv"
	"strings"
)

// provMgrVersion is WIFI_PROV_MGR_VERSION, the "ver" of the "prov" object;
// netProvMgrVersion is network_provisioning's NETWORK_PROV_MGR_VERSION.
const (
	provMgrVersion    = "v1.1"
	netProvMgrVersion = "netprov-v1.2"
)

// AppInfo is one application object of the proto-ver JSON (what firmware
// adds with wifi_prov_mgr_set_app_info), e.g. RainMaker's
// {"rmaker_extra": {"ver": "1.0", "cap": ["ch_resp"]}}.
type AppInfo struct {
	Label string
	Ver   string
	Caps  []string
}

// jsonMember is one key/value pair of a cJSON object, kept in insertion order.
type jsonMember struct {
	key string
	val any // string, int, []string, []jsonMember
}

// protoVerJSON builds the proto-ver response the way wifi_prov_mgr does: the
// application objects in insertion order, then "prov". secPatchVer < 0 omits
// the "sec_patch_ver" key (pre-fix firmware). netCaps follow the security
// capability: ["wifi_scan"] for wifi_prov_mgr; wifi_prov, wifi_scan and/or
// thread_prov, thread_scan for network_provisioning.
func protoVerJSON(apps []AppInfo, ver string, secVer, secPatchVer int, noPoP bool, netCaps []string) []byte {
	root := make([]jsonMember, 0, len(apps)+1)
	for _, a := range apps {
		caps := a.Caps
		if caps == nil {
			caps = []string{}
		}
		root = append(root, jsonMember{a.Label, []jsonMember{{"ver", a.Ver}, {"cap", caps}}})
	}
	var caps []string
	switch {
	case secVer == 0:
		caps = append(caps, "no_sec")
	case secVer == 1 && noPoP:
		caps = append(caps, "no_pop")
	}
	caps = append(caps, netCaps...)
	prov := []jsonMember{{"ver", ver}, {"sec_ver", secVer}}
	if secPatchVer >= 0 {
		prov = append(prov, jsonMember{"sec_patch_ver", secPatchVer})
	}
	prov = append(prov, jsonMember{"cap", caps})
	root = append(root, jsonMember{"prov", prov})

	var b strings.Builder
	printCJSONObject(&b, root, 0)
	return []byte(b.String())
}

// printCJSONObject writes an object exactly as cJSON_Print (formatted) does:
// "{\n", members indented with one TAB per depth, `"key":\t` before each value,
// ",\n" between members, "\n" + depth TABs + "}" at the end. An empty object
// prints as "{\n" + indent + "}".
func printCJSONObject(b *strings.Builder, members []jsonMember, depth int) {
	b.WriteString("{\n")
	for i, m := range members {
		b.WriteString(strings.Repeat("\t", depth+1))
		printCJSONString(b, m.key)
		b.WriteString(":\t")
		printCJSONValue(b, m.val, depth+1)
		if i < len(members)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString(strings.Repeat("\t", depth))
	b.WriteByte('}')
}

func printCJSONValue(b *strings.Builder, v any, depth int) {
	switch v := v.(type) {
	case string:
		printCJSONString(b, v)
	case int:
		b.WriteString(strconv.Itoa(v))
	case []string:
		// cJSON prints arrays on one line with ", " between items.
		b.WriteByte('[')
		for i, s := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			printCJSONString(b, s)
		}
		b.WriteByte(']')
	case []jsonMember:
		printCJSONObject(b, v, depth)
	default:
		panic(fmt.Sprintf("device: unsupported JSON value %T", v))
	}
}

// printCJSONString quotes s like cJSON's print_string_ptr: '"' and '\\' are
// escaped, \b \f \n \r \t use their short forms, other bytes below 0x20 become
// \u00xx, and every other byte (including UTF-8 sequences) is copied as is.
func printCJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				fmt.Fprintf(b, `\u%04x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}
