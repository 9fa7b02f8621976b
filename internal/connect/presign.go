package connect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/vmx-dev/vmx/internal/media"
)

// Linker makes the link to a voicemail's recording, or "" when it cannot.
type Linker interface {
	URL(contactID string) string
}

// SignedLinks makes vmx media links (see package media) that expire TTL
// after they are made: the short-lived links of guided tasks.
type SignedLinks struct {
	Signer media.Signer
	TTL    time.Duration    // Config.GuidedLinkTTL
	Now    func() time.Time // nil means time.Now
}

// URL returns the link to contactID's recording, or "" if the signer is
// misconfigured or contactID is not a contact ID.
func (l SignedLinks) URL(contactID string) string {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	u, err := l.Signer.URL(contactID, now().Add(l.TTL))
	if err != nil {
		return ""
	}
	return u
}

// FlowEvent is what Amazon Connect sends to a Lambda function that a flow
// invokes (only the fields vmx reads). The same JSON is accepted over HTTP.
type FlowEvent struct {
	Details FlowDetails `json:"Details"`
	Name    string      `json:"Name"` // "ContactFlowEvent"
}

// FlowDetails holds the contact and the parameters the flow block set.
type FlowDetails struct {
	ContactData FlowContactData   `json:"ContactData"`
	Parameters  map[string]string `json:"Parameters"`
}

// FlowContactData is the contact the flow runs for: in a guided task's
// agent flow, the task.
type FlowContactData struct {
	Attributes        map[string]string `json:"Attributes"`
	Channel           string            `json:"Channel"`
	ContactID         string            `json:"ContactId"`
	InitialContactID  string            `json:"InitialContactId"`
	PreviousContactID string            `json:"PreviousContactId"`
	InstanceARN       string            `json:"InstanceARN"`
}

// PresignResponse is the presigner's answer: a flat map of strings, as a
// flow's Lambda block with STRING_MAP validation requires. The link is
// given under both names Voicemail Express used, so that its agent flow
// ($.External.vmx3_presigned_url) works unchanged.
type PresignResponse struct {
	Result    string `json:"result"` // "success"
	URL       string `json:"presigned_url"`
	VMX3URL   string `json:"vmx3_presigned_url"`
	ContactID string `json:"contact_id"` // the voice contact whose recording it is
	ExpiresIn string `json:"expires_in,omitempty"`
}

// ParamContactID is the flow parameter that names the voicemail's contact
// explicitly.
const ParamContactID = "contact_id"

// errBadEvent reports an event that names no voicemail.
var errBadEvent = errors.New("connect: presign: bad event")

// Presigner gives a guided task's agent view a fresh link to the
// voicemail's recording each time the task is opened (Voicemail Express's
// GuidedFlowPresigner). Invoke Presign from a Lambda handler, or mount the
// Presigner as an http.Handler behind vmx's API authentication: the link it
// returns opens the recording.
type Presigner struct {
	links Linker
	ttl   time.Duration
	log   *slog.Logger
}

// NewPresigner returns a presigner whose links come from links, which
// should expire after cfg.GuidedLinkTTL (SignedLinks does); the TTL is
// reported to the flow as expires_in seconds.
func NewPresigner(links Linker, cfg Config) (*Presigner, error) {
	if links == nil {
		return nil, errors.New("connect: presigner: no linker")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Presigner{links: links, ttl: cfg.GuidedLinkTTL, log: cfg.Logger.With("component", "connect", "handler", "presign")}, nil
}

// Presign returns the link to the recording of the voicemail the event's
// task is for. The voicemail's contact is, in order: the flow parameter
// contact_id; the task attribute <prefix>voicemail_contact_id that
// TaskSink sets; the file name in <prefix>recording_key; the task's
// PreviousContactId.
func (p *Presigner) Presign(_ context.Context, ev FlowEvent) (PresignResponse, error) {
	id, err := voicemailContact(ev)
	if err != nil {
		return PresignResponse{}, err
	}
	u := p.links.URL(id)
	if u == "" {
		return PresignResponse{}, fmt.Errorf("connect: presign: no link for contact %s: the media link signer is misconfigured", id)
	}
	return PresignResponse{Result: "success", URL: u, VMX3URL: u, ContactID: id,
		ExpiresIn: fmt.Sprint(int64(p.ttl / time.Second))}, nil
}

func voicemailContact(ev FlowEvent) (string, error) {
	if v, ok := ev.Details.Parameters[ParamContactID]; ok {
		v = strings.TrimSpace(v)
		if !media.ValidContactID(v) {
			return "", fmt.Errorf("%w: parameter %s %q is not a contact ID", errBadEvent, ParamContactID, v)
		}
		return v, nil
	}
	attrs := ev.Details.ContactData.Attributes
	keys := slices.Sorted(maps.Keys(attrs))
	for _, suffix := range []string{"voicemail_contact_id", "recording_key"} {
		for _, k := range keys {
			if !strings.HasSuffix(k, suffix) {
				continue
			}
			v := strings.TrimSpace(attrs[k])
			if suffix == "recording_key" {
				v = strings.TrimSuffix(path.Base(v), path.Ext(v))
			}
			if media.ValidContactID(v) {
				return v, nil
			}
		}
	}
	if v := ev.Details.ContactData.PreviousContactID; media.ValidContactID(v) {
		return v, nil
	}
	return "", fmt.Errorf("%w: no %s parameter, no *voicemail_contact_id or *recording_key attribute, and no PreviousContactId on contact %q",
		errBadEvent, ParamContactID, ev.Details.ContactData.ContactID)
}

// maxEventBytes bounds a request body; Connect's events are a few KB.
const maxEventBytes = 1 << 20

// ServeHTTP answers a POSTed FlowEvent with a PresignResponse, or with
// {"result":"error","error":…} and status 400 (bad event) or 500.
func (p *Presigner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"result": "error", "error": "use POST"})
		return
	}
	var ev FlowEvent
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEventBytes)).Decode(&ev); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"result": "error", "error": "connect: presign: body is not a flow event: " + err.Error()})
		return
	}
	resp, err := p.Presign(r.Context(), ev)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, errBadEvent) {
			status = http.StatusBadRequest
		}
		p.log.Warn("presign failed", "contact_id", ev.Details.ContactData.ContactID, "error", err)
		writeJSON(w, status, map[string]string{"result": "error", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
