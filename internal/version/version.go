// Package version says which build is running. `make build` stamps the
// variables with -ldflags "-X github.com/espprov/espprov/internal/version.Version=…";
// an unstamped build (go build, go install, go run) falls back to what the
// Go toolchain recorded (module version, VCS revision and time).
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by -ldflags -X at build time.
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

// Info is the version of the running binary.
type Info struct {
	Version, Commit, Date, Go string
	Modified                  bool
}

// Get returns the stamped values, filled in from the build info where
// missing.
func Get() Info {
	return get(debug.ReadBuildInfo)
}

func get(read func() (*debug.BuildInfo, bool)) Info {
	i := Info{Version: Version, Commit: Commit, Date: Date, Go: runtime.Version()}
	if bi, ok := read(); ok {
		if i.Version == "" && bi.Main.Version != "" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if i.Commit == "" {
					i.Commit = s.Value
				}
			case "vcs.time":
				if i.Date == "" {
					i.Date = s.Value
				}
			case "vcs.modified":
				i.Modified = s.Value == "true" && Commit == ""
			}
		}
	}
	if i.Version == "" {
		i.Version = "(devel)"
	}
	if i.Commit == "" {
		i.Commit = "unknown"
	}
	if i.Date == "" {
		i.Date = "unknown"
	}
	return i
}

// String is "NAME VERSION (commit C[, modified], built D, GO)".
func (i Info) String() string {
	mod := ""
	if i.Modified {
		mod = ", modified"
	}
	return fmt.Sprintf("%s (commit %s%s, built %s, %s)", i.Version, i.Commit, mod, i.Date, i.Go)
}

// Line is the --version output of a command.
func Line(command string) string { return command + " " + Get().String() }
