package kinesis

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/vmx-dev/vmx/internal/sqlq"
)

// store holds the lease and worker rows of one stream. Every method that
// changes a lease is a single conditional statement, so concurrent replicas
// cannot both win it.
type store struct {
	db      *sql.DB
	stream  string // stream ARN
	leases  string // table names
	workers string
	dialect Dialect
}

// leaseRow is one row of the lease table.
type leaseRow struct {
	shardID    string
	parents    []string
	owner      string
	leaseUntil int64 // Unix ms
	checkpoint string
	startAt    int64 // Unix ms
	finished   bool
}

// detectDialect names the dialect of db's driver.
func detectDialect(db *sql.DB) (Dialect, error) {
	t := reflect.TypeOf(db.Driver())
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch p := t.PkgPath(); {
	case strings.Contains(p, "sqlite"):
		return SQLite, nil
	case strings.Contains(p, "pgx"), strings.Contains(p, "lib/pq"):
		return Postgres, nil
	default:
		return "", fmt.Errorf("kinesis: cannot tell the SQL dialect of driver %s.%s: set Config.Dialect", p, t.Name())
	}
}

// q adapts a statement written with ? placeholders to the dialect.
func (s *store) q(query string) string {
	if s.dialect != Postgres {
		return query
	}
	return sqlq.Postgres(query)
}

func (s *store) init(ctx context.Context) error {
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS ` + s.leases + ` (
			stream           TEXT    NOT NULL,
			shard_id         TEXT    NOT NULL,
			parent_shard_ids TEXT    NOT NULL DEFAULT '',
			owner            TEXT    NOT NULL DEFAULT '',
			lease_until      BIGINT  NOT NULL DEFAULT 0,
			checkpoint       TEXT    NOT NULL DEFAULT '',
			start_at         BIGINT  NOT NULL DEFAULT 0,
			finished         INTEGER NOT NULL DEFAULT 0,
			updated_at       BIGINT  NOT NULL DEFAULT 0,
			PRIMARY KEY (stream, shard_id)
		)`,
		`CREATE TABLE IF NOT EXISTS ` + s.workers + ` (
			stream      TEXT   NOT NULL,
			worker_id   TEXT   NOT NULL,
			alive_until BIGINT NOT NULL,
			PRIMARY KEY (stream, worker_id)
		)`,
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("kinesis: create lease tables: %w", err)
	}
	defer tx.Rollback()
	if s.dialect == Postgres {
		// Concurrent CREATE TABLE IF NOT EXISTS of one table can fail
		// in PostgreSQL ("duplicate key value violates unique constraint
		// pg_type_typname_nsp_index"): replicas starting together take
		// turns.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, s.leases); err != nil {
			return fmt.Errorf("kinesis: create lease tables: lock: %w", err)
		}
	}
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("kinesis: create lease tables: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("kinesis: create lease tables: %w", err)
	}
	return nil
}

// all returns every lease row of the stream, ordered by shard ID.
func (s *store) all(ctx context.Context) ([]leaseRow, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT shard_id, parent_shard_ids, owner, lease_until, checkpoint, start_at, finished
		FROM `+s.leases+` WHERE stream = ? ORDER BY shard_id`), s.stream)
	if err != nil {
		return nil, fmt.Errorf("kinesis: list leases: %w", err)
	}
	defer rows.Close()
	var out []leaseRow
	for rows.Next() {
		var (
			r        leaseRow
			parents  string
			finished int64
		)
		if err := rows.Scan(&r.shardID, &parents, &r.owner, &r.leaseUntil, &r.checkpoint, &r.startAt, &finished); err != nil {
			return nil, fmt.Errorf("kinesis: list leases: %w", err)
		}
		r.parents = splitParents(parents)
		r.finished = finished != 0
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("kinesis: list leases: %w", err)
	}
	return out, nil
}

