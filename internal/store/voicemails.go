package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vmx-dev/vmx/internal/voicemail"
)

const voicemailColumns = `contact_id, status, error, failed_step, run, request, steps, audio_key,
	duration_ms, audio_sha256, transcript, empty, spoken_number, details, created_at, updated_at`

// details are the parts of a voicemail kept as one JSON document.
type details struct {
	Summary       string          `json:"summary,omitempty"`
	Route         voicemail.Route `json:"route,omitzero"`
	Warnings      []string        `json:"warnings,omitempty"`
	SpeechStartMS int64           `json:"speech_start_ms,omitempty"`
	SpeechEndMS   int64           `json:"speech_end_ms,omitempty"`
	// StepErrors are the last failed attempt of each step.
	StepErrors map[string]voicemail.StepError `json:"step_errors,omitempty"`
}

func detailsOf(rec *voicemail.Record) details {
	return details{Summary: rec.Summary, Route: rec.Route, Warnings: rec.Warnings,
		SpeechStartMS: rec.SpeechStartMS, SpeechEndMS: rec.SpeechEndMS, StepErrors: rec.StepErrors}
}

// InsertVoicemail stores a new voicemail. It reports false, and changes
// nothing, when the contact is already stored: contact records arrive at
// least once, and a voicemail is processed once.
func (tx *Tx) InsertVoicemail(ctx context.Context, rec *voicemail.Record) (bool, error) {
	req, err := json.Marshal(rec.Request)
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	steps, err := json.Marshal(stepsToMS(rec.Steps))
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	now := rec.CreatedAt.UnixMilli()
	n, err := tx.q.exec(ctx, `INSERT INTO vmx_voicemail
		(contact_id, instance_id, queue_arn, agent_id, caller, language, mode, status, error, failed_step, request, steps, call_time, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (contact_id) DO NOTHING`,
		rec.ContactID, rec.InstanceID, rec.QueueARN, rec.AgentID, rec.Caller, rec.Language, rec.Mode,
		string(rec.Status), rec.Error, rec.FailedStep, string(req), string(steps), rec.CallTime.UnixMilli(), now, now)
	if err != nil {
		return false, fmt.Errorf("store: insert voicemail %s: %w", rec.ContactID, err)
	}
	return n == 1, nil
}

// Get returns the stored voicemail, with its receipts.
func (s *Store) Get(ctx context.Context, contactID string) (*voicemail.Record, error) {
	return get(ctx, s.q(), contactID, false)
}

// Get returns the voicemail, locking its row until the transaction ends
// (PostgreSQL; SQLite transactions are serial anyway).
func (tx *Tx) Get(ctx context.Context, contactID string) (*voicemail.Record, error) {
	return get(ctx, tx.q, contactID, true)
}

func get(ctx context.Context, q querier, contactID string, lock bool) (*voicemail.Record, error) {
	query := `SELECT ` + voicemailColumns + ` FROM vmx_voicemail WHERE contact_id = ?`
	if _, ok := q.(pgxQuerier); ok && lock {
		query += ` FOR UPDATE`
	}
	rec, err := scanVoicemail(q.queryRow(ctx, query, contactID))
	if err != nil {
		return nil, err
	}
	rs, err := q.query(ctx, `SELECT sink, key, detail, delivered_at FROM vmx_receipt WHERE contact_id = ? ORDER BY delivered_at, sink`, contactID)
	if err != nil {
		return nil, fmt.Errorf("store: receipts of %s: %w", contactID, err)
	}
	defer rs.Close()
	for rs.Next() {
		var r voicemail.Receipt
		var at int64
		if err := rs.Scan(&r.Sink, &r.Key, &r.Detail, &at); err != nil {
			return nil, fmt.Errorf("store: receipts of %s: %w", contactID, err)
		}
		r.DeliveredAt = time.UnixMilli(at).UTC()
		rec.Receipts = append(rec.Receipts, r)
	}
	return rec, rs.Err()
}

