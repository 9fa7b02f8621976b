package recording

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/kvssim"
)

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	from, to := call(20, 2, 10)
	s := newSim(t, kvssim.Options{Pace: 2})
	arn, frags := s.stream(t, "long", kvssim.FromPCM(from, to, kvssim.Contact{ContactID: contactA}))
	other, _ := s.stream(t, "other", kvssim.FromPCM(from, to, kvssim.Contact{ContactID: contactB}))
	e := newEnv(t, s, Config{MaxConcurrent: 1}, nil)

	type answer struct {
		Error string `json:"error"`
	}
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		says                     string
	}{
		{"not JSON", "POST", "/v1/recordings", "contact=1", 400, "not a JSON object"},
		{"unknown field", "POST", "/v1/recordings", startBody(contactA, arn, frags[0].Number, `"stero":true`), 400, `unknown field "stero"`},
		{"missing stream", "POST", "/v1/recordings", `{"contact_id":"` + contactA + `"}`, 400, "stream_arn is required"},
		{"transcript only without an engine", "POST", "/v1/recordings", startBody(contactA, arn, frags[0].Number, `"save":false,"transcribe":true`), 400, "no speech-to-text engine"},
		{"body too large", "POST", "/v1/recordings", `{"contact_id":"` + strings.Repeat("a", 2<<20) + `"}`, 400, "exceeds"},
		{"unknown contact", "GET", "/v1/recordings/" + contactB, "", 404, "no recording of contact " + contactB},
		{"stop unknown contact", "POST", "/v1/recordings/" + contactB + "/stop", "", 404, "no recording"},
		{"transcript of unknown contact", "GET", "/v1/recordings/" + contactB + "/segments", "", 404, "no recording"},
		{"bad contact id", "GET", "/v1/recordings/bad%20id", "", 400, `"bad id" is not a contact ID`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a answer
			if code := e.do(t, tc.method, tc.path, tc.body, &a); code != tc.status || !strings.Contains(a.Error, tc.says) {
				t.Fatalf("%d %q; want %d saying %q", code, a.Error, tc.status, tc.says)
			}
		})
	}

	s.play(2)
	first := e.start(t, startBody(contactA, arn, frags[0].Number, ""))
	// Connect retries an invocation: the same request gets the recording.
	var again Status
	if code := e.do(t, "POST", "/v1/recordings", startBody(contactA, arn, frags[0].Number, ""), &again); code != http.StatusOK ||
		again.State != StateRecording || !again.StartedAt.Equal(first.StartedAt) {
		t.Fatalf("repeated start: %d %+v", code, again)
	}
	var a answer
	if code := e.do(t, "POST", "/v1/recordings", startBody(contactA, other, frags[0].Number, ""), &a); code != http.StatusConflict ||
		!strings.Contains(a.Error, "already recorded from stream "+arn) {
		t.Fatalf("same contact, other stream: %d %q", code, a.Error)
	}
	req, _ := http.NewRequest("POST", e.api.URL+"/v1/recordings", strings.NewReader(startBody(contactB, other, "", `"start_selector":"NOW"`)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&a)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(a.Error, "too many recordings") {
		t.Fatalf("over max_concurrent: %d %q", resp.StatusCode, a.Error)
	}
	if code := e.do(t, "GET", "/v1/recordings", "", nil); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /v1/recordings: %d", code)
	}
	e.wait(t, contactA, 5*time.Second, "no audio recorded", func(st Status) bool { return st.DurationMS > 0 })
	var st Status
	if code := e.do(t, "POST", "/v1/recordings/"+contactA+"/stop", "", &st); code != http.StatusOK || st.State != StateCompleted {
		t.Fatalf("stop: %d %+v", code, st)
	}
	// The slot is free again.
	e.start(t, startBody(contactB, other, "", `"start_selector":"NOW"`))
}

// The Lambda function takes Connect's flow event, records within the
// invocation and answers a flat map; a retried invocation gets the same
// answer without a second recording.
func TestLambda(t *testing.T) {
	t.Parallel()
	from, to := call(3, 1, 11)
	s := newSim(t, kvssim.Options{Pace: 10})
	arn, frags := s.stream(t, "call", kvssim.FromPCM(from, to, kvssim.Contact{ContactID: contactA}))
	e := newEnv(t, s, Config{}, nil)
	s.play(10)
	event := strings.NewReplacer(testARN, arn, testFragment, frags[0].Number).Replace(flowEventJSON)
	event = strings.Replace(event, `"transcribeCall": "true"`, `"transcribeCall": "false", "stereo": "false"`, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := e.rec.HandleLambda(ctx, json.RawMessage(event))
	if err != nil {
		t.Fatal(err)
	}
	if out["result"] != StateCompleted || out["ended_by"] != EndStreamEnded || out["contact_id"] != contactA ||
		!strings.HasSuffix(out["from_customer_key"], "_AUDIO_FROM_CUSTOMER.wav") || out["to_customer_key"] != "" || out["duration_ms"] != "3000" {
		t.Fatalf("answer %v", out)
	}
	if got := e.pcm(t, out["from_customer_key"], 1); !bytes.Equal(got, from) {
		t.Fatalf("stored %d bytes, want %d", len(got), len(from))
	}
	sessions := s.getMedia.Load()
	again, err := e.rec.HandleLambda(ctx, json.RawMessage(event))
	if err != nil || again["from_customer_key"] != out["from_customer_key"] || s.getMedia.Load() != sessions {
		t.Fatalf("retried invocation: %v %v, %d GetMedia sessions after %d", again, err, s.getMedia.Load(), sessions)
	}
	st, err := e.rec.Status(ctx, contactA)
	if err != nil || st.CustomerNumber != "+15555550123" || st.Request.Language != "es-US" {
		t.Fatalf("contact details %+v %v", st, err)
	}

	if _, err := e.rec.HandleLambda(ctx, json.RawMessage(`{"streamARN":"`+arn+`"}`)); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(err.Error(), "connectContactId is required") {
		t.Fatalf("bad event: %v", err)
	}
}

// The invocation's deadline, less the margin, ends the read; what was
// recorded is stored before the invocation returns.
func TestLambdaDeadline(t *testing.T) {
	t.Parallel()
	from, to := call(20, 1, 12)
	s := newSim(t, kvssim.Options{Pace: 2})
	arn, frags := s.stream(t, "long", kvssim.FromPCM(from, to, kvssim.Contact{ContactID: contactA}))
	e := newEnv(t, s, Config{LambdaMargin: 500 * time.Millisecond}, nil)
	s.play(2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := e.rec.HandleLambda(ctx, json.RawMessage(`{"streamARN":"`+arn+`","startFragmentNum":"`+frags[0].Number+`","connectContactId":"`+contactA+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("HandleLambda returned after the deadline")
	}
	if out["result"] != StateCompleted || out["ended_by"] != EndLambdaTimeLimit {
		t.Fatalf("answer %v", out)
	}
	got := e.pcm(t, out["to_customer_key"], 1)
	if len(got) == 0 || len(got) >= len(to) || !bytes.HasPrefix(to, got) {
		t.Fatalf("stored %d bytes, not the start of the call", len(got))
	}
}
