package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/synth"
)

// vmx serve records a call from its stream and serves the live
// transcription API, both behind the API key.
func TestServeRecordsAndStreamsCalls(t *testing.T) {
	contact := "cc000000-0000-4000-8000-000000000001"
	at := time.Date(2026, 2, 3, 10, 0, 0, 0, time.UTC)
	var w bytes.Buffer
	if err := synth.WriteWAV(&w, synth.Spec{Seconds: 4, Prompt: 0.5, Seed: 11, ContactID: contact, Start: at}); err != nil {
		t.Fatal(err)
	}
	stereo := bytes.Clone(w.Bytes()[44:])
	sim := kvssim.New(kvssim.Options{})
	src, err := kvssim.FromWAV(&w, kvssim.Contact{ContactID: contact, Start: at})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.AddStream("call", src); err != nil {
		t.Fatal(err)
	}
	arn, _ := sim.StreamARN("call")
	frags, _ := sim.Fragments("call")
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer target.Close()
	s := serveVMX(t, sim, map[string]string{"VMX_WEBHOOK_URL": target.URL, "VMX_WEBHOOK_SECRET": "0123456789abcdef",
		"VMX_LIVE_TARGET_URL": target.URL, "VMX_LIVE_TARGET_SECRET": "live-secret-0123"})

	call := func(method, path string, body any, key string) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, s.url+path, bytes.NewReader(b))
		if key != "" {
			req.Header.Set("X-API-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}

	// Call recording: both sides, stopped once the audio is read.
	start := map[string]any{"contact_id": contact, "stream_arn": arn, "start_selector": "FRAGMENT_NUMBER",
		"start_fragment_number": frags[0].Number, "from_customer": true, "to_customer": true}
	if code, _ := call(http.MethodPost, "/v1/recordings", start, ""); code != http.StatusUnauthorized {
		t.Fatalf("recording without the API key: %d", code)
	}
	if code, out := call(http.MethodPost, "/v1/recordings", start, dtAPIKey); code != http.StatusAccepted {
		t.Fatalf("start recording: %d %v", code, out)
	}
	want := map[string]string{}
	for _, track := range []struct {
		name string
		at   int
	}{{"AUDIO_FROM_CUSTOMER", 0}, {"AUDIO_TO_CUSTOMER", 2}} {
		var pcm []byte
		for i := track.at; i+2 <= len(stereo); i += 4 {
			pcm = append(pcm, stereo[i:i+2]...)
		}
		sum := sha256.Sum256(pcm)
		want[track.name] = hex.EncodeToString(sum[:])
	}
	var status map[string]any
	// The whole call is read before it is stopped.
	deadline := time.Now().Add(time.Minute)
	for {
		_, status = call(http.MethodGet, "/v1/recordings/"+contact, nil, dtAPIKey)
		if d, _ := status["duration_ms"].(float64); d >= 4000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recording never read the 4 s call: %v", status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, out := call(http.MethodPost, "/v1/recordings/"+contact+"/stop", nil, dtAPIKey); code != http.StatusOK {
		t.Fatalf("stop recording: %d %v", code, out)
	}
	_, status = call(http.MethodGet, "/v1/recordings/"+contact, nil, dtAPIKey)
	files, _ := status["files"].([]any)
	if len(files) != 2 {
		t.Fatalf("recording status %v", status)
	}
	for _, f := range files {
		f := f.(map[string]any)
		if track := f["track"].(string); f["pcm_sha256"] != want[track] {
			t.Errorf("%s: stored audio %v, the stream carried %s", track, f["pcm_sha256"], want[track])
		}
	}

	// Live transcription: start and stop a conversation on the same stream.
	guid := "dd000000-0000-4000-8000-000000000002"
	liveStart := map[string]any{"namespace": "amazonconnect", "guid": guid, "customerId": "c-1", "agentId": "a-1",
		"autotranscribeParams": map[string]any{"language": "en-US"},
		"amazonConnectParams":  map[string]any{"streamArn": arn, "startSelectorType": "FRAGMENT_NUMBER", "afterFragmentNumber": frags[0].Number}}
	if code, out := call(http.MethodPost, "/mg-autotranscribe/v1/start-streaming", liveStart, dtAPIKey); code != http.StatusOK || out["isOk"] != true {
		t.Fatalf("start-streaming: %d %v", code, out)
	}
	if code, out := call(http.MethodPost, "/mg-autotranscribe/v1/stop-streaming", map[string]any{"namespace": "amazonconnect", "guid": guid}, dtAPIKey); code != http.StatusOK || out["isOk"] != true {
		t.Fatalf("stop-streaming: %d %v", code, out)
	}
	if code, out := call(http.MethodPost, "/mg-autotranscribe/v1/stop-streaming", map[string]any{"namespace": "amazonconnect", "guid": "unknown"}, dtAPIKey); code != http.StatusNotFound || out["isOk"] != false {
		t.Fatalf("stop of an unknown conversation: %d %v", code, out)
	}
	if code, _ := call(http.MethodGet, "/conversation/v1/conversation/messages?externalConversationId="+guid, nil, ""); code != http.StatusUnauthorized {
		t.Fatalf("messages without the API key: %d", code)
	}
}
