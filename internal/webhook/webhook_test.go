package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

func delivery() *voicemail.Delivery {
	return &voicemail.Delivery{
		Record: voicemail.Record{Request: voicemail.Request{
			ContactID: "c-1", Caller: "+15555550100", Language: "en-US", QueueARN: "arn:aws:connect:us-east-1:1:instance/i/queue/q",
			CallTime: time.Date(2026, 1, 1, 9, 30, 0, 0, time.UTC), Attributes: map[string]string{"vmx3_flag": "1"},
		}, DurationMS: 4200, Transcript: "call me back"},
		MediaURL: "https://vmx.example/v1/media/c-1?exp=1&sig=x",
	}
}

func TestDeliverSignedAndVerified(t *testing.T) {
	secret := "s3cret"
	var got Body
	var headers http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := Verify([]byte(secret), r.Header, body, time.Now(), 5*time.Minute); err != nil {
			t.Errorf("receiver: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		headers = r.Header
		json.Unmarshal(body, &got)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	s, err := New(Config{URL: srv.URL, Secret: secret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	detail, err := s.Deliver(context.Background(), delivery(), "c-1:webhook")
	if err != nil || detail != "202 Accepted" {
		t.Fatalf("deliver: %q %v", detail, err)
	}
	if got.Schema != SchemaVersion || got.ContactID != "c-1" || got.DeliveryID != "c-1:webhook" || got.Transcript != "call me back" ||
		got.MediaURL == "" || got.Attributes["vmx3_flag"] != "1" || headers.Get(HeaderDelivery) != "c-1:webhook" {
		t.Fatalf("received %+v", got)
	}
}

func TestVerifyRejects(t *testing.T) {
	body := []byte(`{"a":1}`)
	now := time.Unix(1_800_000_000, 0)
	h := http.Header{}
	h.Set(HeaderTimestamp, "1800000000")
	h.Set(HeaderSignature, Sign([]byte("k"), "1800000000", body))
	if err := Verify([]byte("k"), h, body, now, time.Minute); err != nil {
		t.Fatalf("valid request refused: %v", err)
	}
	for name, tc := range map[string]struct {
		secret string
		body   string
		now    time.Time
	}{
		"wrong secret":  {"other", `{"a":1}`, now},
		"changed body":  {"k", `{"a":2}`, now},
		"replayed late": {"k", `{"a":1}`, now.Add(10 * time.Minute)},
	} {
		if err := Verify([]byte(tc.secret), h, []byte(tc.body), tc.now, time.Minute); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		status     int
		retryAfter string
		permanent  bool
		delay      time.Duration
	}{
		{400, "", true, 0},
		{404, "", true, 0},
		{408, "", false, 0},
		{429, "7", false, 7 * time.Second},
		{500, "", false, 0},
		{503, "", false, 0},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if tc.retryAfter != "" {
				w.Header().Set("Retry-After", tc.retryAfter)
			}
			w.WriteHeader(tc.status)
		}))
		s, _ := New(Config{URL: srv.URL, Secret: "k"}, nil)
		_, err := s.Deliver(context.Background(), delivery(), "k1")
		srv.Close()
		d, hasDelay := retry.Delay(err)
		if err == nil || retry.IsPermanent(err) != tc.permanent || d != tc.delay || hasDelay != (tc.delay > 0) {
			t.Errorf("status %d: err %v permanent %v delay %v", tc.status, err, retry.IsPermanent(err), d)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{URL: "ftp://x", Secret: "k"}, {URL: "https://x"}} {
		if _, err := New(c, nil); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
