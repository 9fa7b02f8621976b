package live

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/store"
)

var callLines = []string{
	"Hello I need help with my streaming package today.",
	"Thank you sir let me pull up your account.",
	"My account number is on the letter you sent me.",
	"I can see it now and I will upgrade the package.",
}

// TestCallEndToEnd plays a two-sided call through the KVS simulator at
// four times real time and checks what the webhook, the stop summary, the
// after-call API and the export say.
func TestCallEndToEnd(t *testing.T) {
	c := buildCall(t, callLines, 1500, 2000)
	rc := &receiver{}
	target := httptest.NewServer(rc)
	defer target.Close()
	r := newRig(t, 4, Config{
		Targets:   []TargetConfig{{URL: target.URL, Secret: SecretConfig{Value: "s3cret"}}},
		StopGrace: 50 * time.Millisecond,
	}, durationEngine{})
	const guid = "8c259fea-8764-4a92-adc4-73572e9cf016"
	arn := r.addCall(t, "connect-contact-1", guid, c)

	var first, again Response
	if code := r.post(t, PathStart, r.startAtFirst(t, "connect-contact-1", guid, arn), &first); code != http.StatusOK || !first.IsOK {
		t.Fatalf("start: %d %+v", code, first)
	}
	cust, agent := first.Response.Customer.StreamID, first.Response.Agent.StreamID
	if cust == "" || agent == "" || cust == agent || first.Response.Customer.Status.Code != CodeOK {
		t.Fatalf("start streams: %+v", first.Response)
	}
	if r.post(t, PathStart, startBody(guid, arn), &again); again.Response.Customer.StreamID != cust || again.Response.Agent.StreamID != agent {
		t.Fatalf("second start returned other streams: %+v", again.Response)
	}

	waitFor(t, 30*time.Second, "four messages", func() bool { return len(rc.got()) >= len(c.turns) })
	// Stop once the whole call was read: the stop summary counts it.
	waitFor(t, 10*time.Second, "the whole call", func() bool {
		return counter(t, r.svc.m.audio, RoleCustomer) == float64(len(c.from)) && counter(t, r.svc.m.audio, RoleAgent) == float64(len(c.to))
	})
	var stop Response
	if code := r.post(t, PathStop, map[string]any{"namespace": "amazonconnect", "guid": guid}, &stop); code != http.StatusOK || !stop.IsOK {
		t.Fatalf("stop: %d %+v", code, stop)
	}
	got := rc.got()
	if len(got) != len(c.turns) {
		t.Fatalf("got %d messages, want %d: %+v", len(got), len(c.turns), got)
	}
	masked := regexp.MustCompile(`^I spoke for \*{4} milliseconds$`)
	for i, m := range got {
		want := c.turns[i]
		streamID, ext := cust, "TT9833237"
		if want.role == RoleAgent {
			streamID, ext = agent, "RE223444211993"
		}
		if m.Type != "transcript" || m.ExternalConversationID != guid || m.StreamID != streamID ||
			m.Sender.Role != want.role || m.Sender.ExternalID != ext || m.Response.Message != "transcript" {
			t.Errorf("message %d: %+v, want role %s stream %s", i, m.Message, want.role, streamID)
		}
		// Padding is 200 ms each side; the detector may round a frame.
		if d := m.Response.StartMS - want.speech.StartMS; d > 0 || d < -300 {
			t.Errorf("message %d starts at %d ms, speech at %d ms", i, m.Response.StartMS, want.speech.StartMS)
		}
		if d := m.Response.EndMS - want.speech.EndMS; d < 0 || d > 300 {
			t.Errorf("message %d ends at %d ms, speech at %d ms", i, m.Response.EndMS, want.speech.EndMS)
		}
		// Redaction is on by default: the duration's digits are masked.
		if len(m.Response.Utterance) != 1 || !masked.MatchString(m.Response.Utterance[0].Text) {
			t.Errorf("message %d text %+v, want the duration masked", i, m.Response.Utterance)
		}
		if m.Timestamp != nil {
			t.Errorf("message %d: webhook body carries a timestamp", i)
		}
		if h := rc.hdr[i].Get("X-Api-Key"); h != "s3cret" {
			t.Errorf("message %d: X-Api-Key %q", i, h)
		}
	}

	// The summary counts the audio as sent: both tracks, whole.
	for name, p := range map[string]Participant{"customer": stop.Response.Customer, "agent": stop.Response.Agent} {
		s := p.Summary
		if s == nil || s.TotalAudioBytes != int64(len(c.from)) || s.AudioDurationMS != int64(len(c.from)/16) || s.Transcripts != 2 || s.StreamingSeconds < 1 {
			t.Errorf("%s summary %+v, want %d bytes, %d ms, 2 transcripts", name, s, len(c.from), len(c.from)/16)
		}
	}
	if stop.Response.Customer.StreamID != cust {
		t.Errorf("stop names stream %s, want %s", stop.Response.Customer.StreamID, cust)
	}

	// After the call: the same messages, in order, with timestamps.
	code, body := r.get(t, PathMessages+"?externalConversationId="+url.QueryEscape(guid))
	if code != http.StatusOK {
		t.Fatalf("messages: %d %s", code, body)
	}
	var conv Conversation
	if err := json.Unmarshal(body, &conv); err != nil {
		t.Fatal(err)
	}
	if conv.Status != "stopped" || len(conv.Messages) != len(got) {
		t.Fatalf("messages: status %s, %d messages", conv.Status, len(conv.Messages))
	}
	for i, m := range conv.Messages {
		if m.Timestamp == nil || m.Timestamp.IsZero() {
			t.Errorf("after-call message %d has no timestamp", i)
		}
		m.Timestamp = nil
		if !sameMessage(m, got[i].Message) {
			t.Errorf("after-call message %d = %+v, webhook got %+v", i, m, got[i].Message)
		}
	}

	// The export of the interval holds the same messages.
	from := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	code, body = r.get(t, PathExport+"?from="+from)
	if code != http.StatusOK {
		t.Fatalf("export: %d %s", code, body)
	}
	var lines []Message
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != len(conv.Messages) {
		t.Fatalf("export has %d lines, want %d", len(lines), len(conv.Messages))
	}
	for i := range lines {
		if !sameMessage(lines[i], conv.Messages[i]) || !lines[i].Timestamp.Equal(*conv.Messages[i].Timestamp) {
			t.Errorf("export line %d = %+v, after-call %+v", i, lines[i], conv.Messages[i])
		}
	}

	// Stopping again repeats the summary; an unknown conversation is an
	// error that says what to do.
	var again2 Response
	if code := r.post(t, PathStop, map[string]any{"namespace": "amazonconnect", "guid": guid}, &again2); code != http.StatusOK ||
		again2.Response.Customer.Summary.TotalAudioBytes != int64(len(c.from)) {
		t.Errorf("second stop: %d %+v", code, again2.Response)
	}
	var unknown Response
	if code := r.post(t, PathStop, map[string]any{"namespace": "amazonconnect", "guid": "nope"}, &unknown); code != http.StatusNotFound ||
		unknown.IsOK || unknown.Error == nil || unknown.Error.Code != CodeUnknown || !strings.Contains(unknown.Error.Description, "start-streaming") {
		t.Errorf("stop of unknown conversation: %d %+v", code, unknown)
	}
	if code, _ := r.get(t, PathMessages+"?externalConversationId=nope"); code != http.StatusNotFound {
		t.Errorf("messages of unknown conversation: %d", code)
	}
}

