package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/ctr"
	"github.com/vmx-dev/vmx/internal/ivr"
	"github.com/vmx-dev/vmx/internal/kvs"
	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/media"
	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/server"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/synth"
	"github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/wav"
	"github.com/vmx-dev/vmx/internal/webhook"
)

const apiKey = "test-api-key"

// receiver is a webhook endpoint that verifies signatures and counts
// deliveries by contact.
type receiver struct {
	mu      sync.Mutex
	bodies  map[string][]webhook.Body
	arrived map[string]time.Time // first delivery per contact
	bad     int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := webhook.Verify([]byte("hook-secret"), r.Header, body, time.Now(), 5*time.Minute); err != nil {
		rc.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var b webhook.Body
	json.Unmarshal(body, &b)
	rc.bodies[b.ContactID] = append(rc.bodies[b.ContactID], b)
	if _, ok := rc.arrived[b.ContactID]; !ok {
		rc.arrived[b.ContactID] = time.Now()
	}
}

func (rc *receiver) count(id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.bodies[id])
}

type fixture struct {
	api   *httptest.Server
	sim   *kvssim.Server
	blobs interface {
		pipeline.Blobs
		media.Blobs
	}
	store    *store.Store
	hook     *receiver
	links    *signedLinks
	callPCM  map[string][]byte    // caller PCM per contact
	streamOf map[string]string    // stream ARN per contact
	frags    map[string][2]string // first and last fragment number per contact
}

// signedLinks signs media links for the fixture's API server, whose URL is
// known only once it runs.
type signedLinks struct {
	signer media.Signer
}

func (l *signedLinks) URL(id string) string {
	u, err := l.signer.URL(id, time.Now().Add(24*time.Hour))
	if err != nil {
		panic(err)
	}
	return u
}

// stores are the blob stores a fixture runs on: local files unless a test
// brings S3.
type stores struct {
	dsn   string // default: a SQLite file
	blobs interface {
		pipeline.Blobs
		media.Blobs
	}
	ivr func(bucket string) (ivr.Source, error)
}

func newFixture(t testing.TB, contacts ...string) *fixture {
	t.Helper()
	return newFixtureOn(t, stores{}, contacts...)
}

