package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// Segment is an utterance of a transcript with its place in the recording.
type Segment struct {
	StartMS, EndMS int64
	Text           string
}

// maxTranscriptBytes bounds a transcript document read for its segments.
const maxTranscriptBytes = 8 << 20

// parseSegments reads the segments of a Transcribe-shaped transcript
// document written by asr.Result.TranscribeJSON (vmx.segments). Segments
// without text are left out; times are made non-negative and ordered.
func parseSegments(r io.Reader) ([]Segment, error) {
	var doc struct {
		VMX struct {
			Segments []struct {
				StartMS int64  `json:"start_ms"`
				EndMS   int64  `json:"end_ms"`
				Text    string `json:"text"`
			} `json:"segments"`
		} `json:"vmx"`
	}
	b, err := io.ReadAll(io.LimitReader(r, maxTranscriptBytes+1))
	if err != nil {
		return nil, fmt.Errorf("web: read transcript: %w", err)
	}
	if len(b) > maxTranscriptBytes {
		return nil, fmt.Errorf("web: transcript document over %d bytes", maxTranscriptBytes)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("web: transcript document: %w", err)
	}
	var out []Segment
	for _, s := range doc.VMX.Segments {
		if s.Text == "" {
			continue
		}
		s.StartMS = max(s.StartMS, 0)
		s.EndMS = max(s.EndMS, s.StartMS)
		out = append(out, Segment{StartMS: s.StartMS, EndMS: s.EndMS, Text: s.Text})
	}
	return out, nil
}

// segments returns the voicemail's transcript segments, nil when there is
// no transcript document.
func (h *Handler) segments(ctx context.Context, rec *voicemail.Record) ([]Segment, error) {
	if h.deps.Transcripts == nil || rec.Empty || rec.Transcript == "" {
		return nil, nil
	}
	rc, _, err := h.deps.Transcripts.Open(ctx, blob.TranscriptKey(rec.CallTime, rec.ContactID))
	if errors.Is(err, blob.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("web: open transcript: %w", err)
	}
	defer rc.Close()
	segs, err := parseSegments(rc)
	if err != nil {
		return nil, err
	}
	for i := range segs {
		segs[i].Text = h.redact(segs[i].Text)
	}
	return segs, nil
}

// item returns the voicemail named by the path if s may see it; any other
// is not found, whether or not it exists.
func (h *Handler) item(r *http.Request, s *session) (*store.InboxItem, error) {
	it, err := h.deps.Store.InboxGet(r.Context(), r.PathValue("id"), s.scope())
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("web: voicemail: %w", err)
	}
	return it, nil
}

type detailPage struct {
	base
	Item       *store.InboxItem
	V          *voicemail.Record
	MediaURL   string
	Segments   []Segment
	Transcript string
	Users      []*store.User
	CanRetry   bool
	CanDelete  bool
}

func (h *Handler) detail(w http.ResponseWriter, r *http.Request, s *session) error {
	it, err := h.item(r, s)
	if err != nil {
		return err
	}
	rec := it.Voicemail
	data := &detailPage{base: h.base(r, s, "Voicemail from "+rec.Caller), Item: it, V: rec,
		Transcript: h.redact(rec.Transcript),
		CanRetry:   h.deps.Retry != nil && retriable(rec),
		CanDelete:  h.deps.Delete != nil && s.admin()}
	if rec.AudioKey != "" {
		data.MediaURL = h.deps.MediaURL(rec.ContactID)
	}
	if data.Segments, err = h.segments(r.Context(), rec); err != nil {
		// The page is still useful with the plain transcript.
		h.log.Warn("transcript segments", "contact_id", rec.ContactID, "err", err)
	}
	if s.admin() {
		if data.Users, err = h.deps.Store.Users(r.Context()); err != nil {
			return fmt.Errorf("web: users: %w", err)
		}
	}
	h.render(w, http.StatusOK, "detail", data)
	return nil
}

func retriable(rec *voicemail.Record) bool {
	return rec.Status == voicemail.StatusFailed && rec.FailedStep != "intake"
}

func (h *Handler) back(w http.ResponseWriter, r *http.Request, id, done string) {
	http.Redirect(w, r, "/voicemails/"+url.PathEscape(id)+"?done="+done, http.StatusSeeOther)
}

