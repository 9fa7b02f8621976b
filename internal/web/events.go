package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/vmx-dev/vmx/internal/store"
)

const (
	// changeOverlap is how far back each poll looks, so that a change
	// whose transaction committed after a later poll began, or that a
	// replica with a slow clock wrote, is still seen.
	changeOverlap = 10 * time.Second
	// maxChangesPerQuery bounds one query for changes; a poll pages on.
	maxChangesPerQuery = 1000
	// heartbeat is how often an idle stream sends a comment, which keeps
	// proxies from closing it, and checks that its session still holds.
	heartbeat = 15 * time.Second
)

// hub polls the database for changed voicemails while anyone watches, and
// tells each watcher which ones changed. Polling, rather than a
// notification inside one process, sees what every replica writes.
type hub struct {
	store    *store.Store
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	stop   context.CancelFunc // of the running poller; nil when none runs
	closed bool
}

// subscriber collects the IDs of changed voicemails until its stream
// takes them; notify holds at most one wake-up.
type subscriber struct {
	mu      sync.Mutex
	pending map[string]struct{}
	notify  chan struct{}
}

func newHub(st *store.Store, interval time.Duration, now func() time.Time, log *slog.Logger) *hub {
	return &hub{store: st, interval: interval, now: now, log: log, subs: map[*subscriber]struct{}{}}
}

// subscribe registers a watcher, starting the poller for the first; false
// once the hub is closed.
func (hb *hub) subscribe() (*subscriber, bool) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	if hb.closed {
		return nil, false
	}
	sub := &subscriber{pending: map[string]struct{}{}, notify: make(chan struct{}, 1)}
	hb.subs[sub] = struct{}{}
	if hb.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		hb.stop = cancel
		go hb.poll(ctx)
	}
	return sub, true
}

// unsubscribe removes a watcher, stopping the poller after the last.
func (hb *hub) unsubscribe(sub *subscriber) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	delete(hb.subs, sub)
	if len(hb.subs) == 0 && hb.stop != nil {
		hb.stop()
		hb.stop = nil
	}
}

func (hb *hub) close() {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	hb.closed = true
	if hb.stop != nil {
		hb.stop()
		hb.stop = nil
	}
}

// poll looks for changes every interval until ctx ends. Each poller keeps
// its own record of the changes it has passed on.
func (hb *hub) poll(ctx context.Context) {
	seen := map[string]time.Time{}
	t := time.NewTicker(hb.interval)
	defer t.Stop()
	for {
		if changed := hb.changes(ctx, seen); len(changed) > 0 {
			hb.broadcast(changed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// changes returns the voicemails changed since the last poll, by asking
// for every change within changeOverlap and leaving out those in seen.
func (hb *hub) changes(ctx context.Context, seen map[string]time.Time) []string {
	now := hb.now()
	since := now.Add(-changeOverlap)
	var changed []string
	for {
		cs, err := hb.store.InboxChanges(ctx, since, maxChangesPerQuery)
		if err != nil {
			if ctx.Err() == nil {
				hb.log.Warn("poll for changed voicemails", "err", err)
			}
			break
		}
		for _, c := range cs {
			if prev, ok := seen[c.ContactID]; ok && !c.At.After(prev) {
				continue
			}
			seen[c.ContactID] = c.At
			if !slices.Contains(changed, c.ContactID) {
				changed = append(changed, c.ContactID)
			}
		}
		if len(cs) < maxChangesPerQuery || !cs[len(cs)-1].At.After(since) {
			break
		}
		since = cs[len(cs)-1].At
	}
	for id, at := range seen {
		if at.Before(now.Add(-2 * changeOverlap)) {
			delete(seen, id)
		}
	}
	return changed
}

func (hb *hub) broadcast(ids []string) {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	for sub := range hb.subs {
		sub.mu.Lock()
		for _, id := range ids {
			sub.pending[id] = struct{}{}
		}
		sub.mu.Unlock()
		select {
		case sub.notify <- struct{}{}:
		default:
		}
	}
}

func (sub *subscriber) take() []string {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	ids := make([]string, 0, len(sub.pending))
	for id := range sub.pending {
		ids = append(ids, id)
	}
	clear(sub.pending)
	return ids
}

// event is what a stream sends of a changed voicemail.
type event struct {
	ContactID string `json:"contact_id"`
	Caller    string `json:"caller"`
	Queue     string `json:"queue"`
	Agent     string `json:"agent,omitempty"`
	Status    string `json:"status"`
	Received  string `json:"received"`
	URL       string `json:"url"`
}

// events streams server-sent events: "voicemail" for each voicemail the
// user may see that changed, "signedout" when the session ends.
func (h *Handler) events(w http.ResponseWriter, r *http.Request, s *session) error {
	sub, ok := h.hub.subscribe()
	if !ok {
		return errorf(http.StatusServiceUnavailable, "The server is shutting down.")
	}
	defer h.hub.unsubscribe(sub)
	rc := http.NewResponseController(w)
	// A server WriteTimeout would cut the stream; nothing to do if the
	// server has none.
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "retry: 5000\n: connected\n\n")
	if err := rc.Flush(); err != nil {
		return nil
	}
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-h.closing:
			return nil
		case <-sub.notify:
			if err := h.sendChanges(r.Context(), w, s, sub.take()); err != nil {
				if r.Context().Err() == nil {
					h.log.Warn("live update", "err", err)
				}
				return nil
			}
		case <-beat.C:
			cur, err := h.session(r)
			if err != nil {
				h.log.Warn("live update: session", "err", err)
				continue
			}
			if cur == nil {
				io.WriteString(w, "event: signedout\ndata: {}\n\n")
				rc.Flush()
				return nil
			}
			s = cur // the user's role and queues may have changed
			io.WriteString(w, ": ping\n\n")
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}

// sendChanges writes an event for each of ids the session may see.
func (h *Handler) sendChanges(ctx context.Context, w io.Writer, s *session, ids []string) error {
	for len(ids) > 0 {
		n := min(len(ids), 200)
		page, err := h.deps.Store.Inbox(ctx, store.InboxQuery{Scope: s.scope(), IDs: ids[:n], Limit: n})
		if err != nil {
			return fmt.Errorf("web: changed voicemails: %w", err)
		}
		ids = ids[n:]
		for _, it := range page.Items {
			rec := it.Voicemail
			b, err := json.Marshal(event{
				ContactID: rec.ContactID, Caller: rec.Caller, Queue: queueLabel(rec), Agent: agentLabel(rec),
				Status: statusLabel(it), Received: h.formatTime(rec.CallTime), URL: "/voicemails/" + rec.ContactID,
			})
			if err != nil {
				return fmt.Errorf("web: event: %w", err)
			}
			if _, err := fmt.Fprintf(w, "event: voicemail\ndata: %s\n\n", b); err != nil {
				return err
			}
		}
	}
	return nil
}
