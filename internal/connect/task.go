package connect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/connect"
	"github.com/aws/aws-sdk-go-v2/service/connect/types"

	"github.com/vmx-dev/vmx/internal/arn"
	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// Delivery modes served by a TaskSink.
const (
	ModeTask       = "task"        // a task with the transcript and a playback link
	ModeGuidedTask = "guided_task" // a task whose agent view fetches a fresh link (Presigner)
)

// TimeLayout formats times shown to agents.
const TimeLayout = "Mon, 02 Jan 2006 15:04 MST"

// Task reference names, as Voicemail Express 3 labels them in the agent's
// contact panel.
const (
	RefReceived   = "Date Voicemail Received"
	RefQueue      = "Original Queue"
	RefAgent      = "Agent"
	RefCallback   = "Callback Number"
	RefCaller     = "Called From"
	RefSummary    = "GenAI Summary"
	RefTranscript = "Voicemail Transcript"
	RefPlayback   = "Playback URL"
)

// noAgent is <prefix>preferred_agent_id of a voicemail for a queue, as in
// Voicemail Express 3.
const noAgent = "NONE"

// TaskAPI is the part of the Amazon Connect API that task delivery uses;
// *connect.Client is one.
type TaskAPI interface {
	StartTaskContact(ctx context.Context, in *connect.StartTaskContactInput, optFns ...func(*connect.Options)) (*connect.StartTaskContactOutput, error)
}

// TaskSink delivers voicemails as Amazon Connect tasks linked to the voice
// contact. It is safe for concurrent use.
type TaskSink struct {
	api        TaskAPI
	mode       string
	flowAttr   string // attribute, after the prefix, that names the flow
	flowID     string
	templateID string
	log        *slog.Logger
}

// NewTaskSink returns the sink of "task" mode: tasks run cfg.TaskFlowID
// (or are made from cfg.TaskTemplateID) unless the contact names a flow in
// <prefix>task_flow, and carry a playback link.
func NewTaskSink(api TaskAPI, cfg Config) (*TaskSink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.TaskFlowID == "" && cfg.TaskTemplateID == "" {
		return nil, errors.New("connect: task mode needs a task flow ID or a task template ID (used when a contact sets no <prefix>task_flow)")
	}
	return newTaskSink(api, ModeTask, "task_flow", cfg.TaskFlowID, cfg.TaskTemplateID, cfg.Logger)
}

// NewGuidedTaskSink returns the sink of "guided_task" mode, Voicemail
// Express 3's default: tasks run cfg.GuidedTaskFlowID unless the contact
// names a flow in <prefix>guided_task_flow, and carry no link: the agent's
// view asks the Presigner for a short-lived one when the task is opened.
func NewGuidedTaskSink(api TaskAPI, cfg Config) (*TaskSink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if cfg.GuidedTaskFlowID == "" {
		return nil, errors.New("connect: guided_task mode needs a guided task flow ID (used when a contact sets no <prefix>guided_task_flow)")
	}
	return newTaskSink(api, ModeGuidedTask, "guided_task_flow", cfg.GuidedTaskFlowID, "", cfg.Logger)
}

func newTaskSink(api TaskAPI, mode, flowAttr, flowID, templateID string, log *slog.Logger) (*TaskSink, error) {
	if api == nil {
		return nil, fmt.Errorf("connect: %s: no Amazon Connect client", mode)
	}
	return &TaskSink{api: api, mode: mode, flowAttr: flowAttr, flowID: flowID, templateID: templateID,
		log: log.With("component", "connect", "sink", mode)}, nil
}

// ClientToken is the StartTaskContact idempotency token of a delivery key:
// the same on every retry, so Connect returns the task it already made
// instead of making another (for 7 days). It is 68 ASCII characters.
func ClientToken(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "vmx-" + hex.EncodeToString(sum[:])
}

// Deliver starts the task and returns its contact ID. Validation errors
// and unknown resources (instance, flow, template, voice contact) are
// permanent; throttling and the open-task quota ask for a delay.
func (s *TaskSink) Deliver(ctx context.Context, d *voicemail.Delivery, key string) (string, error) {
	in, err := s.input(d, key)
	if err != nil {
		return "", err
	}
	out, err := s.api.StartTaskContact(ctx, in)
	if err != nil {
		hint := ""
		if isNotFound(err) {
			hint = fmt.Sprintf(" (check instance %s, the flow or template ID, and that contact %s exists)", aws.ToString(in.InstanceId), d.Record.ContactID)
		}
		return "", mark(fmt.Errorf("connect: start %s for contact %s: %w%s", s.mode, d.Record.ContactID, err, hint))
	}
	id := aws.ToString(out.ContactId)
	if id == "" {
		return "", fmt.Errorf("connect: start %s for contact %s: no contact ID in the response", s.mode, d.Record.ContactID)
	}
	return id, nil
}

