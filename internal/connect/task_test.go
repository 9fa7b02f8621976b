package connect_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vmx-dev/vmx/internal/connect"
	"github.com/vmx-dev/vmx/internal/connect/connecttest"
	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

const (
	taskFlow   = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	guidedFlow = "bbbbbbbb-bbbb-cccc-dddd-eeeeeeeeeeee"
	mediaURL   = "https://vmx.example.com/v1/media/" + contactID + "?exp=253370764800&sig=abc"
	marker     = "… [truncated]"
)

var received = time.Date(2026, 1, 2, 15, 4, 0, 0, time.FixedZone("EST", -5*3600))

func delivery() *voicemail.Delivery {
	return &voicemail.Delivery{
		Record: voicemail.Record{
			Request: voicemail.Request{
				ContactID:  contactID,
				InstanceID: instanceID,
				Prefix:     "vmx3_",
				QueueARN:   queueARN,
				Caller:     "+15555551212",
				Target:     "queue",
				Attributes: map[string]string{"vmx3_flag": "1", "vmx3_queue_arn": queueARN, "vmx3_from": "+15555551212"},
			},
			AudioKey:   "recordings/2026/01/02/" + contactID + ".wav",
			Transcript: "Hi, this is Jane Roe from Acme about invoice 4411.",
			Route:      voicemail.Route{QueueARN: queueARN, QueueName: "Sales"},
		},
		MediaURL:   mediaURL,
		ReceivedAt: received,
	}
}

