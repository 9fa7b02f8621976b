package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/vmx-dev/vmx/internal/arn"
	"github.com/vmx-dev/vmx/internal/store"
)

// DefaultPasswordCost is the bcrypt cost of password hashes: about a
// quarter second on a server core.
const DefaultPasswordCost = 12

const (
	minPasswordCost = bcrypt.MinCost
	maxPasswordCost = 16
	// MinPasswordLen and MaxPasswordLen bound a password, in bytes; bcrypt
	// reads no more than 72.
	MinPasswordLen = 8
	MaxPasswordLen = 72
	// maxFormBytes bounds a form body.
	maxFormBytes = 64 << 10
	csrfField    = "_csrf"
	csrfHeader   = "X-CSRF-Token"
)

// HashPassword returns the bcrypt hash of password at cost (0 means
// DefaultPasswordCost), refusing passwords that are too short or too long.
func HashPassword(password string, cost int) (string, error) {
	if cost == 0 {
		cost = DefaultPasswordCost
	}
	if cost < minPasswordCost || cost > maxPasswordCost {
		return "", fmt.Errorf("web: password cost %d outside [%d, %d]", cost, minPasswordCost, maxPasswordCost)
	}
	if len(password) < MinPasswordLen || len(password) > MaxPasswordLen {
		return "", fmt.Errorf("web: a password must be %d to %d bytes long", MinPasswordLen, MaxPasswordLen)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("web: hash password: %w", err)
	}
	return string(h), nil
}

// UserSpec describes a user of the inbox.
type UserSpec struct {
	Username string
	Password string
	Role     store.Role
	// AgentID and AgentUsername are the user's Amazon Connect user ID and
	// username, when they are an agent there.
	AgentID       string
	AgentUsername string
	// Queues are the ARNs of the queues whose voicemails the user sees.
	Queues []string
}

