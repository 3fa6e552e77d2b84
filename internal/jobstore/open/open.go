// Package open opens a jobstore backend from the --store argument.
package open

import (
	"context"
	"strings"

	"github.com/espprov/espprov/internal/jobstore"
	"github.com/espprov/espprov/internal/jobstore/postgres"
	"github.com/espprov/espprov/internal/jobstore/sqlite"
)

// Describe returns spec without a password (for logs).
func Describe(spec string) string {
	if isPostgres(spec) {
		if i := strings.Index(spec, "://"); i >= 0 {
			rest := spec[i+3:]
			if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
				user, _, _ := strings.Cut(rest[:at], ":")
				return spec[:i+3] + user + "@" + rest[at+1:]
			}
		}
		return spec
	}
	return "sqlite:" + strings.TrimPrefix(spec, "sqlite:")
}

func isPostgres(spec string) bool {
	return strings.HasPrefix(spec, "postgres://") || strings.HasPrefix(spec, "postgresql://")
}

// Store opens spec: "postgres://…" or "postgresql://…" (PostgreSQL),
// "sqlite:PATH" or a PATH (SQLite), "" (SQLite at sqlite.DefaultPath).
func Store(ctx context.Context, spec, instance string) (jobstore.Store, error) {
	if isPostgres(spec) {
		return postgres.Open(ctx, spec, instance)
	}
	path := strings.TrimPrefix(spec, "sqlite:")
	if path == "" {
		var err error
		if path, err = sqlite.DefaultPath(); err != nil {
			return nil, err
		}
	}
	return sqlite.Open(ctx, path, instance)
}
