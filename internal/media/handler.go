package media

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
)

// ErrUnknownContact is what a Resolver returns (wrapped or not) for a
// contact it has no recording for; the handler answers 404.
var ErrUnknownContact = errors.New("media: unknown contact")

// Resolver finds the blob key of a contact's recording.
type Resolver interface {
	// Lookup returns the key, or an error wrapping ErrUnknownContact (or
	// blob.ErrNotFound) when there is none.
	Lookup(ctx context.Context, contactID string) (key string, err error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, contactID string) (string, error)

// Lookup calls f.
func (f ResolverFunc) Lookup(ctx context.Context, contactID string) (string, error) {
	return f(ctx, contactID)
}

// Blobs is what the handler needs of a blob store. A store that also
// implements blob.Presigner is answered with redirects to presigned URLs;
// one that implements blob.SeekOpener is served with http.ServeContent;
// any other is streamed whole, without Range support.
type Blobs interface {
	Stat(ctx context.Context, key string) (blob.Info, error)
	Open(ctx context.Context, key string) (io.ReadCloser, blob.Info, error)
}

// DefaultPresignTTL is how long a redirect's presigned URL lives unless
// Config says otherwise.
const DefaultPresignTTL = 5 * time.Minute

// Config configures a Handler.
type Config struct {
	// Signer checks the links. Required.
	Signer Signer
	// Contacts maps a contact ID to its recording's key. Required.
	Contacts Resolver
	// Blobs holds the recordings. Required.
	Blobs Blobs
	// PresignTTL is the lifetime of the presigned URLs a Presigner store is
	// redirected to, capped by the link's own expiry. Default
	// DefaultPresignTTL; at most 7 days.
	PresignTTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives one line per refused or failed request. Default: no
	// logging.
	Logger *slog.Logger
}

// Handler serves GET and HEAD /v1/media/<contactId>?exp=…&sig=…: 403 for a
// missing or bad signature, 410 for an expired link, 404 for an unknown
// contact or a missing recording, then a 302 to a presigned URL or the
// recording itself (audio/wav, named <contactId>.wav). Mount it at
// PathPrefix; behind a path prefix, strip that with http.StripPrefix.
type Handler struct {
	cfg Config
	log *slog.Logger
}

// NewHandler checks c, fills in defaults and returns the handler.
func NewHandler(c Config) (*Handler, error) {
	switch {
	case c.Contacts == nil:
		return nil, errors.New("media: handler: Contacts is required")
	case c.Blobs == nil:
		return nil, errors.New("media: handler: Blobs is required")
	case c.PresignTTL < 0 || c.PresignTTL > 7*24*time.Hour:
		return nil, fmt.Errorf("media: handler: PresignTTL %s outside [0, 168h]", c.PresignTTL)
	}
	if err := c.Signer.checkSecret(); err != nil {
		return nil, fmt.Errorf("media: handler: %w", err)
	}
	if c.PresignTTL == 0 {
		c.PresignTTL = DefaultPresignTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: c, log: log.With("component", "media")}, nil
}

// statusError carries the status a request failure maps to.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

func withStatus(status int, err error) error { return &statusError{status, err} }

// ServeHTTP implements http.Handler. Failures are answered with their
// status and a random error ID that is also logged, so that a user's report
// finds the log line.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	contactID, err := h.serve(w, r)
	if err == nil {
		return
	}
	status := http.StatusInternalServerError
	var se *statusError
	if errors.As(err, &se) {
		status = se.status
	}
	errID := strings.ToLower(rand.Text()[:12])
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	h.log.LogAttrs(r.Context(), level, "media request refused",
		slog.Int("status", status), slog.String("err_id", errID),
		slog.String("contact_id", contactID), slog.String("method", r.Method), slog.Any("err", err))
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "GET, HEAD")
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, fmt.Sprintf("%s (error id %s)", http.StatusText(status), errID), status)
}

