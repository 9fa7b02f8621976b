package connect_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/connect"
	"github.com/vmx-dev/vmx/internal/media"
)

var signer = media.Signer{Secret: []byte("0123456789abcdef0123456789abcdef"), BaseURL: "https://vmx.example.com"}

var presignNow = time.Date(2026, 1, 2, 20, 4, 0, 0, time.UTC)

func presigner(t *testing.T) *connect.Presigner {
	t.Helper()
	p, err := connect.NewPresigner(connect.SignedLinks{Signer: signer, TTL: 10 * time.Minute, Now: func() time.Time { return presignNow }},
		connect.Config{GuidedLinkTTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// taskEvent is what Connect sends when a guided task's agent flow invokes
// the presigner.
const taskEvent = `{
  "Name": "ContactFlowEvent",
  "Details": {
    "ContactData": {
      "Attributes": {
        "vmx3_flag": "1",
        "vmx3_voicemail_contact_id": "` + contactID + `",
        "vmx3_recording_key": "recordings/2026/01/02/` + contactID + `.wav"
      },
      "AwsRegion": "us-east-1",
      "Channel": "TASK",
      "ContactId": "task-1",
      "CustomerEndpoint": null,
      "InitialContactId": "task-1",
      "InitiationMethod": "API",
      "InstanceARN": "` + arnPrefix + `",
      "PreviousContactId": "` + contactID + `",
      "Queue": {"ARN": "` + queueARN + `", "Name": "Sales", "OutboundCallerId": {"Address": "+18005550100", "Type": "TELEPHONE_NUMBER"}},
      "SystemEndpoint": null,
      "MediaStreams": {"Customer": {"Audio": null}}
    },
    "Parameters": {}
  }
}`

// checkLink verifies that u is a valid media link to id that expires in
// 10 minutes.
func checkLink(t *testing.T, u, id string) {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil || p.Path != media.PathPrefix+id {
		t.Fatalf("link %q is not a media link to %s", u, id)
	}
	exp, _ := strconv.ParseInt(p.Query().Get("exp"), 10, 64)
	if exp != presignNow.Add(10*time.Minute).Unix() {
		t.Errorf("link expires at %d, want in 10 minutes", exp)
	}
	if err := signer.Verify(id, exp, p.Query().Get("sig"), presignNow); err != nil {
		t.Errorf("link does not verify: %v", err)
	}
}

func TestPresign(t *testing.T) {
	var ev connect.FlowEvent
	if err := json.Unmarshal([]byte(taskEvent), &ev); err != nil {
		t.Fatal(err)
	}
	resp, err := presigner(t).Presign(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Result != "success" || resp.URL != resp.VMX3URL || resp.ContactID != contactID || resp.ExpiresIn != "600" {
		t.Errorf("response = %+v", resp)
	}
	checkLink(t, resp.URL, contactID)
	// The Lambda answer is a flat map of strings (STRING_MAP validation).
	raw, _ := json.Marshal(resp)
	var flat map[string]string
	if err := json.Unmarshal(raw, &flat); err != nil || flat["vmx3_presigned_url"] != resp.URL {
		t.Errorf("response JSON %s is not a string map with vmx3_presigned_url: %v", raw, err)
	}
}

func TestPresignContactChoice(t *testing.T) {
	const other = "99999999-5b1a-4c7e-9d21-3a7c1e6f0b42"
	for _, tc := range []struct {
		name   string
		params map[string]string
		attrs  map[string]string
		prev   string
		want   string
	}{
		{"parameter wins", map[string]string{"contact_id": other}, map[string]string{"vmx3_voicemail_contact_id": contactID}, contactID, other},
		{"vmx_ attribute", nil, map[string]string{"vmx_voicemail_contact_id": other}, contactID, other},
		{"VMX3 recording key", nil, map[string]string{"vmx3_recording_key": "2025/09/12/" + other + ".wav"}, contactID, other},
		{"previous contact", nil, map[string]string{"vmx3_voicemail_contact_id": "../etc"}, contactID, contactID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := connect.FlowEvent{Details: connect.FlowDetails{Parameters: tc.params,
				ContactData: connect.FlowContactData{ContactID: "task-1", Attributes: tc.attrs, PreviousContactID: tc.prev}}}
			resp, err := presigner(t).Presign(context.Background(), ev)
			if err != nil || resp.ContactID != tc.want {
				t.Fatalf("Presign = %+v, %v; want contact %s", resp, err, tc.want)
			}
			checkLink(t, resp.URL, tc.want)
		})
	}
	t.Run("bad parameter", func(t *testing.T) {
		ev := connect.FlowEvent{Details: connect.FlowDetails{Parameters: map[string]string{"contact_id": "a/b"},
			ContactData: connect.FlowContactData{PreviousContactID: contactID}}}
		if _, err := presigner(t).Presign(context.Background(), ev); err == nil {
			t.Error("an invalid contact_id parameter fell back to another contact")
		}
	})
}

func TestPresignHTTP(t *testing.T) {
	h := presigner(t)
	do := func(method, body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, "/v1/connect/presign", strings.NewReader(body)))
		return w
	}

	w := do(http.MethodPost, taskEvent)
	var resp connect.PresignResponse
	if err := json.Unmarshal(w.Body.Bytes(), &resp); w.Code != 200 || err != nil {
		t.Fatalf("POST = %d %s", w.Code, w.Body)
	}
	checkLink(t, resp.VMX3URL, contactID)
	if w.Header().Get("Cache-Control") != "no-store" || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", w.Header())
	}

	for _, tc := range []struct {
		method, body string
		status       int
	}{
		{http.MethodGet, "", http.StatusMethodNotAllowed},
		{http.MethodPost, "{not json", http.StatusBadRequest},
		{http.MethodPost, `{"Details":{"ContactData":{"ContactId":"task-1"}}}`, http.StatusBadRequest},
	} {
		w := do(tc.method, tc.body)
		var e map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &e); w.Code != tc.status || err != nil || e["result"] != "error" || e["error"] == "" {
			t.Errorf("%s %q = %d %s, want %d with an error", tc.method, tc.body, w.Code, w.Body, tc.status)
		}
	}

	broken, _ := connect.NewPresigner(connect.SignedLinks{Signer: media.Signer{BaseURL: "https://vmx.example.com"}}, connect.Config{})
	w = httptest.NewRecorder()
	broken.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", strings.NewReader(taskEvent)))
	if w.Code != http.StatusInternalServerError {
		t.Errorf("misconfigured signer: %d %s", w.Code, w.Body)
	}
}