func taskSink(t *testing.T, f *connecttest.Server, cfg connect.Config) *connect.TaskSink {
	t.Helper()
	if cfg.TaskFlowID == "" && cfg.TaskTemplateID == "" {
		cfg.TaskFlowID = taskFlow
	}
	s, err := connect.NewTaskSink(client(f), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTaskDeliver(t *testing.T) {
	f := newFake(t)
	s := taskSink(t, f, connect.Config{})
	d := delivery()
	d.Record.Summary = "Jane Roe from Acme called about invoice 4411."
	d.Record.SpokenNumber = "5555550123"
	id, err := s.Deliver(context.Background(), d, contactID+":task")
	if err != nil || id != "task-1" {
		t.Fatalf("Deliver = %q, %v; want task-1", id, err)
	}
	rs := f.Requests("StartTaskContact")
	if len(rs) != 1 || rs[0].Method != "PUT" || rs[0].Path != "/contact/task" || !hasPrefixAuth(rs[0]) {
		t.Fatalf("requests = %+v", rs)
	}
	body := rs[0].Body
	for k, want := range map[string]string{
		"InstanceId":        instanceID,
		"ContactFlowId":     taskFlow,
		"PreviousContactId": contactID,
		"ClientToken":       connect.ClientToken(contactID + ":task"),
		"Name":              "Voicemail from +15555551212",
		"Description":       "Jane Roe from Acme called about invoice 4411.",
	} {
		if body[k] != want {
			t.Errorf("%s = %v, want %q", k, body[k], want)
		}
	}
	if _, ok := body["TaskTemplateId"]; ok {
		t.Error("TaskTemplateId sent along with ContactFlowId")
	}
	wantRefs := map[string]string{
		"Date Voicemail Received": "STRING:Fri, 02 Jan 2026 15:04 EST",
		"Original Queue":          "STRING:Sales",
		"Callback Number":         "STRING:5555550123",
		"Called From":             "STRING:+15555551212",
		"GenAI Summary":           "STRING:Jane Roe from Acme called about invoice 4411.",
		"Voicemail Transcript":    "STRING:Hi, this is Jane Roe from Acme about invoice 4411.",
		"Playback URL":            "URL:" + mediaURL,
	}
	if got := connecttest.References(t, body["References"]); !reflect.DeepEqual(got, wantRefs) {
		t.Errorf("References = %v\nwant %v", got, wantRefs)
	}
	wantAttrs := map[string]string{
		"vmx3_voicemail_contact_id": contactID,
		"vmx3_callback_number":      "5555550123",
		"vmx3_queue_arn":            queueARN,
		"vmx3_source_queue":         "Sales",
		"vmx3_target":               "queue",
		"vmx3_preferred_agent_id":   "NONE",
		"vmx3_datetime":             "Fri, 02 Jan 2026 15:04 EST",
		"vmx3_media_url":            mediaURL,
		"vmx3_genai_summary":        "Jane Roe from Acme called about invoice 4411.",
		"vmx3_transcript":           "Hi, this is Jane Roe from Acme about invoice 4411.",
	}
	if got := connecttest.Strings(t, body["Attributes"]); !reflect.DeepEqual(got, wantAttrs) {
		t.Errorf("Attributes = %v\nwant %v", got, wantAttrs)
	}
}

// A retry of the same delivery sends the same ClientToken, so Connect
// returns the first task instead of creating a second, even when the first
// attempt created the task and only its answer was lost.
func TestTaskClientTokenStable(t *testing.T) {
	f := newFake(t)
	s := taskSink(t, f, connect.Config{})
	f.FailNext("StartTaskContact", connecttest.Failure{Status: 500, Code: "InternalServiceException", Applied: true})
	key := contactID + ":task"
	_, err := s.Deliver(context.Background(), delivery(), key)
	if err == nil || retry.IsPermanent(err) {
		t.Fatalf("Deliver after a 500 = %v, want a retryable error", err)
	}
	id, err := s.Deliver(context.Background(), delivery(), key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Deliver(context.Background(), delivery(), contactID+":guided_task"); err != nil {
		t.Fatal(err)
	}
	rs := f.Requests("StartTaskContact")
	if len(rs) != 3 {
		t.Fatalf("%d requests, want 3", len(rs))
	}
	tok := rs[0].Body["ClientToken"].(string)
	if rs[1].Body["ClientToken"] != tok {
		t.Errorf("retry ClientToken %v, first %v", rs[1].Body["ClientToken"], tok)
	}
	if rs[2].Body["ClientToken"] == tok {
		t.Error("another delivery key gave the same ClientToken")
	}
	if len(tok) > 500 || !regexpMatch(`^[A-Za-z0-9-]+$`, tok) {
		t.Errorf("ClientToken %q is not within Connect's limits", tok)
	}
	tasks := f.Tasks()
	if len(tasks) != 2 || tasks[0].ContactID != id || tasks[0].Requests != 2 || tasks[0].Mismatches != 0 {
		t.Errorf("tasks %+v; want the retry to return the first attempt's task %s, unchanged", tasks, id)
	}
}

func TestTaskTruncation(t *testing.T) {
	f := newFake(t)
	s := taskSink(t, f, connect.Config{})
	d := delivery()
	// Two-byte characters: Connect counts characters for Description and
	// bytes for References and Attributes.
	d.Record.Transcript = strings.Repeat("é", 5000)
	if _, err := s.Deliver(context.Background(), d, "k"); err != nil {
		t.Fatal(err)
	}
	body := f.Last("StartTaskContact")
	desc := body["Description"].(string)
	if n := utf8.RuneCountInString(desc); n != 4096 || !strings.HasSuffix(desc, marker) || !strings.HasPrefix(desc, "éé") {
		t.Errorf("Description has %d characters, ends %q; want 4096 ending in the marker", n, desc[len(desc)-20:])
	}
	total := 0
	for name, v := range body["References"].(map[string]any) {
		total += len(name) + len(v.(map[string]any)["Value"].(string))
	}
	tr := connecttest.References(t, body["References"])["Voicemail Transcript"]
	if total > 4096 || !strings.HasSuffix(tr, marker) || !utf8.ValidString(tr) {
		t.Errorf("References take %d bytes; transcript reference ends %q", total, tr[len(tr)-20:])
	}
	if connecttest.References(t, body["References"])["Playback URL"] != "URL:"+mediaURL {
		t.Error("the playback link was dropped to make room for the transcript")
	}
	if a := connecttest.Strings(t, body["Attributes"])["vmx3_transcript"]; a != d.Record.Transcript {
		t.Errorf("transcript attribute has %d bytes, want the whole transcript", len(a))
	}

	// A short name is kept; a long one is cut at 512 characters.
	d.Record.Caller = strings.Repeat("9", 600)
	if _, err := s.Deliver(context.Background(), d, "k2"); err != nil {
		t.Fatal(err)
	}
	if name := f.Last("StartTaskContact")["Name"].(string); utf8.RuneCountInString(name) != 512 || !strings.HasSuffix(name, marker) {
		t.Errorf("Name has %d characters", utf8.RuneCountInString(name))
	}
}

// The task's attributes share Connect's 32 KB with the voice contact's.
func TestTaskAttributeBudget(t *testing.T) {
	f := newFake(t)
	s := taskSink(t, f, connect.Config{})
	d := delivery()
	d.Record.Attributes["vmx3_big"] = strings.Repeat("x", 20000)
	d.Record.Attributes["vmx3_transcript"] = strings.Repeat("y", 5000) // replaced, so it does not count
	d.Record.Transcript = strings.Repeat("word ", 4000)
	if _, err := s.Deliver(context.Background(), d, "k"); err != nil {
		t.Fatal(err)
	}
	attrs := connecttest.Strings(t, f.Last("StartTaskContact")["Attributes"])
	total := 0
	for k, v := range d.Record.Attributes {
		if _, replaced := attrs[k]; !replaced {
			total += len(k) + len(v)
		}
	}
	for k, v := range attrs {
		total += len(k) + len(v)
	}
	tr := attrs["vmx3_transcript"]
	if total > 32768 || total < 32768-64 || !strings.HasSuffix(tr, marker) {
		t.Errorf("attributes take %d bytes (transcript %d bytes); want ≤ 32768, transcript cut to fill", total, len(tr))
	}

	d.Record.Attributes["vmx3_big"] = strings.Repeat("x", 32760)
	_, err := s.Deliver(context.Background(), d, "k")
	if !retry.IsPermanent(err) {
		t.Errorf("Deliver with no room for attributes = %v, want a permanent error", err)
	}
}

func TestTaskAgentRoute(t *testing.T) {
	f := newFake(t)
	s := taskSink(t, f, connect.Config{})
	d := delivery()
	d.Record.Target = "agent"
	d.Record.Preferred = "jdoe"
	d.Record.Route = voicemail.Route{QueueARN: queueARN, QueueName: "Sales", AgentID: agentID, AgentUsername: "jdoe", AgentName: "Jane Doe"}
	if _, err := s.Deliver(context.Background(), d, "k"); err != nil {
		t.Fatal(err)
	}
	body := f.Last("StartTaskContact")
	if body["Name"] != "Voicemail for Jane Doe (jdoe) from +15555551212" {
		t.Errorf("Name = %v", body["Name"])
	}
	a := connecttest.Strings(t, body["Attributes"])
	if a["vmx3_target"] != "agent" || a["vmx3_preferred_agent_id"] != agentID || a["vmx3_queue_arn"] != queueARN || a["vmx3_agent_name"] != "Jane Doe" {
		t.Errorf("agent attributes = %v", a)
	}
	if r := connecttest.References(t, body["References"]); r["Agent"] != "STRING:Jane Doe (jdoe)" {
		t.Errorf("Agent reference = %q", r["Agent"])
	}

	// The agent was not found and Route sent the voicemail to the queue:
	// the task flow must not route on the contact's vmx3_target=agent.
	d.Record.Route = voicemail.Route{QueueARN: queueARN, QueueName: "Sales"}
	d.Record.Attributes["vmx3_target"] = "agent"
	if _, err := s.Deliver(context.Background(), d, "k2"); err != nil {
		t.Fatal(err)
	}
	a = connecttest.Strings(t, f.Last("StartTaskContact")["Attributes"])
	if a["vmx3_target"] != "queue" || a["vmx3_preferred_agent_id"] != "NONE" {
		t.Errorf("fallback attributes = %v", a)
	}
}

// VMX2's personal-queue voicemail: the task goes to the agent's queue.
func TestTaskAgentPersonalQueue(t *testing.T) {
	f := newFake(t)
	s := taskSink(t, f, connect.Config{})
	d := delivery()
	d.Record.Prefix = "vmx_"
	d.Record.QueueARN = agentQARN
	d.Record.InstanceID = ""
	d.Record.Route = voicemail.Route{QueueARN: agentQARN, AgentID: agentID, AgentUsername: "jdoe"}
	if _, err := s.Deliver(context.Background(), d, "k"); err != nil {
		t.Fatal(err)
	}
	body := f.Last("StartTaskContact")
	a := connecttest.Strings(t, body["Attributes"])
	if body["InstanceId"] != instanceID || a["vmx_queue_arn"] != agentQARN || a["vmx_target"] != "agent" || a["vmx_preferred_agent_id"] != agentID ||
		a["vmx_source_queue"] != "personal queue of jdoe" {
		t.Errorf("InstanceId %v, attributes %v", body["InstanceId"], a)
	}
	if r := connecttest.References(t, body["References"]); r["Original Queue"] != "STRING:personal queue of jdoe" || r["Agent"] != "STRING:jdoe" {
		t.Errorf("references %v", r)
	}
	if _, ok := a["vmx3_target"]; ok {
		t.Error("attributes written under vmx3_ for a vmx_ contact")
	}
}

func TestTaskFlowChoice(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      connect.Config
		attrs    map[string]string
		flow     string
		template string
	}{
		{"config flow", connect.Config{TaskFlowID: taskFlow}, nil, taskFlow, ""},
		{"config flow ARN", connect.Config{TaskFlowID: arnPrefix + "/contact-flow/" + taskFlow}, nil, taskFlow, ""},
		{"template", connect.Config{TaskTemplateID: "tmpl-1"}, nil, "", "tmpl-1"},
		{"contact flow wins", connect.Config{TaskTemplateID: "tmpl-1"}, map[string]string{"vmx3_task_flow": " flow-9 "}, "flow-9", ""},
		{"empty attribute means default", connect.Config{TaskFlowID: taskFlow}, map[string]string{"vmx3_task_flow": ""}, taskFlow, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			s := taskSink(t, f, tc.cfg)
			d := delivery()
			for k, v := range tc.attrs {
				d.Record.Attributes[k] = v
			}
			if _, err := s.Deliver(context.Background(), d, "k"); err != nil {
				t.Fatal(err)
			}
			body := f.Last("StartTaskContact")
			flow, _ := body["ContactFlowId"].(string)
			template, _ := body["TaskTemplateId"].(string)
			if flow != tc.flow || template != tc.template {
				t.Errorf("ContactFlowId %q, TaskTemplateId %q; want %q, %q", flow, template, tc.flow, tc.template)
			}
		})
	}
	t.Run("bad attribute", func(t *testing.T) {
		f := newFake(t)
		s := taskSink(t, f, connect.Config{})
		d := delivery()
		d.Record.Attributes["vmx3_task_flow"] = "not a flow!"
		_, err := s.Deliver(context.Background(), d, "k")
		if !retry.IsPermanent(err) || !strings.Contains(err.Error(), `vmx3_task_flow "not a flow!"`) {
			t.Errorf("Deliver = %v, want a permanent error naming the attribute", err)
		}
		if n := len(f.Requests("")); n != 0 {
			t.Errorf("%d requests sent", n)
		}
	})
	t.Run("no default", func(t *testing.T) {
		if _, err := connect.NewTaskSink(client(newFake(t)), connect.Config{}); err == nil {
			t.Error("NewTaskSink without a flow or template succeeded")
		}
		if _, err := connect.NewGuidedTaskSink(client(newFake(t)), connect.Config{TaskFlowID: taskFlow}); err == nil {
			t.Error("NewGuidedTaskSink without a guided flow succeeded")
		}
	})
}

func TestTaskErrors(t *testing.T) {
	for _, tc := range []struct {
		fail      connecttest.Failure
		permanent bool
		delayed   bool
	}{
		{fail(400, "InvalidParameterException"), true, false},
		{fail(400, "InvalidRequestException"), true, false},
		{fail(404, "ResourceNotFoundException"), true, false},
		{fail(403, "AccessDeniedException"), true, false},
		{fail(429, "ThrottlingException"), false, true},
		{fail(429, "ServiceQuotaExceededException"), false, true},
		{fail(500, "InternalServiceException"), false, false},
		{fail(503, "ServiceUnavailableException"), false, false},
	} {
		t.Run(tc.fail.Code, func(t *testing.T) {
			f := newFake(t)
			s := taskSink(t, f, connect.Config{})
			f.FailNext("StartTaskContact", tc.fail)
			_, err := s.Deliver(context.Background(), delivery(), "k")
			_, delayed := retry.Delay(err)
			if err == nil || retry.IsPermanent(err) != tc.permanent || delayed != tc.delayed {
				t.Fatalf("Deliver = %v (permanent %v, delayed %v)", err, retry.IsPermanent(err), delayed)
			}
			if !strings.HasPrefix(err.Error(), "connect: start task for contact "+contactID+": ") || !strings.Contains(err.Error(), tc.fail.Code) {
				t.Errorf("error %q lacks context or cause", err)
			}
		})
	}
}

func TestGuidedTask(t *testing.T) {
	f := newFake(t)
	s, err := connect.NewGuidedTaskSink(client(f), connect.Config{GuidedTaskFlowID: guidedFlow})
	if err != nil {
		t.Fatal(err)
	}
	d := delivery()
	d.Record.Transcript = strings.Repeat("long message ", 400) // over VMX's 2048 characters
	if _, err := s.Deliver(context.Background(), d, contactID+":guided_task"); err != nil {
		t.Fatal(err)
	}
	body := f.Last("StartTaskContact")
	if body["ContactFlowId"] != guidedFlow {
		t.Errorf("ContactFlowId = %v", body["ContactFlowId"])
	}
	r := connecttest.References(t, body["References"])
	if _, ok := r["Playback URL"]; ok {
		t.Error("guided task carries a playback link; its view fetches a fresh one")
	}
	a := connecttest.Strings(t, body["Attributes"])
	if a["vmx3_recording_key"] != d.Record.AudioKey || a["vmx3_transcript"] != strings.TrimSpace(d.Record.Transcript) {
		t.Errorf("recording key %q, transcript of %d bytes", a["vmx3_recording_key"], len(a["vmx3_transcript"]))
	}
	if _, ok := a["vmx3_media_url"]; ok {
		t.Error("guided task stores a media URL")
	}
	// The contact's own guided flow wins.
	d.Record.Attributes["vmx3_guided_task_flow"] = "flow-7"
	if _, err := s.Deliver(context.Background(), d, "k2"); err != nil {
		t.Fatal(err)
	}
	if got := f.Last("StartTaskContact")["ContactFlowId"]; got != "flow-7" {
		t.Errorf("ContactFlowId = %v, want the contact's", got)
	}
}

func TestTaskEmptyVoicemail(t *testing.T) {
	f := newFake(t)
	s := taskSink(t, f, connect.Config{})
	d := delivery()
	d.Record.Transcript, d.Record.Empty = "", true
	if _, err := s.Deliver(context.Background(), d, "k"); err != nil {
		t.Fatal(err)
	}
	body := f.Last("StartTaskContact")
	if body["Name"] != "Voicemail from +15555551212 (no speech)" || body["Description"] != "The caller did not speak." {
		t.Errorf("Name %v, Description %v", body["Name"], body["Description"])
	}
	if _, ok := connecttest.References(t, body["References"])["Voicemail Transcript"]; ok {
		t.Error("empty transcript reference sent")
	}
}