// serve answers the request or returns why it cannot, with the contact ID
// for the log when the path had one.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) (string, error) {
	contactID, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok || !ValidContactID(contactID) {
		return "", withStatus(http.StatusNotFound, fmt.Errorf("no contact ID in path %q", r.URL.Path))
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return contactID, withStatus(http.StatusMethodNotAllowed, fmt.Errorf("method %s", r.Method))
	}
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
	if err != nil {
		return contactID, withStatus(http.StatusForbidden, fmt.Errorf("%w: exp %q", ErrBadSignature, q.Get("exp")))
	}
	now := h.cfg.Now()
	if err := h.cfg.Signer.Verify(contactID, exp, q.Get("sig"), now); err != nil {
		switch {
		case errors.Is(err, ErrBadSignature):
			return contactID, withStatus(http.StatusForbidden, err)
		case errors.Is(err, ErrExpired):
			return contactID, withStatus(http.StatusGone, err)
		}
		return contactID, err
	}
	ctx := r.Context()
	key, err := h.cfg.Contacts.Lookup(ctx, contactID)
	if err != nil {
		return contactID, notFoundOr(fmt.Errorf("look up contact: %w", err))
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	switch st := h.cfg.Blobs.(type) {
	case blob.Presigner:
		return contactID, h.redirect(w, r, st, key, time.Unix(exp, 0).Sub(now))
	case blob.SeekOpener:
		return contactID, h.serveContent(w, r, st, key, contactID)
	default:
		return contactID, h.stream(w, r, key, contactID)
	}
}

func notFoundOr(err error) error {
	if errors.Is(err, ErrUnknownContact) || errors.Is(err, blob.ErrNotFound) {
		return withStatus(http.StatusNotFound, err)
	}
	return err
}

// redirect answers 302 to a presigned URL that lives PresignTTL, or less
// when the link expires sooner.
func (h *Handler) redirect(w http.ResponseWriter, r *http.Request, p blob.Presigner, key string, left time.Duration) error {
	// Only existing recordings get a redirect, so a missing one is a 404
	// here rather than an S3 error page.
	if _, err := h.cfg.Blobs.Stat(r.Context(), key); err != nil {
		return notFoundOr(err)
	}
	ttl := min(h.cfg.PresignTTL, max(left.Truncate(time.Second), time.Second))
	u, err := p.PresignGet(r.Context(), key, ttl)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, u, http.StatusFound)
	return nil
}

func (h *Handler) setHeaders(w http.ResponseWriter, contactID string, info blob.Info) {
	w.Header().Set("Content-Type", "audio/wav")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": contactID + ".wav"}))
	w.Header().Set("Cache-Control", "private, no-cache")
	if !info.ModTime.IsZero() {
		w.Header().Set("ETag", fmt.Sprintf(`"%x-%x"`, info.ModTime.UnixNano(), info.Size))
	}
}

// serveContent leaves Range, If-Modified-Since, If-None-Match and HEAD to
// http.ServeContent.
func (h *Handler) serveContent(w http.ResponseWriter, r *http.Request, so blob.SeekOpener, key, contactID string) error {
	f, info, err := so.OpenSeeker(r.Context(), key)
	if err != nil {
		return notFoundOr(err)
	}
	defer f.Close()
	h.setHeaders(w, contactID, info)
	http.ServeContent(w, r, contactID+".wav", info.ModTime, f)
	return nil
}

// stream sends the whole recording from a store that can neither presign
// nor seek.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, key, contactID string) error {
	if r.Method == http.MethodHead {
		info, err := h.cfg.Blobs.Stat(r.Context(), key)
		if err != nil {
			return notFoundOr(err)
		}
		h.setHeaders(w, contactID, info)
		w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
		return nil
	}
	rc, info, err := h.cfg.Blobs.Open(r.Context(), key)
	if err != nil {
		return notFoundOr(err)
	}
	defer rc.Close()
	h.setHeaders(w, contactID, info)
	w.Header().Set("Accept-Ranges", "none")
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	if _, err := io.Copy(w, rc); err != nil {
		// The status is sent; the client sees a short body.
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "media stream cut short",
			slog.String("contact_id", contactID), slog.Any("err", err))
	}
	return nil
}

// Interface guard.
var _ http.Handler = (*Handler)(nil)