func sameMessage(a, b Message) bool {
	a.Timestamp, b.Timestamp = nil, nil
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// TestStartValidation checks that bad requests get specific errors.
func TestStartValidation(t *testing.T) {
	r := newRig(t, 0, Config{}, asr.None{})
	arn := "arn:aws:kinesisvideo:us-east-1:111122223333:stream/s/1"
	for _, tc := range []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"namespace", func(b map[string]any) { b["namespace"] = "genesys" }, "namespace"},
		{"guid", func(b map[string]any) { delete(b, "guid") }, "guid is required"},
		{"arn", func(b map[string]any) { b["amazonConnectParams"] = map[string]any{"streamArn": "stream-1"} }, "not a Kinesis video stream ARN"},
		{"selector", func(b map[string]any) {
			b["amazonConnectParams"] = map[string]any{"streamArn": arn, "startSelectorType": "EARLIEST"}
		}, "NOW or FRAGMENT_NUMBER"},
		{"fragment", func(b map[string]any) {
			b["amazonConnectParams"] = map[string]any{"streamArn": arn, "startSelectorType": "FRAGMENT_NUMBER"}
		}, "afterFragmentNumber"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := startBody("g-1", arn)
			tc.edit(b)
			var resp Response
			code := r.post(t, PathStart, b, &resp)
			if code != http.StatusBadRequest || resp.IsOK || resp.Error == nil || !strings.Contains(resp.Error.Description, tc.want) {
				t.Errorf("got %d %+v, want 400 mentioning %q", code, resp.Error, tc.want)
			}
		})
	}
}

