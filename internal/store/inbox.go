package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vmx-dev/vmx/internal/voicemail"
)

// InboxState is where a voicemail stands in the web inbox, apart from the
// pipeline's status: whether someone has dealt with it.
type InboxState string

// Inbox states.
const (
	// InboxNone: the voicemail was not delivered to the inbox and nobody
	// marked it.
	InboxNone    InboxState = ""
	InboxNew     InboxState = "new"
	InboxHandled InboxState = "handled"
)

// Inbox status filters: an inbox state or a pipeline status.
const (
	FilterNew        = "new"        // inbox state new
	FilterHandled    = "handled"    // inbox state handled
	FilterFailed     = "failed"     // the pipeline gave up
	FilterEmpty      = "empty"      // no speech in the recording
	FilterProcessing = "processing" // the pipeline is still at work
)

// InboxItem is a voicemail with its inbox state.
type InboxItem struct {
	Voicemail *voicemail.Record
	State     InboxState
	// ChangedBy is the user who last set State.
	ChangedBy string
	// Assignee is the username of the user the voicemail is assigned to.
	Assignee string
	// ChangedAt is when State or Assignee last changed; zero if never.
	ChangedAt time.Time
}

// Scope is which voicemails a user may see: all of them, or those routed to
// their Connect agent (Route.AgentID, Route.AgentUsername, or the agent of
// the personal queue the contact named), those of their queues
// (Request.QueueARN or Route.QueueARN) and those assigned to them. A scope
// naming nothing sees nothing.
type Scope struct {
	All           bool
	Username      string // vmx username, for assignments
	AgentID       string
	AgentUsername string // compared case-insensitively
	Queues        []string
}

// InboxQuery selects voicemails for the inbox. Empty fields select all.
type InboxQuery struct {
	Scope Scope
	// Queue is a queue ARN (Request.QueueARN or Route.QueueARN).
	Queue string
	// Agent is a Connect agent ID or username, or the username of the
	// assignee; usernames compare case-insensitively.
	Agent string
	// Status is one of the Filter constants.
	Status string
	// From and To bound the call time: From <= call time < To.
	From, To time.Time
	// Search holds terms that must all appear in the transcript or the
	// caller's number, case-insensitively (ASCII case on SQLite).
	Search []string
	// IDs, when not nil, selects only these contacts.
	IDs []string
	// Limit is the page size: default 25, at most 200.
	Limit int
	// After continues with older voicemails than the page whose Older
	// cursor it is; Before with newer ones (Newer). At most one is set.
	After, Before string
}

// InboxPage is one page of the inbox, newest call first.
type InboxPage struct {
	Items []*InboxItem
	// Older and Newer, when not empty, are the cursors of the neighbouring
	// pages, for InboxQuery.After and Before.
	Older, Newer string
}

