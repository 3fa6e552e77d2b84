package cli

import (
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// Secrets on the command line (--passphrase, --pop, --sec2_password: the
// reference CLI's contract) are visible to every local user in ps. Each
// also comes from a file (--X-file, mode 0600 recommended) or an
// environment variable; the order is flag or file (not both), then the
// variable. Prefer the file or the variable in scripts and on shared
// machines.

// secretSource names the three ways one secret may be given.
type secretSource struct {
	flag, file, env, what string
}

var (
	passphraseSecret = secretSource{"passphrase", "passphrase-file", "ESPPROV_PASSPHRASE", "Wi-Fi passphrase"}
	popSecret        = secretSource{"pop", "pop-file", "ESPPROV_POP", "proof of possession"}
	sec2PassSecret   = secretSource{"sec2_password", "sec2-password-file", "ESPPROV_SEC2_PASSWORD", "Security 2 SRP password"}
)

// secretHelp is the --help text about secrets.
const secretHelp = `Secrets: --passphrase, --pop and --sec2_password are visible to other local
users (ps). Prefer --passphrase-file, --pop-file, --sec2-password-file (the
file's first line) or ESPPROV_PASSPHRASE, ESPPROV_POP, ESPPROV_SEC2_PASSWORD;
at a terminal, leave them out and type them at the hidden prompt.`

// registerSecretFile adds --X-file for a secret flag.
func registerSecretFile(fs *pflag.FlagSet, s secretSource) {
	fs.String(s.file, "", "read the "+s.what+" from the first line of `FILE` (safer than --"+s.flag+"; or set "+s.env+")")
}

// fromFile applies --X-file to --X (so that fs.Changed(X) holds); giving
// both is a usage error. The file's content never appears in a message.
func fromFile(fs *pflag.FlagSet, s secretSource) error {
	f := fs.Lookup(s.file)
	if f == nil || !f.Changed {
		return nil
	}
	if fs.Changed(s.flag) {
		return usageErr("give either --%s or --%s, not both", s.flag, s.file)
	}
	b, err := os.ReadFile(f.Value.String())
	if err != nil {
		return usageErr("--%s: %v", s.file, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return fs.Set(s.flag, strings.TrimSuffix(line, "\r"))
}

// fromEnv applies the environment variable when --X was not given (by
// flag or file) and the variable is set and not empty; ok tells whether it
// did.
func (a *app) fromEnv(fs *pflag.FlagSet, s secretSource) (bool, error) {
	if fs.Changed(s.flag) {
		return false, nil
	}
	v := a.getenv(s.env)
	if v == "" {
		return false, nil
	}
	return true, fs.Set(s.flag, v)
}