// input builds the StartTaskContact request.
func (s *TaskSink) input(d *voicemail.Delivery, key string) (*connect.StartTaskContactInput, error) {
	rec := &d.Record
	if rec.ContactID == "" {
		return nil, retry.Permanent(errors.New("connect: task: voicemail has no contact ID"))
	}
	rt := rec.Route
	if rt.QueueARN == "" {
		rt.QueueARN = rec.QueueARN
	}
	instance := rec.InstanceID
	if q, ok := arn.ParseQueue(rt.QueueARN); ok && instance == "" {
		instance = q.Instance
	}
	if instance == "" {
		return nil, retry.Permanent(fmt.Errorf("connect: task for contact %s: no instance ID", rec.ContactID))
	}
	prefix := rec.Prefix
	if prefix == "" {
		prefix = "vmx3_"
	}
	if !isAttributeKey(prefix) {
		return nil, retry.Permanent(fmt.Errorf("connect: task for contact %s: attribute prefix %q has characters Connect does not allow in attribute keys (letters, digits, '-', '_')", rec.ContactID, prefix))
	}
	in := &connect.StartTaskContactInput{
		InstanceId:        aws.String(instance),
		ClientToken:       aws.String(ClientToken(key)),
		PreviousContactId: aws.String(rec.ContactID),
		Name:              aws.String(taskName(rec, rt)),
	}
	flowAttr := prefix + s.flowAttr
	if v := strings.TrimSpace(rec.Attributes[flowAttr]); v != "" {
		id, ok := arn.FlowID(v)
		if !ok {
			return nil, retry.Permanent(fmt.Errorf("connect: task for contact %s: %s %q is not a contact flow ID or ARN", rec.ContactID, flowAttr, v))
		}
		in.ContactFlowId = aws.String(id)
	} else if s.flowID != "" {
		in.ContactFlowId = aws.String(s.flowID)
	} else {
		in.TaskTemplateId = aws.String(s.templateID)
	}
	if desc := description(rec); desc != "" {
		in.Description = aws.String(desc)
	}

	received := d.ReceivedAt
	if received.IsZero() {
		received = rec.CallTime
	}
	when := ""
	if !received.IsZero() {
		when = received.Format(TimeLayout)
	}
	callback := rec.SpokenNumber
	if callback == "" {
		callback = rec.Caller
	}
	summary, transcript := cleanText(strings.TrimSpace(rec.Summary)), cleanText(strings.TrimSpace(rec.Transcript))
	link := ""
	if s.mode == ModeTask {
		link = d.MediaURL
		if link == "" {
			s.log.Warn("task without a playback link: no media URL", "contact_id", rec.ContactID)
		}
	}

	refs := newRefs()
	refs.add(RefReceived, when, types.ReferenceTypeString)
	if rt.AgentID != "" {
		refs.add(RefAgent, agentLabel(rt), types.ReferenceTypeString)
	}
	refs.add(RefQueue, queueName(rt), types.ReferenceTypeString)
	refs.add(RefCallback, callback, types.ReferenceTypeString)
	if rec.SpokenNumber != "" {
		refs.add(RefCaller, rec.Caller, types.ReferenceTypeString)
	}
	refs.add(RefPlayback, link, types.ReferenceTypeUrl)
	refs.addCut(RefSummary, summary)
	refs.addCut(RefTranscript, transcript)
	in.References = refs.m

	attrs := newAttrs(rec.Attributes, prefix)
	attrs.set("voicemail_contact_id", rec.ContactID)
	attrs.set("callback_number", callback)
	attrs.set("queue_arn", rt.QueueARN)
	attrs.set("source_queue", queueName(rt))
	if rt.AgentID != "" {
		attrs.set("target", "agent")
		attrs.set("preferred_agent_id", rt.AgentID)
		name := rt.AgentName
		if name == "" {
			name = agentLabel(rt)
		}
		attrs.set("agent_name", name)
	} else {
		// Also when the contact asked for an agent who was not found: the
		// task flow must not wait for an agent ID it does not have.
		attrs.set("target", "queue")
		attrs.set("preferred_agent_id", noAgent)
	}
	attrs.set("datetime", when)
	if s.mode == ModeTask {
		attrs.set("media_url", link)
	} else {
		attrs.set("recording_key", rec.AudioKey)
	}
	attrs.setCut("genai_summary", summary)
	attrs.setCut("transcript", transcript)
	if attrs.over {
		return nil, retry.Permanent(fmt.Errorf("connect: task for contact %s: the contact's attributes leave no room for the task's within Connect's %d bytes", rec.ContactID, maxAttributeBytes))
	}
	in.Attributes = attrs.m
	return in, nil
}

