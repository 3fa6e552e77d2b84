// Package sqlcore is the SQL shared by the jobstore backends: schema,
// migrations and queries over database/sql, parameterised by a Dialect.
// Backends add what their database does differently (SQLite: one writer
// connection and a lock file; PostgreSQL: NOTIFY, instance liveness through
// advisory locks).
package sqlcore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/jobstore"
)

// Dialect is what differs between SQL databases.
type Dialect struct {
	// Placeholder returns the n-th (1-based) bind parameter.
	Placeholder func(n int) string
	// Blob is the binary column type.
	Blob string
	// IsUnique reports a unique-constraint violation.
	IsUnique func(error) bool
	// Writers is the number of group-commit writers (SQLite: 1, its one
	// writer connection; PostgreSQL: several transactions at once).
	Writers int
	// MigrationLock, when set, runs first in the migration transaction
	// (PostgreSQL: an advisory transaction lock, so that instances starting
	// together migrate one after the other).
	MigrationLock string
	// ForUpdate locks a row read for a read-modify-write (PostgreSQL:
	// " FOR UPDATE"; SQLite's one writer needs none).
	ForUpdate string
}

// Hooks are a backend's additions.
type Hooks struct {
	// Changed runs inside a write transaction that changed job id
	// (PostgreSQL: pg_notify).
	Changed func(ctx context.Context, tx *sql.Tx, id string) error
	// Alive reports whether an instance still runs.
	Alive func(ctx context.Context, instance string) (bool, error)
}

// Core implements jobstore.Store except Close and backend specifics.
type Core struct {
	W, R     *sql.DB // writer and reader pools (the same for PostgreSQL)
	D        Dialect
	H        Hooks
	Hub      jobstore.Hub
	Instance string

	writerOnce, stopOnce sync.Once
	queue                chan *appendReq
	stopped, writerDone  chan struct{}
}

// Migrations are the schema versions, applied in order; a released
// version is never edited, a change is a new entry.
func Migrations(d Dialect) []string {
	return []string{
		// 1: jobs, their events, device locks.
		`CREATE TABLE jobs (
			id TEXT PRIMARY KEY,
			request_id TEXT UNIQUE,
			fingerprint TEXT NOT NULL,
			state INTEGER NOT NULL,
			device_key TEXT NOT NULL,
			device_address TEXT NOT NULL,
			device_name TEXT NOT NULL,
			node_id TEXT NOT NULL,
			serial_number TEXT NOT NULL,
			work_order TEXT NOT NULL,
			station TEXT NOT NULL,
			create_ns BIGINT NOT NULL,
			update_ns BIGINT NOT NULL,
			instance TEXT NOT NULL,
			last_seq BIGINT NOT NULL,
			cancel_requested INTEGER NOT NULL DEFAULT 0,
			doc ` + d.Blob + ` NOT NULL
		);
		CREATE INDEX jobs_created ON jobs (create_ns DESC, id DESC);
		CREATE INDEX jobs_state ON jobs (state, create_ns);
		CREATE INDEX jobs_serial ON jobs (serial_number);
		CREATE INDEX jobs_work_order ON jobs (work_order);
		CREATE INDEX jobs_station ON jobs (station);
		CREATE INDEX jobs_node ON jobs (node_id);
		CREATE INDEX jobs_device ON jobs (device_key);
		CREATE TABLE job_events (
			job_id TEXT NOT NULL,
			seq BIGINT NOT NULL,
			doc ` + d.Blob + ` NOT NULL,
			PRIMARY KEY (job_id, seq)
		);
		CREATE TABLE device_locks (
			device_key TEXT PRIMARY KEY,
			job_id TEXT NOT NULL,
			instance TEXT NOT NULL
		)`,
	}
}