// TestRedactionOff checks that a start request may turn masking off.
func TestRedactionOff(t *testing.T) {
	c := buildCall(t, callLines[:1], 1000, 1500)
	rc := &receiver{}
	target := httptest.NewServer(rc)
	defer target.Close()
	r := newRig(t, 8, Config{Targets: []TargetConfig{{URL: target.URL, Secret: SecretConfig{Value: "q", In: SecretInQuery}}}}, durationEngine{})
	arn := r.addCall(t, "connect-contact-2", "g-2", c)
	b := r.startAtFirst(t, "connect-contact-2", "g-2", arn)
	b["autotranscribeParams"] = map[string]any{"redaction": false}
	var resp Response
	if code := r.post(t, PathStart, b, &resp); code != http.StatusOK {
		t.Fatalf("start: %d %+v", code, resp)
	}
	waitFor(t, 20*time.Second, "a message", func() bool { return len(rc.got()) >= 1 })
	m := rc.got()[0]
	if !regexp.MustCompile(`^I spoke for [0-9]{4} milliseconds$`).MatchString(m.Response.Utterance[0].Text) {
		t.Errorf("text %q: digits masked though redaction is off", m.Response.Utterance[0].Text)
	}
	if u := rc.urls[0]; !strings.Contains(u, "api_key=q") {
		t.Errorf("secret not in the query: %s", u)
	}
}

