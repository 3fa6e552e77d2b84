package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFallback(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.time", Value: "2026-12-06T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	got := get(func() (*debug.BuildInfo, bool) { return bi, true }).String()
	if !strings.HasPrefix(got, "v1.2.3 (commit abc123, modified, built 2026-12-06T10:00:00Z, go") {
		t.Errorf("%q", got)
	}
	got = get(func() (*debug.BuildInfo, bool) { return nil, false }).String()
	if !strings.HasPrefix(got, "(devel) (commit unknown, built unknown") {
		t.Errorf("%q", got)
	}
	Version, Commit, Date = "v9", "fff", "today"
	defer func() { Version, Commit, Date = "", "", "" }()
	got = get(func() (*debug.BuildInfo, bool) { return bi, true }).String()
	if !strings.HasPrefix(got, "v9 (commit fff, built today") {
		t.Errorf("stamped: %q", got)
	}
}