// taskName is "Voicemail from +15555551212", or "Voicemail for Jane Doe
// from …" when it is for one agent.
func taskName(rec *voicemail.Record, rt voicemail.Route) string {
	name := "Voicemail"
	if rt.AgentID != "" {
		name += " for " + agentLabel(rt)
	}
	if rec.Caller != "" {
		name += " from " + rec.Caller
	}
	if rec.Empty {
		name += " (no speech)"
	}
	return cutRunes(cleanText(name), maxNameRunes)
}

// description is the summary when there is one, else the transcript.
func description(rec *voicemail.Record) string {
	text := strings.TrimSpace(rec.Summary)
	if text == "" {
		text = strings.TrimSpace(rec.Transcript)
	}
	if text == "" && rec.Empty {
		text = "The caller did not speak."
	}
	return cutRunes(cleanText(text), maxDescriptionRunes)
}

func agentLabel(rt voicemail.Route) string {
	switch {
	case rt.AgentName != "" && rt.AgentUsername != "":
		return rt.AgentName + " (" + rt.AgentUsername + ")"
	case rt.AgentName != "":
		return rt.AgentName
	case rt.AgentUsername != "":
		return rt.AgentUsername
	}
	return rt.AgentID
}

// queueName names the queue for people: its name, else its ARN.
func queueName(rt voicemail.Route) string {
	if rt.QueueName != "" {
		return rt.QueueName
	}
	if q, ok := arn.ParseQueue(rt.QueueARN); ok && q.Agent != "" && q.Agent == rt.AgentID {
		return "personal queue of " + agentLabel(rt)
	}
	return rt.QueueARN
}

// refs builds task references within maxReferenceBytes, in order of
// importance: what does not fit is cut (texts) or left out.
type refs struct {
	m    map[string]types.Reference
	left int
}

func newRefs() *refs { return &refs{m: map[string]types.Reference{}, left: maxReferenceBytes} }

// add adds a reference whole, or not at all when it is empty or does not
// fit: a cut URL or number would mislead.
func (r *refs) add(name, value string, typ types.ReferenceType) {
	value = cleanText(value)
	if value == "" || len(name)+len(value) > r.left {
		return
	}
	r.m[name] = types.Reference{Value: aws.String(value), Type: typ}
	r.left -= len(name) + len(value)
}

// minCut is the least of a text worth showing after a cut.
const minCut = 64

// addCut adds a text reference, cut to the room left.
func (r *refs) addCut(name, value string) {
	room := r.left - len(name)
	if value == "" || room < minCut {
		return
	}
	r.add(name, cutBytes(value, room), types.ReferenceTypeString)
}

// attrs builds task attributes under a prefix within maxAttributeBytes,
// counting the voice contact's attributes that the task shares.
type attrs struct {
	m      map[string]string
	shared map[string]string
	prefix string
	left   int
	over   bool // the fixed attributes did not fit
}

func newAttrs(shared map[string]string, prefix string) *attrs {
	a := &attrs{m: map[string]string{}, shared: shared, prefix: prefix, left: maxAttributeBytes}
	for k, v := range shared {
		a.left -= len(k) + len(v)
	}
	return a
}

func (a *attrs) set(name, value string) {
	if value == "" {
		return
	}
	k, value := a.prefix+name, cleanText(value)
	if old, ok := a.shared[k]; ok {
		a.left += len(k) + len(old) // replaced, not added
	}
	a.left -= len(k) + len(value)
	if a.left < 0 {
		a.over = true
	}
	a.m[k] = value
}

func (a *attrs) setCut(name, value string) {
	k := a.prefix + name
	room := a.left - len(k)
	if old, ok := a.shared[k]; ok {
		room += len(k) + len(old)
	}
	if value == "" || room < minCut {
		return
	}
	a.set(name, cutBytes(value, room))
}

func isAttributeKey(s string) bool { return arn.IsResourceID(s) }
