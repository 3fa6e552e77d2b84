// Package postgres is the jobstore backend for several espprovd instances
// sharing one record (github.com/jackc/pgx/v5). Changes are announced with
// NOTIFY, so WatchJob on one instance follows a job another instance runs;
// each instance holds an advisory lock on its own id while it lives, so a
// device lock or an unfinished job left by an instance that died is
// recognised (its lock is free) and taken over or marked interrupted.
//
// The DSN's search_path parameter selects a schema (created when missing):
// postgres://host/db?search_path=line3 keeps one line's jobs apart from
// another's, and tests use a schema each.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/espprov/espprov/internal/jobstore"
	"github.com/espprov/espprov/internal/jobstore/sqlcore"
)

// Store is a jobstore.Store in PostgreSQL.
type Store struct {
	*sqlcore.Core
	pool    *pgxpool.Pool
	db      *sql.DB
	schema  string
	channel string
	self    *pgx.Conn // out of the pool: holds this instance's advisory lock
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

var _ jobstore.Store = (*Store)(nil)

// Open connects, creates the schema if needed, migrates, takes this
// instance's liveness lock and starts listening for changes.
func Open(ctx context.Context, dsn, instance string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("jobstore: PostgreSQL DSN: %w", err)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = 24
	}
	schema := cfg.ConnConfig.RuntimeParams["search_path"]
	if strings.Contains(schema, ",") {
		return nil, fmt.Errorf("jobstore: search_path %q: give one schema", schema)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("jobstore: PostgreSQL: %w", err)
	}
	s := &Store{pool: pool, schema: schema, channel: channelName(schema)}
	fail := func(err error) (*Store, error) {
		s.Close()
		return nil, err
	}
	if schema != "" {
		if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil && !isUnique(err) {
			return fail(fmt.Errorf("jobstore: PostgreSQL at %s: create schema %s: %w", cfg.ConnConfig.Host, schema, err))
		}
	}
	s.db = stdlib.OpenDBFromPool(pool)
	s.Core = &sqlcore.Core{W: s.db, R: s.db, Instance: instance,
		D: sqlcore.Dialect{Placeholder: func(n int) string { return "$" + strconv.Itoa(n) }, Blob: "BYTEA", IsUnique: isUnique, Writers: 8, ForUpdate: " FOR UPDATE",
			MigrationLock: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", lockKey("migrate", schema))},
		H: sqlcore.Hooks{Changed: s.changed, Alive: s.alive}}
	if err := s.Migrate(ctx); err != nil {
		return fail(err)
	}
	c, err := pool.Acquire(ctx)
	if err != nil {
		return fail(fmt.Errorf("jobstore: PostgreSQL: %w", err))
	}
	s.self = c.Hijack()
	if _, err := s.self.Exec(ctx, "SELECT pg_advisory_lock($1)", s.instanceKey(instance)); err != nil {
		return fail(fmt.Errorf("jobstore: PostgreSQL instance lock: %w", err))
	}
	lctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	ready := make(chan error, 1)
	s.wg.Add(1)
	go s.listen(lctx, ready)
	select {
	case err := <-ready:
		if err != nil {
			return fail(err)
		}
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	return s, nil
}

func channelName(schema string) string {
	if schema == "" {
		return "espprov_jobs"
	}
	return "espprov_jobs_" + strconv.FormatUint(hash64(schema), 36)
}

func hash64(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

func lockKey(parts ...string) int64 { return int64(hash64(append([]string{"espprov"}, parts...)...)) }

func (s *Store) instanceKey(instance string) int64 { return lockKey("instance", s.schema, instance) }

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// changed announces a job change to every instance (delivered at commit).
func (s *Store) changed(ctx context.Context, tx *sql.Tx, id string) error {
	_, err := tx.ExecContext(ctx, "SELECT pg_notify($1, $2)", s.channel, id)
	return err
}

// alive: an instance holds its advisory lock for as long as its session lives.
func (s *Store) alive(ctx context.Context, instance string) (bool, error) {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer c.Release()
	k := s.instanceKey(instance)
	var got bool
	if err := c.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", k).Scan(&got); err != nil {
		return false, err
	}
	if got {
		_, err := c.Exec(ctx, "SELECT pg_advisory_unlock($1)", k)
		return false, err
	}
	return true, nil
}

// listen follows NOTIFY on the store's channel, reconnecting after errors.
func (s *Store) listen(ctx context.Context, ready chan<- error) {
	defer s.wg.Done()
	first := true
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, func() {
			if first {
				first = false
				ready <- nil
			} else {
				s.Hub.NotifyAll() // changes may have been missed while reconnecting
			}
		})
		if ctx.Err() != nil {
			return
		}
		if first {
			ready <- fmt.Errorf("jobstore: PostgreSQL LISTEN: %w", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, listening func()) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return err
	}
	listening()
	for {
		n, err := c.Conn().WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() == nil {
				c.Conn().Close(context.Background()) //nolint:errcheck // drop the broken session
			}
			return err
		}
		s.Hub.Notify(n.Payload)
	}
}

// Close implements jobstore.Store.
func (s *Store) Close() error {
	if s.Core != nil {
		s.Stop()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.self != nil {
		_ = s.self.Close(context.Background())
	}
	var err error
	if s.db != nil {
		err = s.db.Close()
	}
	s.pool.Close()
	return err
}