func (h *Handler) setState(w http.ResponseWriter, r *http.Request, s *session) error {
	it, err := h.item(r, s)
	if err != nil {
		return err
	}
	state := store.InboxState(r.PostFormValue("state"))
	if state != store.InboxNew && state != store.InboxHandled {
		return errorf(http.StatusBadRequest, "Unknown state %q: want new or handled.", state)
	}
	id := it.Voicemail.ContactID
	if err := h.deps.Store.SetInboxState(r.Context(), id, state, s.user.Username, h.deps.Now()); err != nil {
		return fmt.Errorf("web: mark %s: %w", state, err)
	}
	h.log.Info("voicemail marked", "contact_id", id, "state", state, "by", s.user.Username)
	h.back(w, r, id, string(state))
	return nil
}

func (h *Handler) assign(w http.ResponseWriter, r *http.Request, s *session) error {
	it, err := h.item(r, s)
	if err != nil {
		return err
	}
	if !s.admin() {
		return errorf(http.StatusForbidden, "Only an admin can assign voicemails.")
	}
	assignee := r.PostFormValue("assignee")
	if assignee != "" {
		if _, err := h.deps.Store.GetUser(r.Context(), assignee); errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusBadRequest, "There is no user %q.", assignee)
		} else if err != nil {
			return fmt.Errorf("web: assign: %w", err)
		}
	}
	id := it.Voicemail.ContactID
	if err := h.deps.Store.AssignInbox(r.Context(), id, assignee, h.deps.Now()); err != nil {
		return fmt.Errorf("web: assign: %w", err)
	}
	h.log.Info("voicemail assigned", "contact_id", id, "assignee", assignee, "by", s.user.Username)
	done := "assigned"
	if assignee == "" {
		done = "unassigned"
	}
	h.back(w, r, id, done)
	return nil
}

type deletePage struct {
	base
	V *voicemail.Record
}

func (h *Handler) confirmDelete(w http.ResponseWriter, r *http.Request, s *session) error {
	it, err := h.item(r, s)
	if err != nil {
		return err
	}
	if err := h.mayDelete(s); err != nil {
		return err
	}
	h.render(w, http.StatusOK, "delete", deletePage{base: h.base(r, s, "Delete voicemail"), V: it.Voicemail})
	return nil
}

func (h *Handler) mayDelete(s *session) error {
	if !s.admin() {
		return errorf(http.StatusForbidden, "Only an admin can delete voicemails.")
	}
	if h.deps.Delete == nil {
		return errorf(http.StatusForbidden, "Deleting voicemails is not enabled.")
	}
	return nil
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request, s *session) error {
	it, err := h.item(r, s)
	if err != nil {
		return err
	}
	if err := h.mayDelete(s); err != nil {
		return err
	}
	if r.PostFormValue("confirm") != "yes" {
		return errorf(http.StatusBadRequest, "Deleting a voicemail must be confirmed on its confirmation page.")
	}
	id := it.Voicemail.ContactID
	if err := h.deps.Delete(r.Context(), id); err != nil {
		return fmt.Errorf("web: delete: %w", err)
	}
	h.log.Info("voicemail deleted", "contact_id", id, "by", s.user.Username)
	http.Redirect(w, r, "/?done=deleted", http.StatusSeeOther)
	return nil
}

func (h *Handler) retry(w http.ResponseWriter, r *http.Request, s *session) error {
	it, err := h.item(r, s)
	if err != nil {
		return err
	}
	rec := it.Voicemail
	switch {
	case h.deps.Retry == nil:
		return errorf(http.StatusForbidden, "Retrying voicemails is not enabled.")
	case rec.Status != voicemail.StatusFailed:
		return errorf(http.StatusConflict, "Only a failed voicemail can be retried; this one is %s.", rec.Status)
	case !retriable(rec):
		return errorf(http.StatusConflict, "The contact record of this voicemail was invalid; retrying cannot help.")
	}
	if err := h.deps.Retry(r.Context(), rec.ContactID); err != nil {
		return fmt.Errorf("web: retry: %w", err)
	}
	h.log.Info("voicemail retried", "contact_id", rec.ContactID, "by", s.user.Username)
	h.back(w, r, rec.ContactID, "retried")
	return nil
}
