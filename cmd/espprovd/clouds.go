package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/espprov/espprov/internal/rainmaker"
)

// cloudFlag collects repeated --cloud NAME=URL flags.
type cloudFlag map[string]string

func (c cloudFlag) String() string {
	var out []string
	for k, v := range c {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func (c cloudFlag) Set(s string) error {
	name, u, ok := strings.Cut(s, "=")
	name = strings.ToLower(strings.TrimSpace(name))
	if !ok || name == "" || strings.ContainsAny(name, ":/") {
		return fmt.Errorf("want NAME=URL (e.g. lab=https://rainmaker.lab.example/), got %q", s)
	}
	if _, err := rainmaker.ResolveBaseURL(u); err != nil {
		return err
	}
	c[name] = u
	return nil
}
