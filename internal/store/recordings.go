package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotOwner is returned by SaveRecording when another replica has taken
// the recording over.
var ErrNotOwner = errors.New("store: recording owned by another replica")

// RecordingActive is the state of a call recording whose live read is
// under way (or was, until its replica stopped): StaleRecordings finds
// those whose heartbeat went quiet.
const RecordingActive = "recording"

// Recording is a call recording's contact details row and the state of
// its live read (package recording).
type Recording struct {
	ContactID      string
	CustomerNumber string
	// CallTime is the date and time of the contact details.
	CallTime  time.Time
	StreamARN string
	// State is RecordingActive while the stream is read, then the
	// recorder's final state.
	State string
	// Owner names the replica reading the stream; HeartbeatAt is when it
	// last said so, zero once it released the recording.
	Owner       string
	HeartbeatAt time.Time
	// StopRequested asks the owner to end the recording.
	StopRequested bool
	// Details is the recorder's JSON document.
	Details   string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RecordingSegment is a piece of a call recording's transcript.
type RecordingSegment struct {
	ContactID string
	// Track is the side: "from" (the customer) or "to" (what the customer
	// heard).
	Track          string
	StartMS, EndMS int64
	Text           string
	// Confidence is from 0 to 1, or -1 when the engine gives none.
	Confidence float64
	// Partial marks an interim transcript of speech still going on, which
	// the final segment replaces.
	Partial bool
}

const recordingColumns = `contact_id, customer_number, call_time, stream_arn, state, owner, heartbeat_at, stop_requested, details, created_at, updated_at`

// unixMS is t in Unix milliseconds, with the zero time as 0.
func unixMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func timeMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func scanRecording(row scanner) (*Recording, error) {
	var (
		r                           Recording
		call, beat, created, update int64
		stop                        int
	)
	err := row.Scan(&r.ContactID, &r.CustomerNumber, &call, &r.StreamARN, &r.State, &r.Owner, &beat, &stop, &r.Details, &created, &update)
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read recording: %w", err)
	}
	r.CallTime, r.HeartbeatAt, r.CreatedAt, r.UpdatedAt = timeMS(call), timeMS(beat), timeMS(created), timeMS(update)
	r.StopRequested = stop != 0
	return &r, nil
}

