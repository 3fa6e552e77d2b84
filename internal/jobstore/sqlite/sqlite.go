// Package sqlite is the embedded jobstore backend: one SQLite file (pure Go,
// modernc.org/sqlite) in WAL mode with synchronous=FULL, so that a
// committed event survives a crash of the process or the machine. One
// espprovd owns a file at a time (an exclusive lock on PATH.lock, released
// by the kernel even after kill -9); several instances share PostgreSQL.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/espprov/espprov/internal/jobstore"
	"github.com/espprov/espprov/internal/jobstore/sqlcore"
)

// Store is a jobstore.Store in a SQLite file.
type Store struct {
	*sqlcore.Core
	lock *os.File
}

var _ jobstore.Store = (*Store)(nil)

// DefaultPath is $XDG_STATE_HOME/espprov/jobs.db (default
// ~/.local/state/espprov/jobs.db).
func DefaultPath() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("jobstore: no $XDG_STATE_HOME and no home directory: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "espprov", "jobs.db"), nil
}

// Open opens (creating and migrating) the store at path for instance.
func Open(ctx context.Context, path, instance string) (*Store, error) {
	if path == "" {
		return nil, errors.New("jobstore: empty SQLite path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("jobstore: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("jobstore: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("%w: %s is locked by another espprovd (one instance per SQLite file; use --store postgres://… to share a record): %v", jobstore.ErrInUse, path, err)
	}
	// Create the file with owner-only permissions before SQLite opens it.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("jobstore: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1) // SQLite has one writer; queue writes here, not in busy loops
	r, err := sql.Open("sqlite", dsn)
	if err != nil {
		w.Close()
		lock.Close()
		return nil, fmt.Errorf("jobstore: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(4)
	s := &Store{lock: lock, Core: &sqlcore.Core{W: w, R: r, Instance: instance, D: sqlcore.Dialect{Blob: "BLOB", IsUnique: isUnique},
		H: sqlcore.Hooks{Alive: func(context.Context, string) (bool, error) { return false, nil }}}}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return s, nil
}

func isUnique(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// Close implements jobstore.Store.
func (s *Store) Close() error {
	if s.Core != nil {
		s.Stop()
	}
	err := errors.Join(s.W.Close(), s.R.Close())
	if s.lock != nil {
		_ = s.lock.Close()
	}
	return err
}
