package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrExists is returned by CreateUser for a username that is taken.
var ErrExists = errors.New("store: already exists")

// Role is what a user of the web inbox may do.
type Role string

// Roles.
const (
	// RoleAdmin sees every voicemail, assigns and deletes them.
	RoleAdmin Role = "admin"
	// RoleAgent sees the voicemails for them, their queues' and those
	// assigned to them.
	RoleAgent Role = "agent"
)

// User is a user of the web inbox. The password is kept only as a hash,
// which the web package makes and checks.
type User struct {
	Username     string // lower case
	PasswordHash string
	Role         Role
	// AgentID and AgentUsername are the user's Amazon Connect user ID and
	// username: voicemails routed to that agent are theirs.
	AgentID       string
	AgentUsername string
	// Queues are the ARNs of the queues whose voicemails the user sees.
	Queues    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

const userColumns = `username, password_hash, role, agent_id, agent_username, queues, created_at, updated_at`

func scanUser(row scanner) (*User, error) {
	var (
		u                User
		role, queues     string
		created, updated int64
	)
	err := row.Scan(&u.Username, &u.PasswordHash, &role, &u.AgentID, &u.AgentUsername, &queues, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: read user: %w", err)
	}
	if err := json.Unmarshal([]byte(queues), &u.Queues); err != nil {
		return nil, fmt.Errorf("store: user %s: queues: %w", u.Username, err)
	}
	u.Role = Role(role)
	u.CreatedAt = time.UnixMilli(created).UTC()
	u.UpdatedAt = time.UnixMilli(updated).UTC()
	return &u, nil
}

func queuesJSON(queues []string) (string, error) {
	if queues == nil {
		queues = []string{}
	}
	b, err := json.Marshal(queues)
	return string(b), err
}

// CreateUser stores a new user, or returns ErrExists.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	queues, err := queuesJSON(u.Queues)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	n, err := s.q().exec(ctx, `INSERT INTO vmx_user (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (username) DO NOTHING`,
		u.Username, u.PasswordHash, string(u.Role), u.AgentID, u.AgentUsername, queues, u.CreatedAt.UnixMilli(), u.UpdatedAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: create user %s: %w", u.Username, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: user %s", ErrExists, u.Username)
	}
	return nil
}

// UpdateUser rewrites a user's password hash, role, agent and queues. A
// changed password hash ends the user's sessions.
func (s *Store) UpdateUser(ctx context.Context, u *User) error {
	queues, err := queuesJSON(u.Queues)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return s.InTx(ctx, func(tx *Tx) error {
		var old string
		err := tx.q.queryRow(ctx, `SELECT password_hash FROM vmx_user WHERE username = ?`, u.Username).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) || errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: user %s", ErrNotFound, u.Username)
		}
		if err != nil {
			return fmt.Errorf("store: update user %s: %w", u.Username, err)
		}
		if old != u.PasswordHash {
			if _, err := tx.q.exec(ctx, `DELETE FROM vmx_session WHERE username = ?`, u.Username); err != nil {
				return fmt.Errorf("store: update user %s: %w", u.Username, err)
			}
		}
		if _, err := tx.q.exec(ctx, `UPDATE vmx_user SET password_hash = ?, role = ?, agent_id = ?, agent_username = ?, queues = ?, updated_at = ?
			WHERE username = ?`, u.PasswordHash, string(u.Role), u.AgentID, u.AgentUsername, queues, u.UpdatedAt.UnixMilli(), u.Username); err != nil {
			return fmt.Errorf("store: update user %s: %w", u.Username, err)
		}
		return nil
	})
}

// GetUser returns the user, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, username string) (*User, error) {
	return scanUser(s.q().queryRow(ctx, `SELECT `+userColumns+` FROM vmx_user WHERE username = ?`, username))
}

// Users returns every user, by username.
func (s *Store) Users(ctx context.Context) ([]*User, error) {
	rs, err := s.q().query(ctx, `SELECT `+userColumns+` FROM vmx_user ORDER BY username`)
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	defer rs.Close()
	var out []*User
	for rs.Next() {
		u, err := scanUser(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	return out, nil
}

// DeleteUser removes a user and their sessions.
func (s *Store) DeleteUser(ctx context.Context, username string) error {
	return s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.q.exec(ctx, `DELETE FROM vmx_session WHERE username = ?`, username); err != nil {
			return fmt.Errorf("store: delete user %s: %w", username, err)
		}
		n, err := tx.q.exec(ctx, `DELETE FROM vmx_user WHERE username = ?`, username)
		if err != nil {
			return fmt.Errorf("store: delete user %s: %w", username, err)
		}
		if n == 0 {
			return fmt.Errorf("%w: user %s", ErrNotFound, username)
		}
		return nil
	})
}

// CreateSession records a signed-in session under the hash of its secret
// ID; the ID itself is never stored.
func (s *Store) CreateSession(ctx context.Context, idHash, username string, created, expires time.Time) error {
	if _, err := s.q().exec(ctx, `INSERT INTO vmx_session (id_hash, username, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		idHash, username, created.UnixMilli(), expires.UnixMilli()); err != nil {
		return fmt.Errorf("store: create session: %w", err)
	}
	return nil
}

// SessionUser returns the user of the session with the given ID hash and
// the session's expiry, or ErrNotFound when there is no such session or it
// expired before now.
func (s *Store) SessionUser(ctx context.Context, idHash string, now time.Time) (*User, time.Time, error) {
	var expires int64
	u, err := scanUser(extraScanner{
		row: s.q().queryRow(ctx, `SELECT `+qualified("u", userColumns)+`, s.expires_at
			FROM vmx_session s JOIN vmx_user u ON u.username = s.username
			WHERE s.id_hash = ? AND s.expires_at > ?`, idHash, now.UnixMilli()),
		extra: []any{&expires},
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	return u, time.UnixMilli(expires).UTC(), nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	if _, err := s.q().exec(ctx, `DELETE FROM vmx_session WHERE id_hash = ?`, idHash); err != nil {
		return fmt.Errorf("store: delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions removes sessions that expired before now.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	n, err := s.q().exec(ctx, `DELETE FROM vmx_session WHERE expires_at <= ?`, now.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("store: delete expired sessions: %w", err)
	}
	return n, nil
}