// Migrate brings the schema to the newest version.
func (c *Core) Migrate(ctx context.Context) error {
	if _, err := c.W.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_ns BIGINT NOT NULL)`); err != nil && !c.D.IsUnique(err) {
		return fmt.Errorf("jobstore: schema_migrations: %w", err)
	}
	for i, m := range Migrations(c.D) {
		v := i + 1
		err := c.tx(ctx, func(tx *sql.Tx) error {
			if c.D.MigrationLock != "" {
				if _, err := tx.ExecContext(ctx, c.D.MigrationLock); err != nil {
					return err
				}
			}
			var n int
			if err := tx.QueryRowContext(ctx, c.q(`SELECT COUNT(*) FROM schema_migrations WHERE version = ?`), v).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			for _, stmt := range strings.Split(m, ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, c.q(`INSERT INTO schema_migrations (version, applied_ns) VALUES (?, ?)`), v, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("jobstore: migration %d: %w", v, err)
		}
	}
	return nil
}

// q rewrites ? placeholders into the dialect's.
func (c *Core) q(s string) string {
	if c.D.Placeholder == nil {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r == '?' {
			n++
			b.WriteString(c.D.Placeholder(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (c *Core) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := c.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func ns(t interface{ AsTime() time.Time }, valid bool) int64 {
	if !valid {
		return 0
	}
	return t.AsTime().UnixNano()
}

// Create implements jobstore.Store.
func (c *Core) Create(ctx context.Context, rec jobstore.Record) (jobstore.Record, error) {
	j := rec.Job
	doc, err := proto.Marshal(j)
	if err != nil {
		return jobstore.Record{}, fmt.Errorf("jobstore: encode job: %w", err)
	}
	d := j.GetDevice()
	res, err := c.W.ExecContext(ctx, c.q(`INSERT INTO jobs (id, request_id, fingerprint, state, device_key, device_address, device_name, node_id,
		serial_number, work_order, station, create_ns, update_ns, instance, last_seq, doc)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING`),
		j.GetJobId(), nullable(j.GetRequestId()), rec.Fingerprint, int32(j.GetState()), d.GetDeviceKey(), d.GetAddress(), d.GetName(), d.GetNodeId(),
		j.GetSerialNumber(), j.GetWorkOrder(), j.GetStation(), ns(j.GetCreateTime(), j.GetCreateTime() != nil), time.Now().UnixNano(), j.GetInstance(), int64(j.GetLastSequence()), doc)
	if err != nil {
		return jobstore.Record{}, fmt.Errorf("jobstore: create job: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		c.Hub.Notify(j.GetJobId())
		return rec, nil
	}
	var existing jobstore.Record
	var cancel int
	err = c.W.QueryRowContext(ctx, c.q(`SELECT fingerprint, doc, cancel_requested FROM jobs WHERE request_id = ?`), j.GetRequestId()).Scan(&existing.Fingerprint, &doc, &cancel)
	if err != nil {
		return jobstore.Record{}, fmt.Errorf("jobstore: job with request_id %q: %w", j.GetRequestId(), err)
	}
	if existing.Job, err = decodeJob(doc, cancel); err != nil {
		return jobstore.Record{}, err
	}
	return existing, jobstore.ErrDuplicateRequest
}

func decodeJob(doc []byte, cancel int) (*espprovv1.Job, error) {
	j := &espprovv1.Job{}
	if err := proto.Unmarshal(doc, j); err != nil {
		return nil, fmt.Errorf("jobstore: decode job: %w", err)
	}
	j.CancelRequested = j.CancelRequested || cancel != 0
	return j, nil
}

// appendReq is one Append waiting for the group commit.
type appendReq struct {
	job    *espprovv1.Job
	doc    []byte
	seqs   []int64
	evDocs [][]byte
	cancel bool
	err    error
	done   chan struct{}
}

// maxBatch bounds the Appends committed in one transaction.
const maxBatch = 256

// Append implements jobstore.Store. Appends are group-committed: one writer
// takes every Append waiting at that moment into one transaction, so that
// jobs running at once share a commit (one fsync) instead of queueing for
// one each; each caller returns once its own events are committed.
func (c *Core) Append(ctx context.Context, j *espprovv1.Job, events ...*espprovv1.ProvisionResponse) (bool, error) {
	r := &appendReq{job: j, done: make(chan struct{})}
	var err error
	if r.doc, err = proto.Marshal(j); err != nil {
		return false, fmt.Errorf("jobstore: encode job: %w", err)
	}
	for _, ev := range events {
		d, err := proto.Marshal(ev)
		if err != nil {
			return false, fmt.Errorf("jobstore: encode event: %w", err)
		}
		r.seqs, r.evDocs = append(r.seqs, int64(ev.GetSequence())), append(r.evDocs, d)
	}
	c.writerOnce.Do(c.startWriter)
	select {
	case c.queue <- r:
	case <-c.stopped:
		return false, errors.New("jobstore: the store is closed")
	case <-ctx.Done():
		return false, ctx.Err()
	}
	<-r.done // once queued, the outcome is awaited whatever ctx does
	if r.err != nil {
		if errors.Is(r.err, jobstore.ErrConflict) || errors.Is(r.err, jobstore.ErrNotFound) {
			return false, r.err
		}
		return false, fmt.Errorf("jobstore: record job %s: %w", j.GetJobId(), r.err)
	}
	c.Hub.Notify(j.GetJobId())
	return r.cancel, nil
}

func (c *Core) startWriter() {
	c.queue = make(chan *appendReq)
	if c.stopped == nil {
		c.stopped = make(chan struct{})
	}
	n := max(c.D.Writers, 1)
	c.writerDone = make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); c.writer() }()
	}
	go func() { wg.Wait(); close(c.writerDone) }()
}

// Stop ends the group-commit writer (before the databases close).
func (c *Core) Stop() {
	c.stopOnce.Do(func() {
		c.writerOnce.Do(func() {}) // no writer after this
		if c.stopped == nil {
			c.stopped = make(chan struct{})
		}
		close(c.stopped)
		if c.writerDone != nil {
			<-c.writerDone
		}
	})
}

func (c *Core) writer() {
	for {
		var first *appendReq
		select {
		case first = <-c.queue:
		case <-c.stopped:
			return
		}
		batch := []*appendReq{first}
	more:
		for len(batch) < maxBatch {
			select {
			case r := <-c.queue:
				batch = append(batch, r)
			default:
				break more
			}
		}
		c.commit(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

// commit writes a batch in one transaction; if that fails, each Append on
// its own, so that one bad Append (a conflict) fails alone.
func (c *Core) commit(batch []*appendReq) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.tx(ctx, func(tx *sql.Tx) error {
		for _, r := range batch {
			if err := c.appendTx(ctx, tx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return
	}
	if len(batch) == 1 {
		batch[0].err = err
		return
	}
	for _, r := range batch {
		r.err = c.tx(ctx, func(tx *sql.Tx) error { return c.appendTx(ctx, tx, r) })
	}
}

func (c *Core) appendTx(ctx context.Context, tx *sql.Tx, r *appendReq) error {
	j := r.job
	for i, seq := range r.seqs {
		if _, err := tx.ExecContext(ctx, c.q(`INSERT INTO job_events (job_id, seq, doc) VALUES (?, ?, ?)`), j.GetJobId(), seq, r.evDocs[i]); err != nil {
			if c.D.IsUnique(err) {
				return jobstore.ErrConflict
			}
			return err
		}
	}
	d := j.GetDevice()
	var cancel int
	err := tx.QueryRowContext(ctx, c.q(`UPDATE jobs SET state = ?, device_key = ?, device_address = ?, device_name = ?, node_id = ?,
		update_ns = ?, instance = ?, last_seq = ?, doc = ? WHERE id = ? RETURNING cancel_requested`),
		int32(j.GetState()), d.GetDeviceKey(), d.GetAddress(), d.GetName(), d.GetNodeId(), time.Now().UnixNano(), j.GetInstance(),
		int64(j.GetLastSequence()), r.doc, j.GetJobId()).Scan(&cancel)
	if errors.Is(err, sql.ErrNoRows) {
		return jobstore.ErrNotFound
	}
	if err != nil {
		return err
	}
	r.cancel = cancel != 0
	if c.H.Changed != nil {
		return c.H.Changed(ctx, tx, j.GetJobId())
	}
	return nil
}

// Delete implements jobstore.Store.
func (c *Core) Delete(ctx context.Context, id string) error {
	return c.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, c.q(`DELETE FROM job_events WHERE job_id = ?`), id); err != nil {
			return fmt.Errorf("jobstore: delete job %s: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, c.q(`DELETE FROM jobs WHERE id = ?`), id); err != nil {
			return fmt.Errorf("jobstore: delete job %s: %w", id, err)
		}
		return nil
	})
}

// Get implements jobstore.Store.
func (c *Core) Get(ctx context.Context, id string) (*espprovv1.Job, error) {
	var doc []byte
	var cancel int
	err := c.R.QueryRowContext(ctx, c.q(`SELECT doc, cancel_requested FROM jobs WHERE id = ?`), id).Scan(&doc, &cancel)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, jobstore.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("jobstore: get job %s: %w", id, err)
	}
	return decodeJob(doc, cancel)
}

// Events implements jobstore.Store.
func (c *Core) Events(ctx context.Context, id string, after uint64, limit int) ([]*espprovv1.ProvisionResponse, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := c.R.QueryContext(ctx, c.q(`SELECT doc FROM job_events WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`), id, int64(after), limit)
	if err != nil {
		return nil, fmt.Errorf("jobstore: events of job %s: %w", id, err)
	}
	defer rows.Close()
	var out []*espprovv1.ProvisionResponse
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("jobstore: events of job %s: %w", id, err)
		}
		ev := &espprovv1.ProvisionResponse{}
		if err := proto.Unmarshal(doc, ev); err != nil {
			return nil, fmt.Errorf("jobstore: decode event of job %s: %w", id, err)
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("jobstore: events of job %s: %w", id, err)
	}
	return out, nil
}

// List implements jobstore.Store.
func (c *Core) List(ctx context.Context, f jobstore.Filter) ([]*espprovv1.Job, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if len(f.States) > 0 {
		ph := make([]string, len(f.States))
		for i, s := range f.States {
			ph[i] = "?"
			args = append(args, int32(s))
		}
		where = append(where, "state IN ("+strings.Join(ph, ", ")+")")
	}
	if f.Device != "" {
		add("(device_key = ? OR device_address = ? OR device_name = ?)", f.Device, f.Device, f.Device)
	}
	for col, v := range map[string]string{"node_id": f.NodeID, "serial_number": f.SerialNumber, "work_order": f.WorkOrder, "station": f.Station, "request_id": f.RequestID} {
		if v != "" {
			add(col+" = ?", v)
		}
	}
	if !f.CreatedAfter.IsZero() {
		add("create_ns >= ?", f.CreatedAfter.UnixNano())
	}
	if !f.CreatedBefore.IsZero() {
		add("create_ns < ?", f.CreatedBefore.UnixNano())
	}
	if f.After != nil {
		t := f.After.CreateTime.UnixNano()
		add("(create_ns < ? OR (create_ns = ? AND id < ?))", t, t, f.After.ID)
	}
	q := `SELECT doc, cancel_requested FROM jobs`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY create_ns DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT " + strconv.Itoa(f.Limit)
	}
	rows, err := c.R.QueryContext(ctx, c.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("jobstore: list jobs: %w", err)
	}
	defer rows.Close()
	var out []*espprovv1.Job
	for rows.Next() {
		var doc []byte
		var cancel int
		if err := rows.Scan(&doc, &cancel); err != nil {
			return nil, fmt.Errorf("jobstore: list jobs: %w", err)
		}
		j, err := decodeJob(doc, cancel)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("jobstore: list jobs: %w", err)
	}
	return out, nil
}

var finishedStates = []int32{int32(espprovv1.JobState_JOB_STATE_SUCCEEDED), int32(espprovv1.JobState_JOB_STATE_FAILED),
	int32(espprovv1.JobState_JOB_STATE_CANCELLED), int32(espprovv1.JobState_JOB_STATE_INTERRUPTED)}

// UpdateJob implements jobstore.Store.
func (c *Core) UpdateJob(ctx context.Context, id string, update func(*espprovv1.Job) error) (*espprovv1.Job, error) {
	var out *espprovv1.Job
	err := c.tx(ctx, func(tx *sql.Tx) error {
		var doc []byte
		var cancel int
		err := tx.QueryRowContext(ctx, c.q(`SELECT doc, cancel_requested FROM jobs WHERE id = ?`+c.D.ForUpdate), id).Scan(&doc, &cancel)
		if errors.Is(err, sql.ErrNoRows) {
			return jobstore.ErrNotFound
		}
		if err != nil {
			return err
		}
		j, err := decodeJob(doc, cancel)
		if err != nil {
			return err
		}
		if err := update(j); err != nil {
			return err
		}
		if doc, err = proto.Marshal(j); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, c.q(`UPDATE jobs SET doc = ?, update_ns = ? WHERE id = ?`), doc, ns(j.GetUpdateTime(), j.GetUpdateTime().IsValid()), id); err != nil {
			return err
		}
		out = j
		if c.H.Changed != nil {
			return c.H.Changed(ctx, tx, id)
		}
		return nil
	})
	if errors.Is(err, jobstore.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("jobstore: update job %s: %w", id, err)
	}
	c.Hub.Notify(id)
	return out, nil
}

// RequestCancel implements jobstore.Store.
func (c *Core) RequestCancel(ctx context.Context, id string) (*espprovv1.Job, error) {
	err := c.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, c.q(`UPDATE jobs SET cancel_requested = 1, update_ns = ? WHERE id = ? AND state NOT IN (?, ?, ?, ?)`),
			time.Now().UnixNano(), id, finishedStates[0], finishedStates[1], finishedStates[2], finishedStates[3])
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // unknown or finished: Get below tells which
		}
		if c.H.Changed != nil {
			return c.H.Changed(ctx, tx, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("jobstore: cancel job %s: %w", id, err)
	}
	c.Hub.Notify(id)
	j, err := c.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if jobstore.Finished(j.GetState()) {
		return j, jobstore.ErrFinished
	}
	return j, nil
}

// Subscribe implements jobstore.Store.
func (c *Core) Subscribe(id string) (<-chan struct{}, func()) { return c.Hub.Subscribe(id) }

// LockDevice implements jobstore.Store.
func (c *Core) LockDevice(ctx context.Context, key, jobID string) error {
	for attempt := 0; attempt < 2; attempt++ {
		res, err := c.W.ExecContext(ctx, c.q(`INSERT INTO device_locks (device_key, job_id, instance) VALUES (?, ?, ?) ON CONFLICT (device_key) DO NOTHING`), key, jobID, c.Instance)
		if err != nil {
			return fmt.Errorf("jobstore: lock device %s: %w", key, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var holder, inst string
		err = c.W.QueryRowContext(ctx, c.q(`SELECT job_id, instance FROM device_locks WHERE device_key = ?`), key).Scan(&holder, &inst)
		if errors.Is(err, sql.ErrNoRows) {
			continue // released meanwhile
		}
		if err != nil {
			return fmt.Errorf("jobstore: lock device %s: %w", key, err)
		}
		if holder == jobID {
			return nil
		}
		alive := inst == c.Instance
		if !alive && c.H.Alive != nil {
			if alive, err = c.H.Alive(ctx, inst); err != nil {
				return fmt.Errorf("jobstore: lock device %s: %w", key, err)
			}
		}
		if alive {
			return &jobstore.BusyError{DeviceKey: key, JobID: holder, Instance: inst}
		}
		if _, err := c.W.ExecContext(ctx, c.q(`DELETE FROM device_locks WHERE device_key = ? AND job_id = ?`), key, holder); err != nil {
			return fmt.Errorf("jobstore: lock device %s: %w", key, err)
		}
	}
	return &jobstore.BusyError{DeviceKey: key, JobID: "(changing hands)"}
}

// UnlockDevice implements jobstore.Store.
func (c *Core) UnlockDevice(ctx context.Context, key, jobID string) error {
	if _, err := c.W.ExecContext(ctx, c.q(`DELETE FROM device_locks WHERE device_key = ? AND job_id = ?`), key, jobID); err != nil {
		return fmt.Errorf("jobstore: unlock device %s: %w", key, err)
	}
	return nil
}

// Orphans implements jobstore.Store.
func (c *Core) Orphans(ctx context.Context) ([]*espprovv1.Job, error) {
	rows, err := c.R.QueryContext(ctx, c.q(`SELECT DISTINCT instance FROM jobs WHERE state IN (?, ?) AND instance <> ?`),
		int32(espprovv1.JobState_JOB_STATE_QUEUED), int32(espprovv1.JobState_JOB_STATE_RUNNING), c.Instance)
	if err != nil {
		return nil, fmt.Errorf("jobstore: orphans: %w", err)
	}
	var instances []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return nil, fmt.Errorf("jobstore: orphans: %w", err)
		}
		instances = append(instances, s)
	}
	rows.Close()
	var out []*espprovv1.Job
	for _, inst := range instances {
		alive := false
		if c.H.Alive != nil {
			if alive, err = c.H.Alive(ctx, inst); err != nil {
				return nil, fmt.Errorf("jobstore: orphans: %w", err)
			}
		}
		if alive {
			continue
		}
		if _, err := c.W.ExecContext(ctx, c.q(`DELETE FROM device_locks WHERE instance = ?`), inst); err != nil {
			return nil, fmt.Errorf("jobstore: orphans: %w", err)
		}
		rows, err := c.R.QueryContext(ctx, c.q(`SELECT doc, cancel_requested FROM jobs WHERE state IN (?, ?) AND instance = ? ORDER BY create_ns`),
			int32(espprovv1.JobState_JOB_STATE_QUEUED), int32(espprovv1.JobState_JOB_STATE_RUNNING), inst)
		if err != nil {
			return nil, fmt.Errorf("jobstore: orphans: %w", err)
		}
		for rows.Next() {
			var doc []byte
			var cancel int
			if err := rows.Scan(&doc, &cancel); err != nil {
				rows.Close()
				return nil, fmt.Errorf("jobstore: orphans: %w", err)
			}
			j, err := decodeJob(doc, cancel)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, j)
		}
		rows.Close()
	}
	return out, nil
}
