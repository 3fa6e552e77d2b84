package onnetwork

import (
	"fmt"
	"strconv"
	"strings"
)

// CLISecVersion is the security version as the reference CLI uses it: the
// TXT sec_version, or 1 when absent or unparsable.
func (f Found) CLISecVersion() int {
	if f.SecVersion < 0 {
		return 1
	}
	return f.SecVersion
}

// FormatTable renders devices like the reference CLI's discovery listing
// (rainmaker.md §3.1): a blank line, "Discovered <n> device(s):", a
// 120-dash rule, the header, a rule, one row per device, a rule. Long
// instance names (>19) and node ids (>24) are shortened with "...".
func FormatTable(found []Found) string {
	var b strings.Builder
	rule := strings.Repeat("-", 120) + "\n"
	row := func(cols ...string) {
		fmt.Fprintf(&b, "%-3s %-20s %-25s %-16s %-6s %-4s %-8s %-12s\n",
			cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7])
	}
	fmt.Fprintf(&b, "\nDiscovered %d device(s):\n", len(found))
	b.WriteString(rule)
	row("#", "Instance Name", "Node ID", "IP Address", "Port", "Sec", "PoP", "Service")
	b.WriteString(rule)
	for i, f := range found {
		ip := ""
		if p := f.preferredIP(); p != nil {
			ip = p.String()
		}
		row(strconv.Itoa(i+1), shorten(f.Instance, 19, 16), shorten(f.NodeID, 24, 21), ip,
			strconv.Itoa(f.Port), strconv.Itoa(f.CLISecVersion()), f.PoPColumn(), "ChalResp")
	}
	b.WriteString(rule)
	return b.String()
}

// shorten cuts s to keep runes followed by "..." when it has more than max.
func shorten(s string, max, keep int) string {
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:keep]) + "..."
}