// InsertRecording stores a new recording. It reports false, and changes
// nothing, when the contact already has one.
func (s *Store) InsertRecording(ctx context.Context, r *Recording) (bool, error) {
	n, err := s.q().exec(ctx, `INSERT INTO vmx_recording (`+recordingColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?)
		ON CONFLICT (contact_id) DO NOTHING`,
		r.ContactID, r.CustomerNumber, unixMS(r.CallTime), r.StreamARN, r.State, r.Owner, unixMS(r.HeartbeatAt), r.Details, unixMS(r.CreatedAt), unixMS(r.UpdatedAt))
	if err != nil {
		return false, fmt.Errorf("store: insert recording %s: %w", r.ContactID, err)
	}
	return n == 1, nil
}

// GetRecording returns a contact's recording, or ErrNotFound.
func (s *Store) GetRecording(ctx context.Context, contactID string) (*Recording, error) {
	r, err := scanRecording(s.q().queryRow(ctx, `SELECT `+recordingColumns+` FROM vmx_recording WHERE contact_id = ?`, contactID))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: recording %s", ErrNotFound, contactID)
	}
	return r, err
}

// SaveRecording writes the state, heartbeat and details of a recording
// that r.Owner owns, and reports whether a stop was requested. It returns
// ErrNotOwner when another replica has claimed it, ErrNotFound when it is
// gone.
func (s *Store) SaveRecording(ctx context.Context, r *Recording) (stop bool, err error) {
	var flag int
	err = s.q().queryRow(ctx, `UPDATE vmx_recording SET state = ?, heartbeat_at = ?, details = ?, updated_at = ?
		WHERE contact_id = ? AND owner = ? RETURNING stop_requested`,
		r.State, unixMS(r.HeartbeatAt), r.Details, unixMS(r.UpdatedAt), r.ContactID, r.Owner).Scan(&flag)
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.GetRecording(ctx, r.ContactID); err != nil {
			return false, err
		}
		return false, fmt.Errorf("%w: recording %s", ErrNotOwner, r.ContactID)
	}
	if err != nil {
		return false, fmt.Errorf("store: save recording %s: %w", r.ContactID, err)
	}
	return flag != 0, nil
}

// RequestRecordingStop asks the replica recording a contact to stop; it
// sees the request at its next heartbeat.
func (s *Store) RequestRecordingStop(ctx context.Context, contactID string) error {
	n, err := s.q().exec(ctx, `UPDATE vmx_recording SET stop_requested = 1 WHERE contact_id = ?`, contactID)
	if err != nil {
		return fmt.Errorf("store: stop recording %s: %w", contactID, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: recording %s", ErrNotFound, contactID)
	}
	return nil
}

// StaleRecordings returns up to limit active recordings whose heartbeat is
// older than before (released ones included), oldest first.
func (s *Store) StaleRecordings(ctx context.Context, before time.Time, limit int) ([]*Recording, error) {
	rows, err := s.q().query(ctx, `SELECT `+recordingColumns+` FROM vmx_recording
		WHERE state = ? AND heartbeat_at < ? ORDER BY heartbeat_at, contact_id LIMIT ?`, RecordingActive, unixMS(before), limit)
	if err != nil {
		return nil, fmt.Errorf("store: stale recordings: %w", err)
	}
	defer rows.Close()
	var out []*Recording
	for rows.Next() {
		r, err := scanRecording(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: stale recordings: %w", err)
	}
	return out, nil
}

// ClaimRecording makes owner the owner of an active recording whose
// heartbeat is still the one a StaleRecordings listing returned, so that of
// replicas racing for it exactly one wins. It reports whether owner won.
func (s *Store) ClaimRecording(ctx context.Context, contactID, owner string, seen, now time.Time) (bool, error) {
	n, err := s.q().exec(ctx, `UPDATE vmx_recording SET owner = ?, heartbeat_at = ?, updated_at = ?
		WHERE contact_id = ? AND state = ? AND heartbeat_at = ?`,
		owner, unixMS(now), unixMS(now), contactID, RecordingActive, unixMS(seen))
	if err != nil {
		return false, fmt.Errorf("store: claim recording %s: %w", contactID, err)
	}
	return n == 1, nil
}

// PutRecordingSegment stores a transcript segment, replacing one of the
// same side that starts at the same time. A final (not partial) segment
// also replaces the partial segments of its side that start before it
// ends: the interim transcript of the utterance it completes.
func (s *Store) PutRecordingSegment(ctx context.Context, g RecordingSegment) error {
	partial := 0
	if g.Partial {
		partial = 1
	}
	err := s.InTx(ctx, func(tx *Tx) error {
		if !g.Partial {
			if _, err := tx.q.exec(ctx, `DELETE FROM vmx_recording_segment WHERE contact_id = ? AND track = ? AND partial = 1 AND start_ms < ?`,
				g.ContactID, g.Track, g.EndMS); err != nil {
				return err
			}
		}
		_, err := tx.q.exec(ctx, `INSERT INTO vmx_recording_segment (contact_id, track, start_ms, end_ms, text, confidence, partial)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (contact_id, track, start_ms) DO UPDATE SET end_ms = excluded.end_ms, text = excluded.text,
				confidence = excluded.confidence, partial = excluded.partial`,
			g.ContactID, g.Track, g.StartMS, g.EndMS, g.Text, g.Confidence, partial)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: recording segment %s/%s/%d: %w", g.ContactID, g.Track, g.StartMS, err)
	}
	return nil
}

// RecordingSegments returns a recording's transcript in time order, the
// customer's side first at equal times.
func (s *Store) RecordingSegments(ctx context.Context, contactID string) ([]RecordingSegment, error) {
	rows, err := s.q().query(ctx, `SELECT track, start_ms, end_ms, text, confidence, partial FROM vmx_recording_segment
		WHERE contact_id = ? ORDER BY start_ms, track`, contactID)
	if err != nil {
		return nil, fmt.Errorf("store: segments of %s: %w", contactID, err)
	}
	defer rows.Close()
	out := []RecordingSegment{}
	for rows.Next() {
		g := RecordingSegment{ContactID: contactID}
		var partial int
		if err := rows.Scan(&g.Track, &g.StartMS, &g.EndMS, &g.Text, &g.Confidence, &partial); err != nil {
			return nil, fmt.Errorf("store: segments of %s: %w", contactID, err)
		}
		g.Partial = partial != 0
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: segments of %s: %w", contactID, err)
	}
	return out, nil
}
