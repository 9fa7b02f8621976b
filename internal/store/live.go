package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Live conversation states. A conversation is stopping from the moment a
// stop-streaming reaches a replica other than the one transcribing it
// until that one has stopped.
const (
	LiveActive   = "active"
	LiveStopping = "stopping"
	LiveStopped  = "stopped"
)

// LiveConversation is a call transcribed live: what start-streaming asked
// for, the stream IDs given to its two participants and, once stopped, the
// summary stop-streaming returned.
type LiveConversation struct {
	GUID             string // the external conversation ID (Connect contact ID)
	Namespace        string
	CustomerID       string
	AgentID          string
	CustomerStreamID string
	AgentStreamID    string
	Language         string
	StreamARN        string
	Redact           bool
	State            string // LiveActive, LiveStopping or LiveStopped
	// Summary is the live package's JSON document of what was streamed:
	// the counts at the last heartbeat until the conversation stops.
	Summary   string
	StartedAt time.Time
	StoppedAt time.Time // zero while active
	// UpdatedAt is the row's version: every change but RequestLiveStop
	// moves it on. While a replica transcribes the conversation it is that
	// replica's heartbeat.
	UpdatedAt time.Time
}

// LiveMessage is one transcribed utterance of a live conversation.
type LiveMessage struct {
	GUID       string
	Seq        int64 // 1, 2, … in the order the utterances were transcribed
	StreamID   string
	Role       string // customer or agent
	ExternalID string // the customer or agent ID of the start request
	StartMS    int64
	EndMS      int64
	Text       string
	CreatedAt  time.Time
}

const liveConversationColumns = `guid, namespace, customer_id, agent_id, customer_stream_id, agent_stream_id,
	language, stream_arn, redact, state, summary, started_at, stopped_at, updated_at`

const liveMessageColumns = `guid, seq, stream_id, role, external_id, start_ms, end_ms, text, created_at`

func noRows(err error) bool { return errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) }

// liveConversationArgs are c's values in the order of
// liveConversationColumns.
func liveConversationArgs(c *LiveConversation) []any {
	redact := 0
	if c.Redact {
		redact = 1
	}
	summary := c.Summary
	if summary == "" {
		summary = "{}"
	}
	return []any{c.GUID, c.Namespace, c.CustomerID, c.AgentID, c.CustomerStreamID, c.AgentStreamID,
		c.Language, c.StreamARN, redact, c.State, summary, c.StartedAt.UnixMilli(), unixMS(c.StoppedAt), c.UpdatedAt.UnixMilli()}
}

