package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// routes knows which methods each REST path accepts, from the OpenAPI
// document (so new RPCs need nothing here) plus the server's own pages.
type routes struct {
	entries []route
}

type route struct {
	re      *regexp.Regexp
	methods []string // upper case, sorted
}

var templateVar = regexp.MustCompile(`\{[^}]*\}`)

// newRoutes reads the "paths" of a Swagger 2.0 / OpenAPI document; extra
// are additional path → methods.
func newRoutes(openapi []byte, extra map[string][]string) (*routes, error) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi, &doc); err != nil {
		return nil, fmt.Errorf("server: OpenAPI document: %w", err)
	}
	all := map[string][]string{}
	for p, ops := range doc.Paths {
		for m := range ops {
			all[p] = append(all[p], strings.ToUpper(m))
		}
	}
	for p, ms := range extra {
		all[p] = append(all[p], ms...)
	}
	rt := &routes{}
	for p, ms := range all {
		var b strings.Builder
		b.WriteString("^")
		last := 0
		for _, loc := range templateVar.FindAllStringIndex(p, -1) {
			b.WriteString(regexp.QuoteMeta(p[last:loc[0]]))
			b.WriteString(`[^/]+?`)
			last = loc[1]
		}
		b.WriteString(regexp.QuoteMeta(p[last:]))
		b.WriteString("$")
		if slices.Contains(ms, http.MethodGet) && !slices.Contains(ms, http.MethodHead) {
			ms = append(ms, http.MethodHead)
		}
		ms = append(ms, http.MethodOptions)
		slices.Sort(ms)
		rt.entries = append(rt.entries, route{re: regexp.MustCompile(b.String()), methods: slices.Compact(ms)})
	}
	return rt, nil
}

// allowed returns the methods of path, nil for an unknown path.
func (rt *routes) allowed(path string) []string {
	var out []string
	for _, e := range rt.entries {
		if e.re.MatchString(path) {
			out = append(out, e.methods...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
