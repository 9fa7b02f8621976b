package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/store"
)

// Routes served by Handler.
const (
	PathStart    = "/mg-autotranscribe/v1/start-streaming"
	PathStop     = "/mg-autotranscribe/v1/stop-streaming"
	PathMessages = "/conversation/v1/conversation/messages"
	PathExport   = "/conversation/v1/export/utterances"
	PathFeed     = "/conversation/v1/feeds/utterances/" // + YYYY-MM-DD
)

// maxBody bounds start and stop request bodies.
const maxBody = 64 << 10

// Handler serves the live transcription API. auth wraps every route (the
// server's API-key check); nil serves them without authentication.
func (s *Service) Handler(auth func(http.Handler) http.Handler) http.Handler {
	if auth == nil {
		auth = func(h http.Handler) http.Handler { return h }
	}
	mux := http.NewServeMux()
	mux.Handle("POST "+PathStart, auth(http.HandlerFunc(s.serveStart)))
	mux.Handle("POST "+PathStop, auth(http.HandlerFunc(s.serveStop)))
	mux.Handle("GET "+PathMessages, auth(http.HandlerFunc(s.serveMessages)))
	mux.Handle("GET "+PathExport, auth(http.HandlerFunc(s.serveExport)))
	mux.Handle("GET "+PathFeed+"{date}", auth(http.HandlerFunc(s.serveFeed)))
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// writeError answers with the seed's failure shape: isOk false and a
// status.
func writeError(w http.ResponseWriter, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = internal(err)
	}
	writeJSON(w, e.HTTPStatus, Response{IsOK: false, Error: &Status{Code: e.Code, Description: e.Description}})
}

func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return invalid("reading the body: %v", err)
	}
	if len(body) > maxBody {
		return invalid("body larger than %d bytes", maxBody)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return invalid("body is not the expected JSON object: %v", err)
	}
	return nil
}