// jsonText is an SQL expression for a string in a voicemail's details
// document, empty when absent. path holds constant names only.
func (s *Store) jsonText(path ...string) string {
	if s.dialect == postgres {
		return "COALESCE(v.details::jsonb #>> '{" + strings.Join(path, ",") + "}', '')"
	}
	return "COALESCE(json_extract(v.details, '$." + strings.Join(path, ".") + "'), '')"
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// qualified prefixes each column of a column list with a table alias.
func qualified(alias, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

// extraScanner scans a row's leading columns with the dest it is given and
// its trailing ones into extra.
type extraScanner struct {
	row   scanner
	extra []any
}

func (e extraScanner) Scan(dest ...any) error {
	return e.row.Scan(append(dest, e.extra...)...)
}

func (s *Store) scopeWhere(sc Scope) (string, []any) {
	if sc.All {
		return "", nil
	}
	var or []string
	var args []any
	if sc.Username != "" {
		or = append(or, "COALESCE(i.assignee, '') = ?")
		args = append(args, sc.Username)
	}
	if sc.AgentID != "" {
		or = append(or, "v.agent_id = ?", s.jsonText("route", "agent_id")+" = ?")
		args = append(args, sc.AgentID, sc.AgentID)
	}
	if sc.AgentUsername != "" {
		or = append(or, "LOWER("+s.jsonText("route", "agent_username")+") = ?")
		args = append(args, strings.ToLower(sc.AgentUsername))
	}
	var queues []any
	for _, q := range sc.Queues {
		if q != "" {
			queues = append(queues, q)
		}
	}
	if len(queues) > 0 {
		ph := placeholders(len(queues))
		or = append(or, "v.queue_arn IN ("+ph+")", s.jsonText("route", "queue_arn")+" IN ("+ph+")")
		args = append(append(args, queues...), queues...)
	}
	if len(or) == 0 {
		return "1 = 0", nil
	}
	return "(" + strings.Join(or, " OR ") + ")", args
}

// escapeLike escapes LIKE's wildcards for ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func encodeInboxCursor(rec *voicemail.Record) string {
	return strconv.FormatInt(rec.CallTime.UnixMilli(), 10) + "." + rec.ContactID
}

func decodeInboxCursor(c string) (int64, string, error) {
	ms, id, ok := strings.Cut(c, ".")
	at, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || id == "" {
		return 0, "", fmt.Errorf("store: invalid inbox cursor %q", c)
	}
	return at, id, nil
}

const inboxColumns = `, COALESCE(i.state, ''), COALESCE(i.changed_by, ''), COALESCE(i.assignee, ''), COALESCE(i.updated_at, 0)`

// Inbox returns a page of the voicemails q selects, newest call first.
func (s *Store) Inbox(ctx context.Context, q InboxQuery) (*InboxPage, error) {
	if q.Limit <= 0 {
		q.Limit = 25
	}
	q.Limit = min(q.Limit, 200)
	if q.After != "" && q.Before != "" {
		return nil, errors.New("store: inbox query with both After and Before")
	}
	page := &InboxPage{Items: []*InboxItem{}}
	if q.IDs != nil && len(q.IDs) == 0 {
		return page, nil
	}
	var where []string
	var args []any
	add := func(clause string, a ...any) {
		if clause != "" {
			where = append(where, clause)
			args = append(args, a...)
		}
	}
	scope, scopeArgs := s.scopeWhere(q.Scope)
	add(scope, scopeArgs...)
	if q.IDs != nil {
		ids := make([]any, len(q.IDs))
		for i, id := range q.IDs {
			ids[i] = id
		}
		add("v.contact_id IN ("+placeholders(len(ids))+")", ids...)
	}
	if q.Queue != "" {
		add("(v.queue_arn = ? OR "+s.jsonText("route", "queue_arn")+" = ?)", q.Queue, q.Queue)
	}
	if q.Agent != "" {
		lower := strings.ToLower(q.Agent)
		add("(LOWER("+s.jsonText("route", "agent_username")+") = ? OR "+s.jsonText("route", "agent_id")+" = ? OR v.agent_id = ? OR COALESCE(i.assignee, '') = ?)",
			lower, q.Agent, q.Agent, lower)
	}
	switch q.Status {
	case "":
	case FilterNew, FilterHandled:
		add("COALESCE(i.state, '') = ?", q.Status)
	case FilterFailed:
		add("v.status = ?", string(voicemail.StatusFailed))
	case FilterEmpty:
		add("(v.status = ? OR v.empty <> 0)", string(voicemail.StatusEmpty))
	case FilterProcessing:
		add("v.status = ?", string(voicemail.StatusQueued))
	default:
		return nil, fmt.Errorf("store: unknown inbox status filter %q", q.Status)
	}
	if !q.From.IsZero() {
		add("v.call_time >= ?", q.From.UnixMilli())
	}
	if !q.To.IsZero() {
		add("v.call_time < ?", q.To.UnixMilli())
	}
	for _, term := range q.Search {
		if term == "" {
			continue
		}
		like := "%" + escapeLike(strings.ToLower(term)) + "%"
		add(`(LOWER(v.transcript) LIKE ? ESCAPE '\' OR v.caller LIKE ? ESCAPE '\')`, like, like)
	}
	order := "DESC"
	switch {
	case q.After != "":
		at, id, err := decodeInboxCursor(q.After)
		if err != nil {
			return nil, err
		}
		add("(v.call_time < ? OR (v.call_time = ? AND v.contact_id < ?))", at, at, id)
	case q.Before != "":
		at, id, err := decodeInboxCursor(q.Before)
		if err != nil {
			return nil, err
		}
		add("(v.call_time > ? OR (v.call_time = ? AND v.contact_id > ?))", at, at, id)
		order = "ASC"
	}
	query := `SELECT ` + qualified("v", voicemailColumns) + inboxColumns + `
		FROM vmx_voicemail v LEFT JOIN vmx_inbox i ON i.contact_id = v.contact_id`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY v.call_time " + order + ", v.contact_id " + order + " LIMIT ?"
	args = append(args, q.Limit+1)
	rs, err := s.q().query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: inbox: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		it, err := scanInboxItem(rs)
		if err != nil {
			return nil, err
		}
		page.Items = append(page.Items, it)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: inbox: %w", err)
	}
	more := len(page.Items) > q.Limit
	if more {
		page.Items = page.Items[:q.Limit]
	}
	if q.Before != "" {
		for i, j := 0, len(page.Items)-1; i < j; i, j = i+1, j-1 {
			page.Items[i], page.Items[j] = page.Items[j], page.Items[i]
		}
	}
	n := len(page.Items)
	switch {
	case q.Before != "":
		if more && n > 0 {
			page.Newer = encodeInboxCursor(page.Items[0].Voicemail)
		}
		if n > 0 {
			page.Older = encodeInboxCursor(page.Items[n-1].Voicemail)
		} else {
			page.Older = q.Before
		}
	default:
		if more {
			page.Older = encodeInboxCursor(page.Items[n-1].Voicemail)
		}
		if q.After != "" {
			if n > 0 {
				page.Newer = encodeInboxCursor(page.Items[0].Voicemail)
			} else {
				page.Newer = q.After
			}
		}
	}
	return page, nil
}

