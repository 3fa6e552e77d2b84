// Package jobstoretest holds what tests of jobstore backends and their
// users share: a conformance suite every backend passes, and a private
// PostgreSQL schema per test.
package jobstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultPostgres is the test database (trust auth) that .ci/run makes sure
// of; ESPPROV_TEST_POSTGRES overrides it.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresDSN returns a DSN whose search_path is a fresh schema of its own
// (dropped when the test ends), so that tests running at once, in this
// package or another, never see each other's jobs. When PostgreSQL cannot
// be reached the test fails under CI=true and is skipped with a message
// otherwise.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("ESPPROV_TEST_POSTGRES")
	if base == "" {
		base = DefaultPostgres
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL at %s is not reachable (%v): start one (trust auth, database test; .ci/run does) or set ESPPROV_TEST_POSTGRES", base, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	defer conn.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "espprov_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("dropping schema %s: %v", schema, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// PostgresSchemaDump returns every text and bytea value of the test's
// schema, for scans for secrets.
func PostgresSchemaDump(t testing.TB, dsn string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var out []byte
	for _, table := range []string{"jobs", "job_events", "device_locks", "schema_migrations"} {
		rows, err := c.Query(ctx, "SELECT * FROM "+table)
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				switch v := v.(type) {
				case []byte:
					out = append(out, v...)
				default:
					out = append(out, fmt.Sprint(v)...)
				}
				out = append(out, '\n')
			}
		}
		rows.Close()
	}
	return out
}
