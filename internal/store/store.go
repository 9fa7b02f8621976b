// Package store keeps vmx's durable state in SQLite (the embedded default)
// or PostgreSQL: the voicemail rows, their delivery receipts and, through
// River, the pipeline's jobs. Rows and the jobs that act on them are written
// in one transaction, so a crash can never leave one without the other.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// ErrNotFound is returned for a voicemail that is not stored.
var ErrNotFound = errors.New("store: not found")

// Options configure Open.
type Options struct {
	// MaxAttempts is how often a job is tried before it is discarded.
	// Default 10.
	MaxAttempts int
	Logger      *slog.Logger
}

// Store is an open database with its job queue.
type Store struct {
	dialect dialect
	db      *sql.DB       // SQLite
	pool    *pgxpool.Pool // PostgreSQL
	// Inserting clients, used inside transactions; Start adds the clients
	// that work the jobs.
	sqlite     *river.Client[*sql.Tx]
	pg         *river.Client[pgx.Tx]
	workSQLite *river.Client[*sql.Tx]
	workPG     *river.Client[pgx.Tx]
	cfg        river.Config
	log        *slog.Logger
}

// Open opens the database named by dsn ("sqlite:///path/vmx.db",
// "sqlite://relative.db", "postgres://…"), creates vmx's tables and River's
// if they are missing, and prepares the job queue.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	s := &Store{log: opts.Logger, cfg: river.Config{
		Logger:      opts.Logger.With("component", "river"),
		MaxAttempts: opts.MaxAttempts,
		RetryPolicy: backoff{base: time.Second, max: 10 * time.Minute},
		// A job whose process died is rescued and retried after this long.
		RescueStuckJobsAfter: 2 * time.Minute,
	}}
	cfg := &s.cfg
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		s.dialect = postgres
		pool, err := pgxpool.New(ctx, dsn)
		if err != nil {
			return nil, fmt.Errorf("store: open postgres: %w", err)
		}
		s.pool = pool
		if err := s.migrate(ctx, riverpgxv5.New(pool)); err != nil {
			pool.Close()
			return nil, err
		}
		if s.pg, err = river.NewClient(riverpgxv5.New(pool), cfg); err != nil {
			pool.Close()
			return nil, fmt.Errorf("store: river: %w", err)
		}
	case strings.HasPrefix(dsn, "sqlite://"):
		s.dialect = sqlite
		path := strings.TrimPrefix(dsn, "sqlite://")
		if u, err := url.Parse(dsn); err == nil && u.Path != "" && u.Host == "" {
			path = u.Path
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, fmt.Errorf("store: %w", err)
			}
		}
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)")
		if err != nil {
			return nil, fmt.Errorf("store: open sqlite: %w", err)
		}
		// SQLite runs one writer at a time; River's driver asks for one
		// connection to avoid SQLITE_BUSY.
		db.SetMaxOpenConns(1)
		s.db = db
		if err := s.migrate(ctx, riversqlite.New(db)); err != nil {
			db.Close()
			return nil, err
		}
		if s.sqlite, err = river.NewClient(riversqlite.New(db), cfg); err != nil {
			db.Close()
			return nil, fmt.Errorf("store: river: %w", err)
		}
	default:
		return nil, fmt.Errorf("store: unsupported database %q (want sqlite://PATH or postgres://…)", redactDSN(dsn))
	}
	return s, nil
}

func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return dsn
}

// migrate creates River's tables and vmx's.
func (s *Store) migrate(ctx context.Context, driver any) error {
	switch d := driver.(type) {
	case *riverpgxv5.Driver:
		m, err := rivermigrate.New(d, nil)
		if err != nil {
			return fmt.Errorf("store: river migrations: %w", err)
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("store: river migrations: %w", err)
		}
	case *riversqlite.Driver:
		m, err := rivermigrate.New(d, nil)
		if err != nil {
			return fmt.Errorf("store: river migrations: %w", err)
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("store: river migrations: %w", err)
		}
	}
	for _, stmt := range schema(s.dialect) {
		if _, err := s.q().exec(ctx, stmt); err != nil {
			return fmt.Errorf("store: create tables: %w", err)
		}
	}
	return s.upgrade(ctx)
}

// upgrade applies the schema changes made since a database was created,
// each once, recording the version reached in vmx_schema. Replicas
// starting together serialise on the version row.
func (s *Store) upgrade(ctx context.Context) error {
	if _, err := s.q().exec(ctx, `INSERT INTO vmx_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`); err != nil {
		return fmt.Errorf("store: schema version: %w", err)
	}
	return s.InTx(ctx, func(tx *Tx) error {
		lock := ""
		if s.pool != nil {
			lock = " FOR UPDATE"
		}
		var version int
		if err := tx.q.queryRow(ctx, `SELECT version FROM vmx_schema WHERE id = 1`+lock).Scan(&version); err != nil {
			return fmt.Errorf("store: schema version: %w", err)
		}
		for i := version; i < len(upgrades); i++ {
			if _, err := tx.q.exec(ctx, upgrades[i]); err != nil {
				return fmt.Errorf("store: schema upgrade %d: %w", i+1, err)
			}
		}
		if version < len(upgrades) {
			if _, err := tx.q.exec(ctx, `UPDATE vmx_schema SET version = ? WHERE id = 1`, len(upgrades)); err != nil {
				return fmt.Errorf("store: schema version: %w", err)
			}
		}
		return nil
	})
}