func newFixtureOn(t testing.TB, st stores, contacts ...string) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{links: &signedLinks{signer: media.Signer{Secret: []byte("0123456789abcdef0123456789abcdef")}}, hook: &receiver{bodies: map[string][]webhook.Body{}, arrived: map[string]time.Time{}}, callPCM: map[string][]byte{}, streamOf: map[string]string{}, frags: map[string][2]string{}}
	f.sim = kvssim.New(kvssim.Options{})
	simSrv := httptest.NewServer(f.sim)
	t.Cleanup(simSrv.Close)
	for i, c := range contacts {
		start := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
		spec := synth.Spec{Seconds: 3 + float64(i%3), Prompt: 0.5, Seed: uint64(i + 1), ContactID: c, Start: start}
		var w bytes.Buffer
		if err := synth.WriteWAV(&w, spec); err != nil {
			t.Fatal(err)
		}
		stereo := bytes.Clone(w.Bytes()[wav.HeaderSize:])
		for j := 0; j+4 <= len(stereo); j += 4 {
			f.callPCM[c] = append(f.callPCM[c], stereo[j:j+2]...)
		}
		src, err := kvssim.FromWAV(&w, kvssim.Contact{ContactID: c, Start: start})
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("stream-%d", i)
		if err := f.sim.AddStream(name, src); err != nil {
			t.Fatal(err)
		}
		f.streamOf[c], _ = f.sim.StreamARN(name)
		fr, _ := f.sim.Fragments(name)
		f.frags[c] = [2]string{fr[0].Number, fr[len(fr)-1].Number}
	}
	client, err := kvs.New(aws.Config{Region: "us-east-1", Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "k", SecretAccessKey: "s"}, nil
	})}, kvs.Options{Endpoint: simSrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	hookSrv := httptest.NewServer(f.hook)
	t.Cleanup(hookSrv.Close)
	sink, err := webhook.New(webhook.Config{URL: hookSrv.URL, Secret: "hook-secret"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.blobs == nil {
		local, err := blob.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		st.blobs = local
	}
	f.blobs = st.blobs
	if st.dsn == "" {
		st.dsn = storetest.SQLite(t)
	}
	if f.store, err = store.Open(ctx, st.dsn, store.Options{}); err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.New(pipeline.Deps{
		State: &pipeline.SQLState{Store: f.store}, Blobs: f.blobs,
		Audio:       pipeline.AudioRouter{KVS: &pipeline.KVSAudio{Client: client}, S3: &pipeline.IVRAudio{Open: st.ivr, Wait: time.Hour}},
		Transcriber: asr.None{}, Sinks: map[string]pipeline.Sink{"webhook": sink},
		DefaultMode: "webhook", Links: f.links, TempDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	p.Metrics.Register(reg)
	mh, err := media.NewHandler(media.Config{Signer: f.links.signer, Blobs: f.blobs, Contacts: media.ResolverFunc(func(ctx context.Context, id string) (string, error) {
		rec, err := f.store.Get(ctx, id)
		if err != nil {
			return "", fmt.Errorf("%w: %v", media.ErrUnknownContact, err)
		}
		return rec.AudioKey, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Pipeline: p, Store: f.store, Intake: ctr.DefaultConfig(), APIKey: apiKey, Registry: reg, Media: mh})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Start(ctx, store.WorkOptions{Workers: p.Workers()}); err != nil {
		t.Fatal(err)
	}
	f.api = httptest.NewServer(srv)
	f.links.signer.BaseURL = f.api.URL
	t.Cleanup(func() {
		f.api.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.store.Stop(ctx)
		f.store.Close()
	})
	return f
}

// record builds a VMX3-KVS style contact record for contact.
func (f *fixture) record(contact, flag string) map[string]any {
	start := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	return map[string]any{
		"ContactId":           contact,
		"Channel":             "VOICE",
		"InitiationTimestamp": start.Format(time.RFC3339),
		"InstanceARN":         "arn:aws:connect:us-east-1:111122223333:instance/11111111-2222-3333-4444-555555555555",
		"Agent":               nil,
		"Attributes": map[string]string{
			"vmx3_flag": flag, "vmx3_from": "+15555550100", "vmx3_lang": "en-US",
			"vmx3_queue_arn": "arn:aws:connect:us-east-1:111122223333:instance/11111111-2222-3333-4444-555555555555/queue/66666666-7777-8888-9999-000000000000",
		},
		"Recordings": []map[string]any{{
			"Location": f.streamOf[contact], "StorageType": "KINESIS_VIDEO_STREAM", "ParticipantType": "CUSTOMER", "MediaStreamType": "AUDIO",
			"FragmentStartNumber": f.frags[contact][0], "FragmentStopNumber": f.frags[contact][1],
			"StartTimestamp": start.Format(time.RFC3339), "StopTimestamp": start.Add(10 * time.Minute).Format(time.RFC3339),
		}},
	}
}

func kinesisEvent(records ...map[string]any) []byte {
	var recs []map[string]any
	for i, r := range records {
		b, _ := json.Marshal(r)
		recs = append(recs, map[string]any{
			"eventID": fmt.Sprintf("shardId-000000000000:%d", i),
			"kinesis": map[string]any{"data": base64.StdEncoding.EncodeToString(b), "sequenceNumber": fmt.Sprint(1000 + i)},
		})
	}
	b, _ := json.Marshal(map[string]any{"Records": recs})
	return b
}

func (f *fixture) post(t testing.TB, path string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.api.URL+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (f *fixture) getJSON(t testing.TB, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.api.URL+path, nil)
	req.Header.Set("X-API-Key", apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	json.NewDecoder(resp.Body).Decode(v)
	return resp.StatusCode
}

func (f *fixture) waitDelivered(t testing.TB, contacts ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, c := range contacts {
		for {
			rec, err := f.store.Get(context.Background(), c)
			if err == nil && rec.Status == voicemail.StatusDelivered {
				break
			}
			if err == nil && rec.Status == voicemail.StatusFailed {
				t.Fatalf("%s failed: %s", c, rec.Error)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not delivered: %+v %v", c, rec, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// Records posted several times and in every intake format give one stored
// WAV with the caller's exact audio and one webhook per voicemail.
func TestIntakeToWebhook(t *testing.T) {
	for name, dsn := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) { testIntakeToWebhook(t, dsn(t)) })
	}
}

func testIntakeToWebhook(t *testing.T, dsn string) {
	contacts := []string{"a0000000-0000-4000-8000-000000000001", "a0000000-0000-4000-8000-000000000002", "a0000000-0000-4000-8000-000000000003"}
	f := newFixtureOn(t, stores{dsn: dsn}, contacts...)
	raw, _ := json.Marshal(f.record(contacts[0], "1"))
	var ndjson bytes.Buffer
	for _, c := range contacts {
		b, _ := json.Marshal(f.record(c, "1"))
		ndjson.Write(append(b, '\n'))
	}
	ndjson.WriteString("{not json\n")
	notFlagged, _ := json.Marshal(f.record("b0000000-0000-4000-8000-000000000009", "0"))
	ndjson.Write(append(notFlagged, '\n'))

	code, body := f.post(t, "/v1/ctr", raw)
	if code != http.StatusAccepted {
		t.Fatalf("raw record: %d %s", code, body)
	}
	code, body = f.post(t, "/v1/ctr", kinesisEvent(f.record(contacts[1], "1"), f.record(contacts[0], "1")))
	var sum server.IntakeSummary
	json.Unmarshal(body, &sum)
	if code != http.StatusAccepted || sum.Accepted != 1 || sum.Duplicates != 1 {
		t.Fatalf("kinesis event: %d %s", code, body)
	}
	code, body = f.post(t, "/v1/ctr", ndjson.Bytes())
	sum = server.IntakeSummary{}
	json.Unmarshal(body, &sum)
	if sum.Records != 5 || sum.Accepted != 1 || sum.Duplicates != 2 || sum.Errors != 1 || sum.Ignored != 1 {
		t.Fatalf("ndjson: %d %s", code, body)
	}
	f.waitDelivered(t, contacts...)
	// Repeats after delivery change nothing.
	f.post(t, "/v1/ctr", ndjson.Bytes())
	time.Sleep(200 * time.Millisecond)

	for _, c := range contacts {
		if n := f.hook.count(c); n != 1 {
			t.Fatalf("%s: %d webhooks, want 1", c, n)
		}
		var rec voicemail.Record
		if code := f.getJSON(t, "/v1/voicemails/"+c, &rec); code != http.StatusOK {
			t.Fatalf("get %s: %d", c, code)
		}
		r, _, err := f.blobs.Open(context.Background(), rec.AudioKey)
		if err != nil {
			t.Fatal(err)
		}
		wr, err := wav.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		pcm, _ := io.ReadAll(wr)
		r.Close()
		want := sha256.Sum256(f.callPCM[c])
		got := sha256.Sum256(pcm)
		if got != want || rec.AudioSHA != hex.EncodeToString(want[:]) || !strings.HasPrefix(rec.AudioKey, "recordings/2026/01/01/") {
			t.Fatalf("%s: stored audio %x, want %x (key %s)", c, got, want, rec.AudioKey)
		}
		if len(rec.Receipts) != 1 || rec.Receipts[0].Sink != "webhook" {
			t.Fatalf("%s: receipts %+v", c, rec.Receipts)
		}
	}
	if f.hook.bad != 0 {
		t.Fatalf("%d webhooks failed verification", f.hook.bad)
	}
}

func TestAPI(t *testing.T) {
	for name, dsn := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) { testAPI(t, dsn(t)) })
	}
}

func testAPI(t *testing.T, dsn string) {
	c := "a0000000-0000-4000-8000-0000000000aa"
	f := newFixtureOn(t, stores{dsn: dsn}, c)
	bad := f.record("c0000000-0000-4000-8000-000000000001", "1")
	bad["Attributes"].(map[string]string)["vmx3_lang"] = "english"
	rec, _ := json.Marshal(f.record(c, "1"))
	badJSON, _ := json.Marshal(bad)
	f.post(t, "/v1/ctr", append(append(rec, '\n'), badJSON...))
	f.waitDelivered(t, c)

	var page store.Page
	if code := f.getJSON(t, "/v1/voicemails?status=failed", &page); code != 200 || len(page.Voicemails) != 1 ||
		!strings.Contains(page.Voicemails[0].Error, `vmx3_lang "english" is not a Transcribe language code`) {
		t.Fatalf("failed list: %d %+v", code, page)
	}
	page = store.Page{}
	if f.getJSON(t, "/v1/voicemails?limit=1", &page); len(page.Voicemails) != 1 || page.Cursor == "" {
		t.Fatalf("page 1: %+v", page)
	}
	next := store.Page{}
	if f.getJSON(t, "/v1/voicemails?limit=1&cursor="+page.Cursor, &next); len(next.Voicemails) != 1 || next.Voicemails[0].ContactID == page.Voicemails[0].ContactID {
		t.Fatalf("page 2: %+v", next)
	}
	for path, want := range map[string]int{
		"/v1/voicemails/nope":            404,
		"/v1/voicemails?status=lost":     400,
		"/v1/voicemails?since=yesterday": 400,
		"/v1/voicemails?limit=0":         400,
		"/v1/voicemails?cursor=garbage":  400,
	} {
		var v map[string]any
		if code := f.getJSON(t, path, &v); code != want || v["error"] == nil {
			t.Errorf("%s: %d %v, want %d with an error", path, code, v, want)
		}
	}
	if code, body := f.post(t, "/v1/voicemails/"+c+"/retry", nil); code != http.StatusConflict {
		t.Fatalf("retry of a delivered voicemail: %d %s", code, body)
	}
	if code, _ := f.post(t, "/v1/ctr", []byte("not json at all")); code != http.StatusBadRequest {
		t.Fatalf("garbage intake: %d", code)
	}
	// Every API needs the key; health does not.
	for _, path := range []string{"/v1/voicemails", "/metrics"} {
		resp, _ := http.Get(f.api.URL + path)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without key: %d", path, resp.StatusCode)
		}
	}
	resp, _ := http.Get(f.api.URL + "/healthz")
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", f.api.URL+"/metrics", nil)
	req.Header.Set("X-API-Key", apiKey)
	resp, _ = http.DefaultClient.Do(req)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{`vmx_intake_records_total{outcome="accepted"} 1`, `vmx_intake_records_total{outcome="invalid"} 1`, `vmx_deliveries_total{outcome="ok",sink="webhook"} 1`} {
		if !strings.Contains(string(metrics), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// A caller who withheld the number still leaves a voicemail: it is
// delivered with the caller unknown, as Voicemail Express delivers it.
func TestWithheldCallerDelivered(t *testing.T) {
	c := "a0000000-0000-4000-8000-0000000000ab"
	f := newFixture(t, c)
	rec := f.record(c, "1")
	rec["Attributes"].(map[string]string)["vmx3_from"] = ""
	rec["CustomerEndpoint"] = map[string]string{"Address": "anonymous", "Type": "TELEPHONE_NUMBER"}
	b, _ := json.Marshal(rec)
	if code, body := f.post(t, "/v1/ctr", b); code != http.StatusAccepted {
		t.Fatalf("intake: %d %s", code, body)
	}
	f.waitDelivered(t, c)
	f.hook.mu.Lock()
	defer f.hook.mu.Unlock()
	if got := f.hook.bodies[c]; len(got) != 1 || got[0].Caller != "" || got[0].ContactID != c {
		t.Fatalf("webhook bodies %+v, want one voicemail with no caller", got)
	}
}
