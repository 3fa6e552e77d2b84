package protocomm

import "strings"

// Generation is the provisioning manager a device runs.
type Generation int

const (
	// GenerationWifiProv is ESP-IDF's wifi_provisioning (up to 5.x): "ver"
	// "v1.1", Wi-Fi only.
	GenerationWifiProv Generation = iota + 1
	// GenerationNetProv is network_provisioning (ESP-IDF 6, idf-extra-
	// components): "ver" "netprov-v1.x", Wi-Fi and/or Thread.
	GenerationNetProv
)

func (g Generation) String() string {
	switch g {
	case GenerationWifiProv:
		return "wifi_provisioning"
	case GenerationNetProv:
		return "network_provisioning"
	}
	return "unknown"
}

// Generation reads the generation from proto-ver: a "netprov-" version or a
// wifi_prov/thread_prov capability is network_provisioning; anything else
// (including old firmware's plain-string reply) is wifi_provisioning.
func (v Version) Generation() Generation {
	if strings.HasPrefix(strings.ToLower(v.Ver), "netprov-") || v.Has("wifi_prov") || v.Has("thread_prov") {
		return GenerationNetProv
	}
	return GenerationWifiProv
}

// Networks reports which network types a device of generation g offers.
// network_provisioning lists wifi_prov and/or thread_prov; a netprov device
// listing neither (component 0.1, before those capabilities existed) is
// taken as Wi-Fi, as Espressif's esp_prov does.
func (v Version) Networks(g Generation) (wifi, thread bool) {
	if g != GenerationNetProv {
		return true, false
	}
	thread = v.Has("thread_prov")
	wifi = v.Has("wifi_prov") || !thread
	return wifi, thread
}