// WorkOptions configure Start.
type WorkOptions struct {
	Workers *river.Workers
	// Concurrency is the number of jobs worked at once. Default 4.
	Concurrency int
	// Periodic jobs (retention) run while the store works.
	Periodic []*river.PeriodicJob
	// RescueAfter is how long a running job may go without finishing
	// before it is taken for dead and retried. Default 2 minutes.
	RescueAfter time.Duration
	// PollInterval is how often idle workers look for new jobs: SQLite
	// has no notifications, and jobs are inserted by other clients and
	// replicas. Default 50 ms.
	PollInterval time.Duration
}

// Start starts working jobs with the given workers. Stop stops.
func (s *Store) Start(ctx context.Context, opts WorkOptions) error {
	cfg := s.cfg
	cfg.Workers = opts.Workers
	cfg.PeriodicJobs = opts.Periodic
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.RescueAfter > 0 {
		cfg.RescueStuckJobsAfter = opts.RescueAfter
	}
	// A step is cancelled before the rescuer would take it for dead, so
	// a slow step never runs twice at once.
	cfg.JobTimeout = cfg.RescueStuckJobsAfter * 9 / 10
	cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opts.Concurrency}}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 50 * time.Millisecond
	}
	cfg.FetchPollInterval = opts.PollInterval
	cfg.FetchCooldown = min(opts.PollInterval, 10*time.Millisecond)
	var err error
	if s.pool != nil {
		if s.workPG, err = river.NewClient(riverpgxv5.New(s.pool), &cfg); err != nil {
			return fmt.Errorf("store: river: %w", err)
		}
		return s.workPG.Start(ctx)
	}
	if s.workSQLite, err = river.NewClient(riversqlite.New(s.db), &cfg); err != nil {
		return fmt.Errorf("store: river: %w", err)
	}
	return s.workSQLite.Start(ctx)
}

// Stop stops working jobs, letting running ones finish while ctx allows.
func (s *Store) Stop(ctx context.Context) error {
	switch {
	case s.workPG != nil:
		return s.workPG.Stop(ctx)
	case s.workSQLite != nil:
		return s.workSQLite.Stop(ctx)
	}
	return nil
}

// Close closes the database. Stop first when started.
func (s *Store) Close() error {
	if s.pool != nil {
		s.pool.Close()
		return nil
	}
	return s.db.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.pool != nil {
		return s.pool.Ping(ctx)
	}
	return s.db.PingContext(ctx)
}

// SQL returns the database as a database/sql handle, for components that
// keep their own tables (the Kinesis consumer's leases).
func (s *Store) SQL() *sql.DB {
	if s.pool != nil {
		return stdlib.OpenDBFromPool(s.pool)
	}
	return s.db
}

// Dialect names the database: "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect.name() }

// Tx is a transaction: vmx's rows and River's jobs commit together.
type Tx struct {
	q      querier
	insert func(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (bool, error)
}

// Enqueue inserts a job in the transaction. It reports false when a unique
// job with the same arguments already exists.
func (tx *Tx) Enqueue(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (bool, error) {
	return tx.insert(ctx, args, opts)
}

// InTx runs fn in a transaction, committed when fn returns nil.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	if s.pool != nil {
		return pgx.BeginFunc(ctx, s.pool, func(ptx pgx.Tx) error {
			return fn(&Tx{
				q: pgxQuerier{ptx},
				insert: func(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (bool, error) {
					res, err := s.pg.InsertTx(ctx, ptx, args, opts)
					if err != nil {
						return false, err
					}
					return !res.UniqueSkippedAsDuplicate, nil
				},
			})
		})
	}
	stx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	err = fn(&Tx{
		q: sqlQuerier{stx},
		insert: func(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (bool, error) {
			res, err := s.sqlite.InsertTx(ctx, stx, args, opts)
			if err != nil {
				return false, err
			}
			return !res.UniqueSkippedAsDuplicate, nil
		},
	})
	if err != nil {
		stx.Rollback()
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// QueueDepth counts jobs not yet finished (available, scheduled, retrying or
// running), for metrics.
func (s *Store) QueueDepth(ctx context.Context) (int64, error) {
	var n int64
	err := s.q().queryRow(ctx, `SELECT COUNT(*) FROM river_job WHERE state IN ('available','scheduled','retryable','running','pending')`).Scan(&n)
	return n, err
}

// q returns a querier outside any transaction.
func (s *Store) q() querier {
	if s.pool != nil {
		return pgxQuerier{s.pool}
	}
	return sqlQuerier{s.db}
}

// backoff retries a job after base, doubling per attempt up to max, with
// up to 20% jitter so that jobs failing together do not retry together.
type backoff struct{ base, max time.Duration }

func (b backoff) NextRetry(job *rivertype.JobRow) time.Time {
	d := b.base << min(max(job.Attempt-1, 0), 20)
	d = min(d, b.max)
	d += time.Duration(rand.Int64N(int64(d)/5 + 1))
	return time.Now().Add(d)
}
