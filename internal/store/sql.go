package store

import (
	"context"
	"database/sql"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/vmx-dev/vmx/internal/sqlq"
)

type dialect int

const (
	sqlite dialect = iota
	postgres
)

func (d dialect) name() string {
	if d == postgres {
		return "postgres"
	}
	return "sqlite"
}

// querier runs SQL written with ? placeholders on either database.
type querier interface {
	exec(ctx context.Context, q string, args ...any) (int64, error)
	queryRow(ctx context.Context, q string, args ...any) scanner
	query(ctx context.Context, q string, args ...any) (rows, error)
}

type scanner interface{ Scan(dest ...any) error }

type rows interface {
	scanner
	Next() bool
	Err() error
	Close()
}

// sqlQuerier runs on database/sql (SQLite).
type sqlQuerier struct {
	db interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
		QueryRowContext(context.Context, string, ...any) *sql.Row
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	}
}

func (q sqlQuerier) exec(ctx context.Context, s string, args ...any) (int64, error) {
	res, err := q.db.ExecContext(ctx, s, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q sqlQuerier) queryRow(ctx context.Context, s string, args ...any) scanner {
	return q.db.QueryRowContext(ctx, s, args...)
}

func (q sqlQuerier) query(ctx context.Context, s string, args ...any) (rows, error) {
	r, err := q.db.QueryContext(ctx, s, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

// pgxQuerier runs on pgx (PostgreSQL): a pool or a transaction.
type pgxQuerier struct {
	db interface {
		Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
		QueryRow(context.Context, string, ...any) pgx.Row
		Query(context.Context, string, ...any) (pgx.Rows, error)
	}
}

func (q pgxQuerier) exec(ctx context.Context, s string, args ...any) (int64, error) {
	tag, err := q.db.Exec(ctx, sqlq.Postgres(s), args...)
	return tag.RowsAffected(), err
}

func (q pgxQuerier) queryRow(ctx context.Context, s string, args ...any) scanner {
	return q.db.QueryRow(ctx, sqlq.Postgres(s), args...)
}

func (q pgxQuerier) query(ctx context.Context, s string, args ...any) (rows, error) {
	r, err := q.db.Query(ctx, sqlq.Postgres(s), args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// upgrades are the changes to the tables schema creates, in order; a
// database records in vmx_schema how many it has. Append, never edit.
var upgrades = []string{
	// 1: what delivery adds to a voicemail: route, summary, warnings,
	// the speech span (JSON).
	`ALTER TABLE vmx_voicemail ADD COLUMN details TEXT NOT NULL DEFAULT '{}'`,
	// 2: the web inbox's state of a voicemail (new, handled), who set it,
	// and the user it is assigned to; gone with the voicemail.
	`CREATE TABLE IF NOT EXISTS vmx_inbox (
		contact_id TEXT PRIMARY KEY REFERENCES vmx_voicemail (contact_id) ON DELETE CASCADE,
		state      TEXT NOT NULL DEFAULT '',
		changed_by TEXT NOT NULL DEFAULT '',
		assignee   TEXT NOT NULL DEFAULT '',
		updated_at BIGINT NOT NULL
	)`,
	// 3, 4: the inbox's live updates look for rows changed since a time.
	`CREATE INDEX IF NOT EXISTS vmx_inbox_updated ON vmx_inbox (updated_at)`,
	`CREATE INDEX IF NOT EXISTS vmx_voicemail_updated ON vmx_voicemail (updated_at)`,
	// 5: the inbox's users: queues is a JSON array of queue ARNs.
	`CREATE TABLE IF NOT EXISTS vmx_user (
		username       TEXT PRIMARY KEY,
		password_hash  TEXT NOT NULL,
		role           TEXT NOT NULL,
		agent_id       TEXT NOT NULL DEFAULT '',
		agent_username TEXT NOT NULL DEFAULT '',
		queues         TEXT NOT NULL DEFAULT '[]',
		created_at     BIGINT NOT NULL,
		updated_at     BIGINT NOT NULL
	)`,
	// 6, 7: signed-in sessions, by the SHA-256 of their cookie.
	`CREATE TABLE IF NOT EXISTS vmx_session (
		id_hash    TEXT PRIMARY KEY,
		username   TEXT NOT NULL REFERENCES vmx_user (username) ON DELETE CASCADE,
		created_at BIGINT NOT NULL,
		expires_at BIGINT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS vmx_session_user ON vmx_session (username)`,
	// 8, 9, 10: live transcription: the conversations start-streaming
	// opened (summary is the stop-streaming summary, JSON) and their
	// transcribed utterances, exported by creation time.
	`CREATE TABLE IF NOT EXISTS vmx_live_conversation (
		guid               TEXT PRIMARY KEY,
		namespace          TEXT NOT NULL,
		customer_id        TEXT NOT NULL DEFAULT '',
		agent_id           TEXT NOT NULL DEFAULT '',
		customer_stream_id TEXT NOT NULL,
		agent_stream_id    TEXT NOT NULL,
		language           TEXT NOT NULL DEFAULT '',
		stream_arn         TEXT NOT NULL DEFAULT '',
		redact             INTEGER NOT NULL DEFAULT 1,
		state              TEXT NOT NULL,
		summary            TEXT NOT NULL DEFAULT '{}',
		started_at         BIGINT NOT NULL,
		stopped_at         BIGINT NOT NULL DEFAULT 0,
		updated_at         BIGINT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS vmx_live_message (
		guid        TEXT NOT NULL REFERENCES vmx_live_conversation (guid) ON DELETE CASCADE,
		seq         BIGINT NOT NULL,
		stream_id   TEXT NOT NULL,
		role        TEXT NOT NULL,
		external_id TEXT NOT NULL DEFAULT '',
		start_ms    BIGINT NOT NULL,
		end_ms      BIGINT NOT NULL,
		text        TEXT NOT NULL,
		created_at  BIGINT NOT NULL,
		PRIMARY KEY (guid, seq)
	)`,
	`CREATE INDEX IF NOT EXISTS vmx_live_message_created ON vmx_live_message (created_at, guid, seq)`,
	// 11, 12: call recordings (package recording): the contact details
	// row (contact, customer number, date and time) and the state of the
	// live read, which the replica named by owner keeps fresh in
	// heartbeat_at; details is the recorder's JSON (request, checkpoint,
	// stored files).
	`CREATE TABLE IF NOT EXISTS vmx_recording (
		contact_id      TEXT PRIMARY KEY,
		customer_number TEXT NOT NULL DEFAULT '',
		call_time       BIGINT NOT NULL,
		stream_arn      TEXT NOT NULL,
		state           TEXT NOT NULL,
		owner           TEXT NOT NULL DEFAULT '',
		heartbeat_at    BIGINT NOT NULL DEFAULT 0,
		stop_requested  INTEGER NOT NULL DEFAULT 0,
		details         TEXT NOT NULL DEFAULT '{}',
		created_at      BIGINT NOT NULL,
		updated_at      BIGINT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS vmx_recording_active ON vmx_recording (state, heartbeat_at)`,
	// 13: the transcript of a call recording, one row per segment and side
	// (track "from" or "to"); a partial segment is an interim transcript
	// of speech still going on.
	`CREATE TABLE IF NOT EXISTS vmx_recording_segment (
		contact_id TEXT NOT NULL REFERENCES vmx_recording (contact_id) ON DELETE CASCADE,
		track      TEXT NOT NULL,
		start_ms   BIGINT NOT NULL,
		end_ms     BIGINT NOT NULL,
		text       TEXT NOT NULL,
		confidence DOUBLE PRECISION NOT NULL DEFAULT -1,
		partial    INTEGER NOT NULL DEFAULT 0,
		PRIMARY KEY (contact_id, track, start_ms)
	)`,
	// 14: live conversations across replicas: each replica looks every
	// second for the conversations whose stop-streaming reached another
	// replica (state stopping).
	`CREATE INDEX IF NOT EXISTS vmx_live_conversation_stopping ON vmx_live_conversation (guid) WHERE state = 'stopping'`,
}

// schema creates vmx's tables. Times are Unix milliseconds in both
// databases; JSON documents are text.
func schema(d dialect) []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS vmx_voicemail (
			contact_id   TEXT PRIMARY KEY,
			instance_id  TEXT NOT NULL DEFAULT '',
			queue_arn    TEXT NOT NULL DEFAULT '',
			agent_id     TEXT NOT NULL DEFAULT '',
			caller       TEXT NOT NULL DEFAULT '',
			language     TEXT NOT NULL DEFAULT '',
			mode         TEXT NOT NULL DEFAULT '',
			status       TEXT NOT NULL,
			error        TEXT NOT NULL DEFAULT '',
			failed_step  TEXT NOT NULL DEFAULT '',
			run          INTEGER NOT NULL DEFAULT 1,
			request      TEXT NOT NULL,
			steps        TEXT NOT NULL DEFAULT '{}',
			audio_key    TEXT NOT NULL DEFAULT '',
			duration_ms  BIGINT NOT NULL DEFAULT 0,
			audio_sha256 TEXT NOT NULL DEFAULT '',
			transcript   TEXT NOT NULL DEFAULT '',
			empty        INTEGER NOT NULL DEFAULT 0,
			spoken_number TEXT NOT NULL DEFAULT '',
			call_time    BIGINT NOT NULL,
			created_at   BIGINT NOT NULL,
			updated_at   BIGINT NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS vmx_voicemail_created ON vmx_voicemail (created_at, contact_id)`,
		`CREATE INDEX IF NOT EXISTS vmx_voicemail_status ON vmx_voicemail (status, created_at)`,
		`CREATE INDEX IF NOT EXISTS vmx_voicemail_queue ON vmx_voicemail (queue_arn, created_at)`,
		`CREATE INDEX IF NOT EXISTS vmx_voicemail_call_time ON vmx_voicemail (call_time)`,
		`CREATE TABLE IF NOT EXISTS vmx_schema (
			id      INTEGER PRIMARY KEY,
			version INTEGER NOT NULL
		)`,
		`CREATE TABLE IF NOT EXISTS vmx_receipt (
			contact_id   TEXT NOT NULL REFERENCES vmx_voicemail (contact_id) ON DELETE CASCADE,
			sink         TEXT NOT NULL,
			key          TEXT NOT NULL,
			detail       TEXT NOT NULL DEFAULT '',
			delivered_at BIGINT NOT NULL,
			PRIMARY KEY (contact_id, sink)
		)`,
	}
}