// add inserts a shard's row unless it exists. startAt is where the shard
// is first read (Unix ms, AT_TIMESTAMP), 0 for its start.
func (s *store) add(ctx context.Context, shardID string, parents []string, startAt, now int64) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO `+s.leases+`
		(stream, shard_id, parent_shard_ids, owner, lease_until, checkpoint, start_at, finished, updated_at)
		VALUES (?, ?, ?, '', 0, '', ?, 0, ?)
		ON CONFLICT (stream, shard_id) DO NOTHING`),
		s.stream, shardID, strings.Join(parents, ","), startAt, now)
	if err != nil {
		return fmt.Errorf("kinesis: add lease %s: %w", shardID, err)
	}
	return nil
}

// take gives the lease of an unfinished shard to owner until until, if it
// is free, expired at now or already owner's. It returns the shard's row,
// and ok false when another worker holds the lease.
func (s *store) take(ctx context.Context, shardID, owner string, now, until int64) (r leaseRow, ok bool, err error) {
	var ps string
	err = s.db.QueryRowContext(ctx, s.q(`UPDATE `+s.leases+`
		SET owner = ?, lease_until = ?, updated_at = ?
		WHERE stream = ? AND shard_id = ? AND finished = 0
		  AND (owner = '' OR owner = ? OR lease_until < ?)
		RETURNING checkpoint, start_at, parent_shard_ids`),
		owner, until, now, s.stream, shardID, owner, now).Scan(&r.checkpoint, &r.startAt, &ps)
	if errors.Is(err, sql.ErrNoRows) {
		return leaseRow{}, false, nil
	}
	if err != nil {
		return leaseRow{}, false, fmt.Errorf("kinesis: take lease %s: %w", shardID, err)
	}
	r.shardID, r.parents, r.owner, r.leaseUntil = shardID, splitParents(ps), owner, until
	return r, true, nil
}

// renew extends owner's lease; ok is false when owner no longer holds it.
func (s *store) renew(ctx context.Context, shardID, owner string, until int64) (ok bool, err error) {
	return s.exec(ctx, "renew lease "+shardID, `UPDATE `+s.leases+` SET lease_until = ?
		WHERE stream = ? AND shard_id = ? AND owner = ? AND finished = 0`,
		until, s.stream, shardID, owner)
}

// checkpoint records seq as the last handled record of owner's shard; ok is
// false when owner no longer holds the lease.
func (s *store) checkpoint(ctx context.Context, shardID, owner, seq string, now int64) (ok bool, err error) {
	return s.exec(ctx, "checkpoint "+shardID, `UPDATE `+s.leases+` SET checkpoint = ?, updated_at = ?
		WHERE stream = ? AND shard_id = ? AND owner = ?`,
		seq, now, s.stream, shardID, owner)
}

// finish marks owner's shard as read to its end and frees the lease.
func (s *store) finish(ctx context.Context, shardID, owner string, now int64) (ok bool, err error) {
	return s.exec(ctx, "finish shard "+shardID, `UPDATE `+s.leases+`
		SET finished = 1, owner = '', lease_until = 0, updated_at = ?
		WHERE stream = ? AND shard_id = ? AND owner = ?`,
		now, s.stream, shardID, owner)
}

// release frees owner's lease for others to take at once.
func (s *store) release(ctx context.Context, shardID, owner string, now int64) (ok bool, err error) {
	return s.exec(ctx, "release lease "+shardID, `UPDATE `+s.leases+`
		SET owner = '', lease_until = 0, updated_at = ?
		WHERE stream = ? AND shard_id = ? AND owner = ?`,
		now, s.stream, shardID, owner)
}

// markGone finishes the row of a shard that the stream no longer lists
// (its records are past retention), or deletes it if it was finished.
func (s *store) markGone(ctx context.Context, r leaseRow, now int64) error {
	var err error
	if r.finished {
		_, err = s.db.ExecContext(ctx, s.q(`DELETE FROM `+s.leases+` WHERE stream = ? AND shard_id = ? AND finished = 1`),
			s.stream, r.shardID)
	} else {
		_, err = s.db.ExecContext(ctx, s.q(`UPDATE `+s.leases+` SET finished = 1, owner = '', lease_until = 0, updated_at = ?
			WHERE stream = ? AND shard_id = ?`), now, s.stream, r.shardID)
	}
	if err != nil {
		return fmt.Errorf("kinesis: retire lease %s: %w", r.shardID, err)
	}
	return nil
}

// heartbeat records that worker is alive until until, and returns how many
// workers (itself included) are alive at now. Rows dead for longer than
// forget are deleted.
func (s *store) heartbeat(ctx context.Context, worker string, now, until, forget int64) (live int, err error) {
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO `+s.workers+` (stream, worker_id, alive_until) VALUES (?, ?, ?)
		ON CONFLICT (stream, worker_id) DO UPDATE SET alive_until = excluded.alive_until`),
		s.stream, worker, until); err != nil {
		return 0, fmt.Errorf("kinesis: worker heartbeat: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM `+s.workers+` WHERE stream = ? AND alive_until < ?`),
		s.stream, now-forget); err != nil {
		return 0, fmt.Errorf("kinesis: forget workers: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM `+s.workers+` WHERE stream = ? AND alive_until >= ?`),
		s.stream, now).Scan(&live); err != nil {
		return 0, fmt.Errorf("kinesis: count workers: %w", err)
	}
	return max(live, 1), nil
}

// leave removes worker's row, so that others count it out at once.
func (s *store) leave(ctx context.Context, worker string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM `+s.workers+` WHERE stream = ? AND worker_id = ?`),
		s.stream, worker); err != nil {
		return fmt.Errorf("kinesis: remove worker: %w", err)
	}
	return nil
}

// exec runs a statement that should change one row and reports whether it
// did.
func (s *store) exec(ctx context.Context, what, query string, args ...any) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return false, fmt.Errorf("kinesis: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("kinesis: %s: %w", what, err)
	}
	return n == 1, nil
}

func splitParents(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