func (s *Service) serveStart(w http.ResponseWriter, r *http.Request) {
	var req StartRequest
	if err := decodeBody(r, &req); err != nil {
		s.m.starts.WithLabelValues("invalid").Inc()
		writeError(w, err)
		return
	}
	resp, err := s.Start(r.Context(), &req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Service) serveStop(w http.ResponseWriter, r *http.Request) {
	var req StopRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	resp, err := s.Stop(r.Context(), &req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// Conversation is the body of the after-call messages response.
type Conversation struct {
	ExternalConversationID string    `json:"externalConversationId"`
	Status                 string    `json:"status"` // active or stopped
	Messages               []Message `json:"messages"`
}

// Messages returns a conversation's messages in order, at most
// Config.MaxMessages.
func (s *Service) Messages(ctx context.Context, guid string) (*Conversation, error) {
	conv, err := s.db.LiveConversation(ctx, guid)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{HTTPStatus: http.StatusNotFound, Code: CodeUnknown, Description: fmt.Sprintf("no conversation %q", guid)}
	}
	if err != nil {
		return nil, internal(err)
	}
	ms, err := s.db.LiveMessages(ctx, guid, s.cfg.MaxMessages)
	if err != nil {
		return nil, internal(err)
	}
	status := conv.State
	if status == store.LiveStopping {
		status = store.LiveActive // until its replica has stopped it
	}
	out := &Conversation{ExternalConversationID: guid, Status: status, Messages: make([]Message, 0, len(ms))}
	for i := range ms {
		out.Messages = append(out.Messages, messageOf(&ms[i]))
	}
	return out, nil
}

func (s *Service) serveMessages(w http.ResponseWriter, r *http.Request) {
	guid := r.URL.Query().Get("externalConversationId")
	if guid == "" {
		writeError(w, invalid("externalConversationId is required"))
		return
	}
	c, err := s.Messages(r.Context(), guid)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// exportPage is the messages read per query of an export.
const exportPage = 500

// Export writes the messages created in [from, to) as JSON lines, in
// creation order, and returns how many it wrote.
func (s *Service) Export(ctx context.Context, w io.Writer, from, to time.Time) (int, error) {
	enc := json.NewEncoder(w)
	var after store.LiveCursor
	n := 0
	for {
		page, err := s.db.LiveMessagesBetween(ctx, from, to, after, exportPage)
		if err != nil {
			return n, err
		}
		for i := range page {
			if err := enc.Encode(messageOf(&page[i])); err != nil {
				return n, fmt.Errorf("live: export: %w", err)
			}
			n++
		}
		if len(page) < exportPage {
			return n, nil
		}
		last := page[len(page)-1]
		after = store.LiveCursor{CreatedAt: last.CreatedAt, GUID: last.GUID, Seq: last.Seq}
	}
}

func (s *Service) serveExport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	parse := func(name string, def time.Time) (time.Time, error) {
		v := q.Get(name)
		if v == "" {
			if def.IsZero() {
				return time.Time{}, invalid("%s is required (RFC 3339, e.g. 2026-01-02T00:00:00Z)", name)
			}
			return def, nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return time.Time{}, invalid("%s %q is not an RFC 3339 time such as 2026-01-02T00:00:00Z", name, v)
		}
		return t, nil
	}
	from, err := parse("from", time.Time{})
	if err != nil {
		writeError(w, err)
		return
	}
	to, err := parse("to", s.now())
	if err != nil {
		writeError(w, err)
		return
	}
	if !from.Before(to) {
		writeError(w, invalid("from %s must be before to %s", from.Format(time.RFC3339), to.Format(time.RFC3339)))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if _, err := s.Export(r.Context(), w, from, to); err != nil {
		// The status is sent; the client sees a cut body.
		s.log.Error("export failed", "error", err)
	}
}

// FeedKey is the blob key of the feed file of day (UTC).
func (s *Service) FeedKey(day time.Time) string {
	return s.cfg.Feed.Prefix + day.UTC().Format("2006/01/02") + ".jsonl"
}

// WriteFeed writes the messages of the UTC day holding day to the blob
// store and returns the key and the number of messages.
func (s *Service) WriteFeed(ctx context.Context, day time.Time) (string, int, error) {
	if s.blob == nil {
		return "", 0, errors.New("live: feed: no blob store")
	}
	from := day.UTC().Truncate(24 * time.Hour)
	key := s.FeedKey(from)
	pr, pw := io.Pipe()
	var n int
	go func() {
		var err error
		n, err = s.Export(ctx, pw, from, from.Add(24*time.Hour))
		pw.CloseWithError(err)
	}()
	err := s.blob.Put(ctx, key, pr, blob.Attrs{ContentType: "application/x-ndjson"})
	pr.CloseWithError(err) // ends the export if Put gave up early
	if err != nil {
		return "", 0, fmt.Errorf("live: feed %s: %w", key, err)
	}
	return key, n, nil
}

// RunFeed writes the previous day's feed file at Config.Feed.At every day
// (UTC), and at once when that file is missing, until ctx ends.
func (s *Service) RunFeed(ctx context.Context) error {
	if !s.cfg.Feed.Enabled {
		return nil
	}
	at, _ := time.Parse("15:04", s.cfg.Feed.At) // validated
	for {
		now := s.now().UTC()
		yesterday := now.Truncate(24 * time.Hour).Add(-24 * time.Hour)
		if _, err := s.blob.Stat(ctx, s.FeedKey(yesterday)); errors.Is(err, blob.ErrNotFound) {
			key, n, err := s.WriteFeed(ctx, yesterday)
			if err != nil {
				s.log.Error("feed not written", "day", yesterday.Format(time.DateOnly), "error", err)
			} else {
				s.log.Info("feed written", "key", key, "messages", n)
			}
		}
		next := now.Truncate(24 * time.Hour).Add(time.Duration(at.Hour())*time.Hour + time.Duration(at.Minute())*time.Minute)
		if !next.After(now) {
			next = next.Add(24 * time.Hour)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(next.Sub(now)):
		}
	}
}

func (s *Service) serveFeed(w http.ResponseWriter, r *http.Request) {
	day, err := time.Parse(time.DateOnly, r.PathValue("date"))
	if err != nil {
		writeError(w, invalid("date %q must be YYYY-MM-DD", r.PathValue("date")))
		return
	}
	if s.blob == nil {
		writeError(w, &Error{HTTPStatus: http.StatusNotFound, Code: CodeUnknown, Description: "the feed is not configured"})
		return
	}
	rc, _, err := s.blob.Open(r.Context(), s.FeedKey(day))
	if errors.Is(err, blob.ErrNotFound) {
		writeError(w, &Error{HTTPStatus: http.StatusNotFound, Code: CodeUnknown,
			Description: fmt.Sprintf("no feed file for %s yet: it is written at %s UTC the next day", day.Format(time.DateOnly), s.cfg.Feed.At)})
		return
	}
	if err != nil {
		writeError(w, internal(err))
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "application/x-ndjson")
	_, _ = io.Copy(w, rc)
}
