package auth

import (
	"fmt"
	"slices"
	"strings"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// Scope is a permission a token or certificate identity holds.
type Scope string

// The scopes. Admin holds every other one.
const (
	ScopeProvision Scope = "provision" // Provision, ProvisionInteractive, CancelJob, UpdateJobLabels
	ScopeMap       Scope = "map"       // MapNode, DisableChallengeResponse
	ScopeDiscover  Scope = "discover"  // Discover, ScanWifi, ScanThread
	ScopeJobsRead  Scope = "jobs.read" // GetJob, WatchJob, ListJobs, ExportJobs, ListProfiles
	ScopeAdmin     Scope = "admin"     // everything, including methods added later and admin endpoints
)

// AllScopes lists the scopes in documentation order.
var AllScopes = []Scope{ScopeProvision, ScopeMap, ScopeDiscover, ScopeJobsRead, ScopeAdmin}

// ParseScopes parses "provision,map"; an unknown or empty list is an error
// naming the valid scopes.
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		sc := Scope(f)
		if !slices.Contains(AllScopes, sc) {
			return nil, fmt.Errorf("unknown scope %q (valid: %s)", f, JoinScopes(AllScopes))
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scopes given (valid: %s)", JoinScopes(AllScopes))
	}
	return out, nil
}

// JoinScopes is "provision,map".
func JoinScopes(s []Scope) string {
	parts := make([]string, len(s))
	for i, sc := range s {
		parts[i] = string(sc)
	}
	return strings.Join(parts, ",")
}

var svcPrefix = "/" + espprovv1.ProvisioningService_ServiceDesc.ServiceName + "/"

// methodScopes maps espprov.v1 methods to the scope they need. A method of
// the service that is not listed (added later) needs admin.
var methodScopes = map[string]Scope{
	"Discover":                 ScopeDiscover,
	"ScanWifi":                 ScopeDiscover,
	"ScanThread":               ScopeDiscover,
	"Provision":                ScopeProvision,
	"ProvisionInteractive":     ScopeProvision,
	"MapNode":                  ScopeMap,
	"DisableChallengeResponse": ScopeMap,
	"GetJob":                   ScopeJobsRead,
	"WatchJob":                 ScopeJobsRead,
	"ListJobs":                 ScopeJobsRead,
	"ExportJobs":               ScopeJobsRead,
	"CancelJob":                ScopeProvision,
	"UpdateJobLabels":          ScopeProvision,
	"ListProfiles":             ScopeJobsRead,
}

// Open reports whether a gRPC method is served without authentication: the
// standard health and reflection services.
func Open(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1.ServerReflection/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1alpha.ServerReflection/")
}

// MethodScope is the scope a full gRPC method name needs.
func MethodScope(fullMethod string) Scope {
	if name, ok := strings.CutPrefix(fullMethod, svcPrefix); ok {
		if sc, ok := methodScopes[name]; ok {
			return sc
		}
	}
	return ScopeAdmin
}