func scanVoicemail(row scanner) (*voicemail.Record, error) {
	var (
		rec                voicemail.Record
		status, req, steps string
		det                string
		created, updated   int64
		run, empty         int
	)
	err := row.Scan(&rec.ContactID, &status, &rec.Error, &rec.FailedStep, &run, &req, &steps, &rec.AudioKey,
		&rec.DurationMS, &rec.AudioSHA, &rec.Transcript, &empty, &rec.SpokenNumber, &det, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read voicemail: %w", err)
	}
	if err := json.Unmarshal([]byte(req), &rec.Request); err != nil {
		return nil, fmt.Errorf("store: voicemail %s: request: %w", rec.ContactID, err)
	}
	var d details
	if err := json.Unmarshal([]byte(det), &d); err != nil {
		return nil, fmt.Errorf("store: voicemail %s: details: %w", rec.ContactID, err)
	}
	rec.Summary, rec.Route, rec.Warnings, rec.SpeechStartMS, rec.SpeechEndMS = d.Summary, d.Route, d.Warnings, d.SpeechStartMS, d.SpeechEndMS
	rec.StepErrors = d.StepErrors
	var ms map[string]int64
	if err := json.Unmarshal([]byte(steps), &ms); err != nil {
		return nil, fmt.Errorf("store: voicemail %s: steps: %w", rec.ContactID, err)
	}
	rec.Steps = map[string]time.Time{}
	for k, v := range ms {
		rec.Steps[k] = time.UnixMilli(v).UTC()
	}
	rec.Status = voicemail.Status(status)
	rec.Run = run
	rec.Empty = empty != 0
	rec.Receipts = []voicemail.Receipt{}
	rec.CreatedAt = time.UnixMilli(created).UTC()
	rec.UpdatedAt = time.UnixMilli(updated).UTC()
	return &rec, nil
}

func stepsToMS(steps map[string]time.Time) map[string]int64 {
	ms := make(map[string]int64, len(steps))
	for k, v := range steps {
		ms[k] = v.UnixMilli()
	}
	return ms
}

