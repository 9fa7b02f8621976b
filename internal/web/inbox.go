package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/vmx-dev/vmx/internal/media"
	"github.com/vmx-dev/vmx/internal/store"
)

// filters are the list's query parameters, as the user gave them.
type filters struct {
	Q      string // search text
	Queue  string
	Agent  string
	Status string
	From   string // YYYY-MM-DD, in the configured zone
	To     string // inclusive
	After  string
	Before string
}

// option is an entry of a select.
type option struct {
	Value, Label string
}

func statusOptions() []option {
	return []option{
		{"", "Any"},
		{store.FilterNew, "New"},
		{store.FilterHandled, "Handled"},
		{store.FilterFailed, "Failed"},
		{store.FilterEmpty, "Empty"},
		{store.FilterProcessing, "Processing"},
	}
}

// validCursor accepts a page cursor, <unix ms>.<contact ID>: 1 to 19 digits,
// a dot, and 1 to 128 contact-ID characters.
func validCursor(c string) bool {
	ms, id, ok := strings.Cut(c, ".")
	return ok && len(ms) <= 19 && ms != "" && strings.Trim(ms, "0123456789") == "" && media.ValidContactID(id)
}

const (
	maxSearchLen   = 200
	maxSearchTerms = 8
)

// parseFilters reads the list's filters and builds the store query for s.
func (h *Handler) parseFilters(r *http.Request, s *session) (filters, store.InboxQuery, error) {
	v := r.URL.Query()
	f := filters{
		Q: strings.TrimSpace(v.Get("q")), Queue: strings.TrimSpace(v.Get("queue")), Agent: strings.TrimSpace(v.Get("agent")),
		Status: v.Get("status"), From: v.Get("from"), To: v.Get("to"), After: v.Get("after"), Before: v.Get("before"),
	}
	q := store.InboxQuery{Scope: s.scope(), Queue: f.Queue, Agent: f.Agent, Limit: h.cfg.PageSize}
	if !slices.ContainsFunc(statusOptions(), func(o option) bool { return o.Value == f.Status }) {
		return f, q, errorf(http.StatusBadRequest, "Unknown status %q.", f.Status)
	}
	q.Status = f.Status
	if len(f.Q) > maxSearchLen {
		return f, q, errorf(http.StatusBadRequest, "The search is longer than %d characters.", maxSearchLen)
	}
	q.Search = parseSearch(f.Q)
	var err error
	if q.From, err = h.parseDate(f.From); err != nil {
		return f, q, errorf(http.StatusBadRequest, "From: %v", err)
	}
	if q.To, err = h.parseDate(f.To); err != nil {
		return f, q, errorf(http.StatusBadRequest, "To: %v", err)
	}
	if !q.To.IsZero() {
		q.To = q.To.AddDate(0, 0, 1) // the whole of the last day
	}
	for _, c := range []string{f.After, f.Before} {
		if c != "" && !validCursor(c) {
			return f, q, errorf(http.StatusBadRequest, "That page link is broken; start again from the first page.")
		}
	}
	if f.After != "" && f.Before != "" {
		return f, q, errorf(http.StatusBadRequest, "That page link is broken; start again from the first page.")
	}
	q.After, q.Before = f.After, f.Before
	return f, q, nil
}

// parseDate reads YYYY-MM-DD as midnight in the configured zone.
func (h *Handler) parseDate(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation("2006-01-02", s, h.cfg.Location)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
	}
	return t, nil
}

// parseSearch splits a search into terms: words, or "quoted phrases".
func parseSearch(s string) []string {
	var terms []string
	for i, part := range strings.Split(s, `"`) {
		if i%2 == 1 { // inside quotes
			if p := strings.Join(strings.Fields(part), " "); p != "" {
				terms = append(terms, p)
			}
			continue
		}
		terms = append(terms, strings.Fields(part)...)
	}
	if len(terms) > maxSearchTerms {
		terms = terms[:maxSearchTerms]
	}
	return terms
}

// values is f as query parameters, without the page cursors.
func (f filters) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"q": f.Q, "queue": f.Queue, "agent": f.Agent, "status": f.Status, "from": f.From, "to": f.To} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

type listPage struct {
	base
	F        filters
	Items    []*store.InboxItem
	Queues   []store.Queue
	Agents   []string
	Statuses []option
	// Older and Newer link the neighbouring pages; Live is set on the
	// first page, which live updates refresh.
	Older, Newer string
	Live         bool
	// Filtered is set when any filter is. (Templates read fields; they
	// cannot call methods.)
	Filtered bool
}

func (h *Handler) listData(r *http.Request, s *session) (*listPage, error) {
	f, q, err := h.parseFilters(r, s)
	if err != nil {
		return nil, err
	}
	page, err := h.deps.Store.Inbox(r.Context(), q)
	if err != nil {
		return nil, fmt.Errorf("web: list: %w", err)
	}
	data := &listPage{base: h.base(r, s, "Voicemails"), F: f, Items: page.Items, Statuses: statusOptions(),
		Live: f.After == "" && f.Before == "", Filtered: len(f.values()) > 0}
	link := func(key, cursor string) string {
		v := f.values()
		v.Set(key, cursor)
		return "/?" + v.Encode()
	}
	if page.Older != "" {
		data.Older = link("after", page.Older)
	}
	if page.Newer != "" {
		data.Newer = link("before", page.Newer)
	}
	return data, nil
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request, s *session) error {
	data, err := h.listData(r, s)
	if err != nil {
		return err
	}
	if data.Queues, err = h.queuesFor(r, s); err != nil {
		return err
	}
	if s.admin() {
		users, err := h.deps.Store.Users(r.Context())
		if err != nil {
			return fmt.Errorf("web: users: %w", err)
		}
		for _, u := range users {
			data.Agents = append(data.Agents, u.Username)
			if u.AgentUsername != "" && u.AgentUsername != u.Username {
				data.Agents = append(data.Agents, u.AgentUsername)
			}
		}
	}
	h.render(w, http.StatusOK, "list", data)
	return nil
}

// listFragment is the list alone, which live updates fetch.
func (h *Handler) listFragment(w http.ResponseWriter, r *http.Request, s *session) error {
	data, err := h.listData(r, s)
	if err != nil {
		return err
	}
	h.execute(w, http.StatusOK, "list", "items", data)
	return nil
}

// queuesFor returns the queues s may filter by: an agent's own, or every
// queue with voicemails (looked up at most every half minute).
func (h *Handler) queuesFor(r *http.Request, s *session) ([]store.Queue, error) {
	h.queues.mu.Lock()
	defer h.queues.mu.Unlock()
	now := h.deps.Now()
	if h.queues.list == nil || now.Sub(h.queues.at) > 30*time.Second || now.Before(h.queues.at) {
		list, err := h.deps.Store.InboxQueues(r.Context())
		if err != nil {
			return nil, fmt.Errorf("web: queues: %w", err)
		}
		h.queues.list, h.queues.at = append([]store.Queue{}, list...), now
	}
	if s.admin() {
		return h.queues.list, nil
	}
	var out []store.Queue
	for _, arn := range s.user.Queues {
		q := store.Queue{ARN: arn}
		if i := slices.IndexFunc(h.queues.list, func(q store.Queue) bool { return q.ARN == arn }); i >= 0 {
			q = h.queues.list[i]
		}
		out = append(out, q)
	}
	return out, nil
}