func scanInboxItem(row scanner) (*InboxItem, error) {
	var (
		it    InboxItem
		state string
		at    int64
	)
	rec, err := scanVoicemail(extraScanner{row: row, extra: []any{&state, &it.ChangedBy, &it.Assignee, &at}})
	if err != nil {
		return nil, err
	}
	it.Voicemail, it.State = rec, InboxState(state)
	if at != 0 {
		it.ChangedAt = time.UnixMilli(at).UTC()
	}
	return &it, nil
}

// InboxGet returns the voicemail with its receipts and inbox state when
// the scope includes it, else ErrNotFound.
func (s *Store) InboxGet(ctx context.Context, contactID string, sc Scope) (*InboxItem, error) {
	page, err := s.Inbox(ctx, InboxQuery{Scope: sc, IDs: []string{contactID}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(page.Items) == 0 {
		return nil, fmt.Errorf("%w: voicemail %s", ErrNotFound, contactID)
	}
	it := page.Items[0]
	if it.Voicemail, err = s.Get(ctx, contactID); err != nil {
		return nil, err
	}
	return it, nil
}

// exists reports ErrNotFound for a contact with no voicemail.
func exists(ctx context.Context, q querier, contactID string) error {
	var one int
	err := q.queryRow(ctx, `SELECT 1 FROM vmx_voicemail WHERE contact_id = ?`, contactID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: voicemail %s", ErrNotFound, contactID)
	}
	if err != nil {
		return fmt.Errorf("store: voicemail %s: %w", contactID, err)
	}
	return nil
}

// SetInboxState sets the voicemail's inbox state, recording who set it.
func (s *Store) SetInboxState(ctx context.Context, contactID string, state InboxState, by string, now time.Time) error {
	return s.InTx(ctx, func(tx *Tx) error {
		if err := exists(ctx, tx.q, contactID); err != nil {
			return err
		}
		_, err := tx.q.exec(ctx, `INSERT INTO vmx_inbox (contact_id, state, changed_by, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (contact_id) DO UPDATE SET state = excluded.state, changed_by = excluded.changed_by, updated_at = excluded.updated_at`,
			contactID, string(state), by, now.UnixMilli())
		if err != nil {
			return fmt.Errorf("store: inbox state of %s: %w", contactID, err)
		}
		return nil
	})
}

// MarkInboxNew puts a voicemail in the inbox as new unless it already has
// an inbox state: a repeated delivery never undoes "handled". It reports
// whether the state changed.
func (s *Store) MarkInboxNew(ctx context.Context, contactID string, now time.Time) (bool, error) {
	var changed bool
	err := s.InTx(ctx, func(tx *Tx) error {
		if err := exists(ctx, tx.q, contactID); err != nil {
			return err
		}
		n, err := tx.q.exec(ctx, `INSERT INTO vmx_inbox (contact_id, state, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (contact_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at
			WHERE vmx_inbox.state = ''`, contactID, string(InboxNew), now.UnixMilli())
		if err != nil {
			return fmt.Errorf("store: inbox state of %s: %w", contactID, err)
		}
		changed = n > 0
		return nil
	})
	return changed, err
}

// AssignInbox assigns the voicemail to a user ("" unassigns it).
func (s *Store) AssignInbox(ctx context.Context, contactID, assignee string, now time.Time) error {
	return s.InTx(ctx, func(tx *Tx) error {
		if err := exists(ctx, tx.q, contactID); err != nil {
			return err
		}
		_, err := tx.q.exec(ctx, `INSERT INTO vmx_inbox (contact_id, assignee, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (contact_id) DO UPDATE SET assignee = excluded.assignee, updated_at = excluded.updated_at`,
			contactID, assignee, now.UnixMilli())
		if err != nil {
			return fmt.Errorf("store: assign %s: %w", contactID, err)
		}
		return nil
	})
}

// Change is a voicemail that changed: its pipeline row or its inbox state.
type Change struct {
	ContactID string
	At        time.Time
}

// InboxChanges returns up to limit changes made at or after since, oldest
// first. A voicemail may appear twice: once per table.
func (s *Store) InboxChanges(ctx context.Context, since time.Time, limit int) ([]Change, error) {
	ms := since.UnixMilli()
	rs, err := s.q().query(ctx, `SELECT contact_id, updated_at FROM vmx_voicemail WHERE updated_at >= ?
		UNION ALL SELECT contact_id, updated_at FROM vmx_inbox WHERE updated_at >= ?
		ORDER BY 2 LIMIT ?`, ms, ms, limit)
	if err != nil {
		return nil, fmt.Errorf("store: inbox changes: %w", err)
	}
	defer rs.Close()
	var out []Change
	for rs.Next() {
		var c Change
		var at int64
		if err := rs.Scan(&c.ContactID, &at); err != nil {
			return nil, fmt.Errorf("store: inbox changes: %w", err)
		}
		c.At = time.UnixMilli(at).UTC()
		out = append(out, c)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: inbox changes: %w", err)
	}
	return out, nil
}

// Queue is a queue voicemails were left for, with the name routing found.
type Queue struct {
	ARN  string
	Name string // "" when never looked up
}

// InboxQueues returns the queues of the stored voicemails, by ARN.
func (s *Store) InboxQueues(ctx context.Context) ([]Queue, error) {
	rs, err := s.q().query(ctx, `SELECT v.queue_arn, MAX(`+s.jsonText("route", "queue_name")+`)
		FROM vmx_voicemail v WHERE v.queue_arn <> '' GROUP BY v.queue_arn ORDER BY v.queue_arn`)
	if err != nil {
		return nil, fmt.Errorf("store: inbox queues: %w", err)
	}
	defer rs.Close()
	var out []Queue
	for rs.Next() {
		var q Queue
		if err := rs.Scan(&q.ARN, &q.Name); err != nil {
			return nil, fmt.Errorf("store: inbox queues: %w", err)
		}
		out = append(out, q)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: inbox queues: %w", err)
	}
	return out, nil
}