// PutLiveConversation creates or replaces the conversation c.GUID.
func (s *Store) PutLiveConversation(ctx context.Context, c *LiveConversation) error {
	_, err := s.q().exec(ctx, `INSERT INTO vmx_live_conversation (`+liveConversationColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (guid) DO UPDATE SET namespace = excluded.namespace, customer_id = excluded.customer_id,
			agent_id = excluded.agent_id, customer_stream_id = excluded.customer_stream_id,
			agent_stream_id = excluded.agent_stream_id, language = excluded.language,
			stream_arn = excluded.stream_arn, redact = excluded.redact, state = excluded.state,
			summary = excluded.summary, started_at = excluded.started_at,
			stopped_at = excluded.stopped_at, updated_at = excluded.updated_at`,
		liveConversationArgs(c)...)
	if err != nil {
		return fmt.Errorf("store: put live conversation %s: %w", c.GUID, err)
	}
	return nil
}

// InsertLiveConversation stores a new conversation. It reports false, and
// changes nothing, when c.GUID has one already (another replica started it
// first).
func (s *Store) InsertLiveConversation(ctx context.Context, c *LiveConversation) (bool, error) {
	n, err := s.q().exec(ctx, `INSERT INTO vmx_live_conversation (`+liveConversationColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (guid) DO NOTHING`,
		liveConversationArgs(c)...)
	if err != nil {
		return false, fmt.Errorf("store: insert live conversation %s: %w", c.GUID, err)
	}
	return n == 1, nil
}

// ReplaceLiveConversation writes c over its conversation if the row is
// still at version (its UpdatedAt when read), and reports whether it did:
// of replicas racing to take a conversation over or to stop it, exactly
// one wins. c.UpdatedAt, the new version, must be later than version.
func (s *Store) ReplaceLiveConversation(ctx context.Context, c *LiveConversation, version time.Time) (bool, error) {
	if c.UpdatedAt.UnixMilli() <= version.UnixMilli() {
		return false, fmt.Errorf("store: replace live conversation %s: version %s is not after %s", c.GUID, c.UpdatedAt, version)
	}
	n, err := s.q().exec(ctx, `UPDATE vmx_live_conversation SET namespace = ?, customer_id = ?, agent_id = ?,
			customer_stream_id = ?, agent_stream_id = ?, language = ?, stream_arn = ?, redact = ?, state = ?,
			summary = ?, started_at = ?, stopped_at = ?, updated_at = ?
		WHERE guid = ? AND updated_at = ?`,
		append(liveConversationArgs(c)[1:], c.GUID, version.UnixMilli())...)
	if err != nil {
		return false, fmt.Errorf("store: replace live conversation %s: %w", c.GUID, err)
	}
	return n == 1, nil
}

// BeatLiveConversation is the heartbeat of the replica transcribing guid:
// it moves the version on from version to at and stores the summary so
// far. It reports false, and changes nothing, when the conversation is no
// longer at version (another replica took it for dead) or is stopped.
func (s *Store) BeatLiveConversation(ctx context.Context, guid string, version, at time.Time, summary string) (bool, error) {
	if at.UnixMilli() <= version.UnixMilli() {
		return false, fmt.Errorf("store: live conversation %s heartbeat: %s is not after %s", guid, at, version)
	}
	n, err := s.q().exec(ctx, `UPDATE vmx_live_conversation SET updated_at = ?, summary = ?
		WHERE guid = ? AND updated_at = ? AND state <> ?`, at.UnixMilli(), summary, guid, version.UnixMilli(), LiveStopped)
	if err != nil {
		return false, fmt.Errorf("store: live conversation %s heartbeat: %w", guid, err)
	}
	return n == 1, nil
}

// RequestLiveStop asks the replica transcribing guid to stop: the
// conversation becomes LiveStopping, its version unchanged. It reports
// false when guid is neither active nor stopping.
func (s *Store) RequestLiveStop(ctx context.Context, guid string) (bool, error) {
	n, err := s.q().exec(ctx, `UPDATE vmx_live_conversation SET state = ? WHERE guid = ? AND state IN (?, ?)`,
		LiveStopping, guid, LiveActive, LiveStopping)
	if err != nil {
		return false, fmt.Errorf("store: request stop of live conversation %s: %w", guid, err)
	}
	return n == 1, nil
}

// StoppingLiveConversations returns the GUIDs of the conversations whose
// stop was requested, for their replicas to stop them.
func (s *Store) StoppingLiveConversations(ctx context.Context) ([]string, error) {
	// A literal state, not a parameter, lets both databases use the
	// partial index vmx_live_conversation_stopping.
	rs, err := s.q().query(ctx, `SELECT guid FROM vmx_live_conversation WHERE state = 'stopping' ORDER BY guid`)
	if err != nil {
		return nil, fmt.Errorf("store: stopping live conversations: %w", err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var g string
		if err := rs.Scan(&g); err != nil {
			return nil, fmt.Errorf("store: read stopping live conversation: %w", err)
		}
		out = append(out, g)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: stopping live conversations: %w", err)
	}
	return out, nil
}

// LiveConversation returns the conversation guid, or ErrNotFound.
func (s *Store) LiveConversation(ctx context.Context, guid string) (*LiveConversation, error) {
	var (
		c                         LiveConversation
		redact                    int
		started, stopped, updated int64
	)
	err := s.q().queryRow(ctx, `SELECT `+liveConversationColumns+` FROM vmx_live_conversation WHERE guid = ?`, guid).
		Scan(&c.GUID, &c.Namespace, &c.CustomerID, &c.AgentID, &c.CustomerStreamID, &c.AgentStreamID,
			&c.Language, &c.StreamARN, &redact, &c.State, &c.Summary, &started, &stopped, &updated)
	if noRows(err) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: live conversation %s: %w", guid, err)
	}
	c.Redact = redact != 0
	c.StartedAt = time.UnixMilli(started).UTC()
	c.StoppedAt = timeMS(stopped)
	c.UpdatedAt = time.UnixMilli(updated).UTC()
	return &c, nil
}

// AddLiveMessage stores one utterance; a message with the same GUID and
// Seq is an error.
func (s *Store) AddLiveMessage(ctx context.Context, m *LiveMessage) error {
	_, err := s.q().exec(ctx, `INSERT INTO vmx_live_message (`+liveMessageColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.GUID, m.Seq, m.StreamID, m.Role, m.ExternalID, m.StartMS, m.EndMS, m.Text, m.CreatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: add live message %s/%d: %w", m.GUID, m.Seq, err)
	}
	return nil
}

// LastLiveSeq returns the highest Seq stored for guid, 0 when none is.
func (s *Store) LastLiveSeq(ctx context.Context, guid string) (int64, error) {
	var n int64
	if err := s.q().queryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM vmx_live_message WHERE guid = ?`, guid).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: last live message of %s: %w", guid, err)
	}
	return n, nil
}

// LiveMessages returns the first limit messages of guid in Seq order.
func (s *Store) LiveMessages(ctx context.Context, guid string, limit int) ([]LiveMessage, error) {
	return s.liveMessages(ctx, `SELECT `+liveMessageColumns+` FROM vmx_live_message WHERE guid = ? ORDER BY seq LIMIT ?`, guid, limit)
}

// LiveCursor is where a page of LiveMessagesBetween ended; the zero value
// starts at the beginning.
type LiveCursor struct {
	CreatedAt time.Time
	GUID      string
	Seq       int64
}

// LiveMessagesBetween returns up to limit messages created in [from, to),
// ordered by creation time, conversation and Seq, after cursor. Paging
// keeps each query short, so an export never holds the database.
func (s *Store) LiveMessagesBetween(ctx context.Context, from, to time.Time, after LiveCursor, limit int) ([]LiveMessage, error) {
	if after.CreatedAt.IsZero() {
		return s.liveMessages(ctx, `SELECT `+liveMessageColumns+` FROM vmx_live_message
			WHERE created_at >= ? AND created_at < ? ORDER BY created_at, guid, seq LIMIT ?`,
			from.UnixMilli(), to.UnixMilli(), limit)
	}
	at := after.CreatedAt.UnixMilli()
	return s.liveMessages(ctx, `SELECT `+liveMessageColumns+` FROM vmx_live_message
		WHERE created_at < ? AND (created_at > ? OR (created_at = ? AND (guid > ? OR (guid = ? AND seq > ?))))
		ORDER BY created_at, guid, seq LIMIT ?`,
		to.UnixMilli(), at, at, after.GUID, after.GUID, after.Seq, limit)
}

func (s *Store) liveMessages(ctx context.Context, q string, args ...any) ([]LiveMessage, error) {
	rs, err := s.q().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: live messages: %w", err)
	}
	defer rs.Close()
	out := []LiveMessage{}
	for rs.Next() {
		var (
			m       LiveMessage
			created int64
		)
		if err := rs.Scan(&m.GUID, &m.Seq, &m.StreamID, &m.Role, &m.ExternalID, &m.StartMS, &m.EndMS, &m.Text, &created); err != nil {
			return nil, fmt.Errorf("store: read live message: %w", err)
		}
		m.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, m)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: live messages: %w", err)
	}
	return out, nil
}
