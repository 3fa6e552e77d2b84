package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/espprov/espprov/internal/jobstore"
	"github.com/espprov/espprov/internal/jobstore/sqlite"
)

// TestOpen: the schema is created on first start and migrations are
// recorded once; the file is owner-only; a second process on the same file
// is refused while the first holds it, and admitted after it closed.
func TestOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "jobs.db")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlite.Open(ctx, path, "b"); !errors.Is(err, jobstore.ErrInUse) {
		t.Fatalf("second open: %v, want ErrInUse", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("store file mode %v (%v), want 0600", fi.Mode(), err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = sqlite.Open(ctx, path, "b") // migrations already applied
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, v int
	if err := db.QueryRow("SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &v); err != nil || n != 1 || v != 1 {
		t.Fatalf("schema_migrations: %d rows, version %d (%v)", n, v, err)
	}
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q (%v), want wal", mode, err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/x/state")
	if p, err := sqlite.DefaultPath(); err != nil || p != "/x/state/espprov/jobs.db" {
		t.Errorf("DefaultPath = %q, %v", p, err)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if p, err := sqlite.DefaultPath(); err != nil || p != "/home/u/.local/state/espprov/jobs.db" {
		t.Errorf("DefaultPath without XDG_STATE_HOME = %q, %v", p, err)
	}
}