// TestStopAndResume stops a call after its first utterance (a hold) and
// starts it again: the streams stay the same, the timeline goes on where
// the call is, and the summaries add up.
func TestStopAndResume(t *testing.T) {
	c := buildCall(t, callLines, 1500, 2000)
	rc := &receiver{}
	target := httptest.NewServer(rc)
	defer target.Close()
	r := newRig(t, 4, Config{Targets: []TargetConfig{{URL: target.URL}}, StopGrace: 10 * time.Millisecond}, durationEngine{})
	const guid = "resume-1"
	arn := r.addCall(t, "connect-contact-3", guid, c)
	var first, stop1, second, stop2 Response
	r.post(t, PathStart, r.startAtFirst(t, "connect-contact-3", guid, arn), &first)
	waitFor(t, 20*time.Second, "the first message", func() bool { return len(rc.got()) >= 1 })
	if code := r.post(t, PathStop, map[string]any{"namespace": "amazonconnect", "guid": guid}, &stop1); code != http.StatusOK {
		t.Fatalf("stop: %d %+v", code, stop1)
	}
	time.Sleep(500 * time.Millisecond) // on hold
	if code := r.post(t, PathStart, startBody(guid, arn), &second); code != http.StatusOK || second.Response.Customer.StreamID != first.Response.Customer.StreamID ||
		second.Response.Agent.StreamID != first.Response.Agent.StreamID {
		t.Fatalf("resume: %d %+v, first %+v", code, second.Response, first.Response)
	}
	// The last turn is the agent's; wait for it.
	waitFor(t, 20*time.Second, "the last message", func() bool {
		got := rc.got()
		return len(got) > 1 && got[len(got)-1].Sender.Role == RoleAgent && got[len(got)-1].Response.EndMS > c.turns[3].speech.StartMS
	})
	r.post(t, PathStop, map[string]any{"namespace": "amazonconnect", "guid": guid}, &stop2)
	s1, s2 := stop1.Response.Customer.Summary, stop2.Response.Customer.Summary
	if s2.TotalAudioBytes <= s1.TotalAudioBytes || s2.TotalAudioBytes > int64(len(c.from)) || s2.Transcripts != s1.Transcripts+countRole(rc.got()[1:], RoleCustomer) ||
		s2.StreamingSeconds < s1.StreamingSeconds {
		t.Errorf("summaries %+v then %+v", s1, s2)
	}
	// Every message lies where its speech is in the call; an utterance
	// cut by the stop or the resume is partial.
	for i, m := range rc.got() {
		ok := false
		for _, tu := range c.turns {
			if tu.role == m.Sender.Role && m.Response.StartMS >= tu.speech.StartMS-300 && m.Response.EndMS <= tu.speech.EndMS+300 {
				ok = true
			}
		}
		if !ok {
			t.Errorf("message %d (%s %d-%d ms) matches no turn of %+v", i, m.Sender.Role, m.Response.StartMS, m.Response.EndMS, c.turns)
		}
	}
	code, body := r.get(t, PathMessages+"?externalConversationId="+guid)
	var conv Conversation
	if err := json.Unmarshal(body, &conv); err != nil || code != http.StatusOK || len(conv.Messages) != len(rc.got()) {
		t.Errorf("messages: %d %s", code, body)
	}
}

func countRole(ms []received, role string) int64 {
	n := int64(0)
	for _, m := range ms {
		if m.Sender.Role == role {
			n++
		}
	}
	return n
}

// TestFeed writes a day's messages to the blob store and serves the file:
// it holds the export of that day.
func TestFeed(t *testing.T) {
	r := newRig(t, 0, Config{}, asr.None{})
	bs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	svc, err := New(Config{Feed: FeedConfig{Enabled: true}}, Deps{Streams: r.svc.kvs, Engine: asr.None{}, Store: r.db, Blob: bs})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(t.Context())
	api := httptest.NewServer(svc.Handler(nil))
	defer api.Close()

	day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	ctx := t.Context()
	if err := r.db.PutLiveConversation(ctx, &store.LiveConversation{GUID: "f1", Namespace: namespace, CustomerStreamID: "a", AgentStreamID: "b",
		State: store.LiveStopped, StartedAt: day, UpdatedAt: day}); err != nil {
		t.Fatal(err)
	}
	for i, at := range []time.Time{day.Add(-time.Second), day.Add(time.Hour), day.Add(23 * time.Hour), day.Add(24 * time.Hour)} {
		if err := r.db.AddLiveMessage(ctx, &store.LiveMessage{GUID: "f1", Seq: int64(i + 1), StreamID: "a", Role: RoleCustomer,
			Text: fmt.Sprint("m", i), CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	key, n, err := svc.WriteFeed(ctx, day.Add(5*time.Hour))
	if err != nil || n != 2 || key != "transcripts/utterances/2026/03/04.jsonl" {
		t.Fatalf("feed %q with %d messages, %v", key, n, err)
	}
	var export bytes.Buffer
	if _, err := svc.Export(ctx, &export, day, day.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(api.URL + PathFeed + "2026-03-04")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, export.Bytes()) || strings.Count(string(got), "\n") != 2 ||
		!strings.Contains(string(got), `"text":"m1"`) || !strings.Contains(string(got), `"text":"m2"`) {
		t.Errorf("feed %d %q, export %q", resp.StatusCode, got, export.Bytes())
	}
	if resp, err := http.Get(api.URL + PathFeed + "2026-03-05"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing day: %v %v", resp.StatusCode, err)
	}
}
