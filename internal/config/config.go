// Package config gives a command's flags two more sources: a YAML file and
// ESPPROV_* environment variables. Every flag is a config key of the same
// name (grpc-listen: 127.0.0.1:50051) and an environment variable
// (ESPPROV_GRPC_LISTEN). Precedence, highest first: the command line, the
// environment, the file, the flag's default. An unknown key in the file is
// an error naming the key and the file.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Source says where a setting's value came from.
type Source string

// The sources, highest precedence first.
const (
	SourceFlag    Source = "flag"
	SourceEnv     Source = "env"
	SourceFile    Source = "file"
	SourceDefault Source = "default"
)

// Layers is the result of Apply: where each flag's value came from.
type Layers struct {
	File    string
	sources map[string]Source
	fs      *flag.FlagSet
	secret  func(string) bool
}

// EnvName is the environment variable of a flag: ESPPROV_ + upper case
// with '-' and '.' as '_'.
func EnvName(flagName string) string {
	return "ESPPROV_" + strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(flagName))
}

// Options tune Apply.
type Options struct {
	// Skip names flags that are not settings (--config, --version, --demo):
	// they are neither read from the file nor from the environment.
	Skip []string
	// Secret reports whether a flag holds a secret (masked by Print); nil
	// uses LooksSecret.
	Secret func(name string) bool
}

var secretName = regexp.MustCompile(`password|passphrase|secret|refresh-token|access-token|(^|-)pop($|-)`)

// LooksSecret is the default Secret: names with password, passphrase,
// secret, refresh-token, access-token or pop.
func LooksSecret(name string) bool { return secretName.MatchString(name) }

// Apply sets each flag of fs (already parsed) that the command line did
// not set from the environment, else from the YAML file at path ("" = no
// file).
func Apply(fs *flag.FlagSet, path string, getenv func(string) string, o Options) (*Layers, error) {
	skip := map[string]bool{}
	for _, s := range o.Skip {
		skip[s] = true
	}
	l := &Layers{File: path, sources: map[string]Source{}, fs: fs, secret: o.Secret}
	if l.secret == nil {
		l.secret = LooksSecret
	}
	fs.Visit(func(f *flag.Flag) { l.sources[f.Name] = SourceFlag })
	fileVals := map[string][]string{}
	if path != "" {
		var err error
		if fileVals, err = readFile(path, fs, skip); err != nil {
			return nil, err
		}
	}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if skip[f.Name] || l.sources[f.Name] == SourceFlag {
			return
		}
		if v := getenv(EnvName(f.Name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: %w", EnvName(f.Name), l.show(f.Name, v), err))
			}
			l.sources[f.Name] = SourceEnv
			return
		}
		if vs, ok := fileVals[f.Name]; ok {
			// A list sets a repeatable flag (a custom flag.Value) once per
			// item; a plain flag (string, bool, duration…) gets it
			// comma-joined.
			if _, plain := f.Value.(flag.Getter); plain {
				vs = []string{strings.Join(vs, ",")}
			}
			for _, v := range vs {
				if err := f.Value.Set(v); err != nil {
					errs = append(errs, fmt.Errorf("config file %s: %s: %q: %w", path, f.Name, l.show(f.Name, v), err))
				}
			}
			l.sources[f.Name] = SourceFile
			return
		}
		l.sources[f.Name] = SourceDefault
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Layers) show(name, v string) string {
	if l.secret(name) && v != "" {
		return "****"
	}
	return maskURLPassword(v)
}

// maskURLPassword hides the password of a URL value
// (postgres://user:secret@host/db → postgres://user:****@host/db).
func maskURLPassword(v string) string {
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return v
	}
	if _, has := u.User.Password(); !has {
		return v
	}
	u.User = url.UserPassword(u.User.Username(), "****")
	return strings.Replace(u.String(), "%2A%2A%2A%2A", "****", 1)
}

// Source is where the flag's value came from.
func (l *Layers) Source(name string) Source { return l.sources[name] }

func readFile(path string, fs *flag.FlagSet, skip map[string]bool) (map[string][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string][]string{}, nil
		}
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config file %s: line %d: want a mapping of settings (key: value)", path, root.Line)
	}
	vals := map[string][]string{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if fs.Lookup(k.Value) == nil || skip[k.Value] {
			return nil, fmt.Errorf("config file %s: line %d: unknown key %q (keys are the flag names of `%s --help`)", path, k.Line, k.Value, fs.Name())
		}
		if _, dup := vals[k.Value]; dup {
			return nil, fmt.Errorf("config file %s: line %d: key %q appears twice", path, k.Line, k.Value)
		}
		switch v.Kind {
		case yaml.ScalarNode:
			vals[k.Value] = []string{v.Value}
		case yaml.SequenceNode:
			var items []string
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("config file %s: line %d: %s: a list may hold only plain values", path, it.Line, k.Value)
				}
				items = append(items, it.Value)
			}
			vals[k.Value] = items
		default:
			return nil, fmt.Errorf("config file %s: line %d: %s: want a value or a list of values", path, v.Line, k.Value)
		}
	}
	return vals, nil
}

// Print writes the effective settings as YAML, one key per line with its
// source as a comment; secrets are masked. The output is a valid config
// file.
func (l *Layers) Print(w io.Writer) error {
	var names []string
	l.fs.VisitAll(func(f *flag.Flag) {
		if _, ok := l.sources[f.Name]; ok {
			names = append(names, f.Name)
		}
	})
	sort.Strings(names)
	file := l.File
	if file == "" {
		file = "none"
	}
	fmt.Fprintf(w, "# effective configuration (precedence: flag > env ESPPROV_* > file > default; file: %s)\n", file)
	for _, n := range names {
		f := l.fs.Lookup(n)
		v := l.show(n, f.Value.String())
		q, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		src := string(l.sources[n])
		if l.sources[n] == SourceEnv {
			src += " " + EnvName(n)
		}
		if _, err := fmt.Fprintf(w, "%s: %s # %s\n", n, strings.TrimSpace(string(q)), src); err != nil {
			return err
		}
	}
	return nil
}