// usernameRE is checked with a length of at most 64: a counted
// repetition would compile to 64 copies of its class at every start.
var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._@-]*$`)

// NewUser checks spec and returns the user to store, with the password
// hashed at cost (0 means DefaultPasswordCost) and the username in lower
// case. It reports every problem at once.
func NewUser(spec UserSpec, cost int, now time.Time) (*store.User, error) {
	var errs []error
	name := strings.ToLower(strings.TrimSpace(spec.Username))
	if len(name) > 64 || !usernameRE.MatchString(name) {
		errs = append(errs, fmt.Errorf("web: username %q: want 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit", spec.Username))
	}
	if spec.Role != store.RoleAdmin && spec.Role != store.RoleAgent {
		errs = append(errs, fmt.Errorf("web: role %q: want admin or agent", spec.Role))
	}
	var queues []string
	for _, q := range spec.Queues {
		q = strings.TrimSpace(q)
		if a, ok := arn.ParseQueue(q); !ok || a.Queue == "" {
			errs = append(errs, fmt.Errorf("web: queue %q is not an Amazon Connect queue ARN (arn:aws:connect:REGION:ACCOUNT:instance/ID/queue/ID)", q))
			continue
		}
		queues = append(queues, q)
	}
	if len(spec.AgentID) > 128 || len(spec.AgentUsername) > 128 {
		errs = append(errs, errors.New("web: agent ID and username are at most 128 bytes"))
	}
	hash, err := HashPassword(spec.Password, cost)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &store.User{
		Username: name, PasswordHash: hash, Role: spec.Role,
		AgentID: strings.TrimSpace(spec.AgentID), AgentUsername: strings.TrimSpace(spec.AgentUsername),
		Queues: queues, CreatedAt: now.UTC(), UpdatedAt: now.UTC(),
	}, nil
}

// session is a signed-in user's session.
type session struct {
	user   *store.User
	idHash string
	csrf   string
}

// scope is what the session's user may see.
func (s *session) scope() store.Scope {
	switch s.user.Role {
	case store.RoleAdmin:
		return store.Scope{All: true}
	case store.RoleAgent:
		return store.Scope{Username: s.user.Username, AgentID: s.user.AgentID, AgentUsername: s.user.AgentUsername, Queues: s.user.Queues}
	}
	return store.Scope{}
}

func (s *session) admin() bool { return s.user.Role == store.RoleAdmin }

func hashID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// csrfToken derives the session's CSRF token from its secret ID, so that
// only the cookie's holder can know it and nothing more need be stored.
func csrfToken(raw []byte) string {
	m := hmac.New(sha256.New, raw)
	m.Write([]byte("vmx inbox csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func randomToken() ([]byte, string) {
	b := make([]byte, 32)
	rand.Read(b)
	return b, base64.RawURLEncoding.EncodeToString(b)
}

// session returns the request's session, nil when it has none or it ended.
func (h *Handler) session(r *http.Request) (*session, error) {
	c, err := r.Cookie(h.cookie)
	if err != nil {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(raw) != 32 {
		return nil, nil
	}
	return h.sessionOf(r.Context(), raw)
}

func (h *Handler) sessionOf(ctx context.Context, raw []byte) (*session, error) {
	idHash := hashID(raw)
	u, _, err := h.deps.Store.SessionUser(ctx, idHash, h.deps.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("web: session: %w", err)
	}
	return &session{user: u, idHash: idHash, csrf: csrfToken(raw)}, nil
}

// authed serves fn to signed-in users; others are sent to sign in. Every
// request but GET and HEAD must carry the session's CSRF token, in the
// form field _csrf or the X-CSRF-Token header.
func (h *Handler) authed(fn func(w http.ResponseWriter, r *http.Request, s *session) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := h.session(r)
		if err != nil {
			h.fail(w, r, nil, err)
			return
		}
		if s == nil {
			if r.Method == http.MethodGet && r.URL.Path != "/events" && r.URL.Path != "/list" {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			h.fail(w, r, nil, errorf(http.StatusUnauthorized, "Please sign in."))
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			token := r.Header.Get(csrfHeader)
			if token == "" {
				token = r.PostFormValue(csrfField)
			}
			if subtle.ConstantTimeCompare([]byte(token), []byte(s.csrf)) != 1 {
				h.fail(w, r, s, errorf(http.StatusForbidden, "This form has expired or came from another site. Go back, reload the page and try again."))
				return
			}
		}
		if err := fn(w, r, s); err != nil {
			h.fail(w, r, s, err)
		}
	})
}

func (h *Handler) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

// loginCookie carries the sign-in form's CSRF token (a double-submit
// token: there is no session yet to derive one from).
func (h *Handler) loginCookie() string {
	if h.secure {
		return "__Host-vmx_login"
	}
	return "vmx_login"
}

type loginPage struct {
	base
	Username string
	Next     string
	Error    string
}

func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request) error {
	next := r.URL.Query().Get("next")
	if s, err := h.session(r); err == nil && s != nil {
		if !localRedirect(next) {
			next = "/"
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
		return nil
	}
	h.renderLogin(w, r, http.StatusOK, "", next, "")
	return nil
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, username, next, msg string) {
	_, token := randomToken()
	h.setCookie(w, h.loginCookie(), token, time.Hour)
	if !localRedirect(next) {
		next = ""
	}
	page := loginPage{base: h.base(r, nil, "Sign in"), Username: username, Next: next, Error: msg}
	page.CSRF = token
	h.render(w, status, "login", page)
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return errorf(http.StatusBadRequest, "The form could not be read.")
	}
	next := r.PostForm.Get("next")
	c, err := r.Cookie(h.loginCookie())
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostForm.Get(csrfField))) != 1 {
		h.renderLogin(w, r, http.StatusForbidden, "", next,
			"The sign-in form expired, or your browser does not keep cookies for this site. Please try again.")
		return nil
	}
	username := strings.ToLower(strings.TrimSpace(r.PostForm.Get("username")))
	password := r.PostForm.Get("password")
	if len(username) > 128 {
		// No such user can exist; it is not worth remembering either.
		h.renderLogin(w, r, http.StatusUnauthorized, "", next, "Wrong username or password.")
		return nil
	}
	now := h.deps.Now()
	if wait := h.limiter.wait(username, now); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Round(time.Second)/time.Second)))
		h.renderLogin(w, r, http.StatusTooManyRequests, username, next,
			fmt.Sprintf("Too many failed sign-ins for this username. Try again in %s.", roundUp(wait)))
		return nil
	}
	u, err := h.deps.Store.GetUser(r.Context(), username)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("web: sign in: %w", err)
	}
	ok := false
	if u != nil {
		ok = bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) == nil
	} else {
		// As slow as a real check, so that timing does not tell which
		// usernames exist.
		_ = bcrypt.CompareHashAndPassword(h.dummyHash(), []byte(password))
	}
	if !ok {
		h.limiter.fail(username, now)
		h.log.Info("sign-in failed", "username", username, "known", u != nil)
		h.renderLogin(w, r, http.StatusUnauthorized, username, next, "Wrong username or password.")
		return nil
	}
	h.limiter.reset(username)
	raw, cookie := randomToken()
	if err := h.deps.Store.CreateSession(r.Context(), hashID(raw), u.Username, now, now.Add(h.cfg.SessionLifetime)); err != nil {
		return fmt.Errorf("web: sign in: %w", err)
	}
	if _, err := h.deps.Store.DeleteExpiredSessions(r.Context(), now); err != nil {
		h.log.Warn("delete expired sessions", "err", err)
	}
	h.setCookie(w, h.cookie, cookie, h.cfg.SessionLifetime)
	h.setCookie(w, h.loginCookie(), "", -1)
	h.log.Info("signed in", "username", u.Username, "role", u.Role)
	if !localRedirect(next) {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

func roundUp(d time.Duration) string {
	if d <= time.Minute {
		return "a minute"
	}
	return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
}

func (h *Handler) dummyHash() []byte {
	h.dummy.once.Do(func() {
		h.dummy.hash, _ = bcrypt.GenerateFromPassword([]byte("no such user, no such password"), h.cfg.PasswordCost)
	})
	return h.dummy.hash
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := h.deps.Store.DeleteSession(r.Context(), s.idHash); err != nil {
		return fmt.Errorf("web: sign out: %w", err)
	}
	h.setCookie(w, h.cookie, "", -1)
	http.Redirect(w, r, "/login?done=signedout", http.StatusSeeOther)
	return nil
}

// limiter locks a username out after too many failed sign-ins in a
// window. It lives in memory: each replica counts on its own.
type limiter struct {
	max    int
	window time.Duration
	mu     sync.Mutex
	fails  map[string]failures
}

type failures struct {
	n     int
	first time.Time
}

// maxTracked bounds the usernames tracked, against a flood of made-up
// names.
const maxTracked = 100_000

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window, fails: map[string]failures{}}
}

// wait returns how long username must wait before trying again; 0 when it
// may try now.
func (l *limiter) wait(username string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.fails[username]
	if !ok || f.n < l.max {
		return 0
	}
	if left := f.first.Add(l.window).Sub(now); left > 0 {
		return left
	}
	delete(l.fails, username)
	return 0
}

func (l *limiter) fail(username string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.fails[username]
	if !ok || now.Sub(f.first) >= l.window {
		if len(l.fails) >= maxTracked {
			for k, v := range l.fails {
				if now.Sub(v.first) >= l.window {
					delete(l.fails, k)
				}
			}
		}
		f = failures{first: now}
	}
	f.n++
	l.fails[username] = f
}

func (l *limiter) reset(username string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, username)
}