// Update writes the fields a pipeline step changes: status, error, steps,
// run, audio and transcript.
func (tx *Tx) Update(ctx context.Context, rec *voicemail.Record, now time.Time) error {
	steps, err := json.Marshal(stepsToMS(rec.Steps))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	det, err := json.Marshal(detailsOf(rec))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	rec.UpdatedAt = now
	empty := 0
	if rec.Empty {
		empty = 1
	}
	n, err := tx.q.exec(ctx, `UPDATE vmx_voicemail SET status = ?, error = ?, failed_step = ?, run = ?, steps = ?,
		audio_key = ?, duration_ms = ?, audio_sha256 = ?, transcript = ?, empty = ?, spoken_number = ?, details = ?, updated_at = ?
		WHERE contact_id = ?`,
		string(rec.Status), rec.Error, rec.FailedStep, rec.Run, string(steps), rec.AudioKey, rec.DurationMS, rec.AudioSHA,
		rec.Transcript, empty, rec.SpokenNumber, string(det), now.UnixMilli(), rec.ContactID)
	if err != nil {
		return fmt.Errorf("store: update voicemail %s: %w", rec.ContactID, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// AddReceipt records a delivery. It reports false when the sink already
// has a receipt for the voicemail.
func (tx *Tx) AddReceipt(ctx context.Context, contactID string, r voicemail.Receipt) (bool, error) {
	n, err := tx.q.exec(ctx, `INSERT INTO vmx_receipt (contact_id, sink, key, detail, delivered_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (contact_id, sink) DO NOTHING`, contactID, r.Sink, r.Key, r.Detail, r.DeliveredAt.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("store: receipt %s/%s: %w", contactID, r.Sink, err)
	}
	return n == 1, nil
}

// Filter selects voicemails for List.
type Filter struct {
	Status   voicemail.Status
	QueueARN string
	Since    time.Time // created at or after
	Limit    int       // default 50, at most 500
	// After continues a listing: the Cursor of the previous page.
	After string
}

// Page is one page of a listing, newest first.
type Page struct {
	Voicemails []*voicemail.Record `json:"voicemails"`
	// Cursor, when not empty, fetches the next page.
	Cursor string `json:"next_cursor,omitempty"`
}

// List returns voicemails newest first.
func (s *Store) List(ctx context.Context, f Filter) (*Page, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	var where []string
	var args []any
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	if f.QueueARN != "" {
		where = append(where, "queue_arn = ?")
		args = append(args, f.QueueARN)
	}
	if !f.Since.IsZero() {
		where = append(where, "created_at >= ?")
		args = append(args, f.Since.UnixMilli())
	}
	if f.After != "" {
		at, id, err := decodeCursor(f.After)
		if err != nil {
			return nil, err
		}
		where = append(where, "(created_at < ? OR (created_at = ? AND contact_id < ?))")
		args = append(args, at, at, id)
	}
	q := `SELECT ` + voicemailColumns + ` FROM vmx_voicemail`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, contact_id DESC LIMIT ?"
	args = append(args, f.Limit+1)
	rs, err := s.q().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list voicemails: %w", err)
	}
	defer rs.Close()
	page := &Page{Voicemails: []*voicemail.Record{}}
	for rs.Next() {
		rec, err := scanVoicemail(rs)
		if err != nil {
			return nil, err
		}
		page.Voicemails = append(page.Voicemails, rec)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: list voicemails: %w", err)
	}
	if len(page.Voicemails) > f.Limit {
		page.Voicemails = page.Voicemails[:f.Limit]
		last := page.Voicemails[f.Limit-1]
		page.Cursor = encodeCursor(last.CreatedAt.UnixMilli(), last.ContactID)
	}
	return page, nil
}

func encodeCursor(at int64, id string) string { return fmt.Sprintf("%d.%s", at, id) }

func decodeCursor(c string) (int64, string, error) {
	ms, id, ok := strings.Cut(c, ".")
	var at int64
	if _, err := fmt.Sscan(ms, &at); !ok || err != nil || id == "" {
		return 0, "", fmt.Errorf("store: invalid cursor %q", c)
	}
	return at, id, nil
}

// Expired returns up to limit voicemails created before t, oldest first,
// for the retention job.
func (s *Store) Expired(ctx context.Context, before time.Time, limit int) ([]*voicemail.Record, error) {
	rs, err := s.q().query(ctx, `SELECT `+voicemailColumns+` FROM vmx_voicemail WHERE created_at < ? ORDER BY created_at LIMIT ?`,
		before.UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: expired voicemails: %w", err)
	}
	defer rs.Close()
	var out []*voicemail.Record
	for rs.Next() {
		rec, err := scanVoicemail(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, rs.Err()
}

// Delete removes a voicemail row and its receipts.
func (s *Store) Delete(ctx context.Context, contactID string) error {
	if _, err := s.q().exec(ctx, `DELETE FROM vmx_receipt WHERE contact_id = ?`, contactID); err != nil {
		return fmt.Errorf("store: delete %s: %w", contactID, err)
	}
	if _, err := s.q().exec(ctx, `DELETE FROM vmx_voicemail WHERE contact_id = ?`, contactID); err != nil {
		return fmt.Errorf("store: delete %s: %w", contactID, err)
	}
	return nil
}

// Counts returns the number of voicemails per status, for metrics.
func (s *Store) Counts(ctx context.Context) (map[voicemail.Status]int64, error) {
	rs, err := s.q().query(ctx, `SELECT status, COUNT(*) FROM vmx_voicemail GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("store: counts: %w", err)
	}
	defer rs.Close()
	out := map[voicemail.Status]int64{}
	for rs.Next() {
		var st string
		var n int64
		if err := rs.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[voicemail.Status(st)] = n
	}
	return out, rs.Err()
}
