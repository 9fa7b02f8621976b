package pipeline_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/audio/vad"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/kvs"
	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/synth"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

type fakeLinks struct{}

func (fakeLinks) URL(id string) string { return "http://vmx.test/v1/media/" + id }

// recordingSink counts deliveries per key and can fail on demand.
type recordingSink struct {
	mu    sync.Mutex
	got   map[string]int
	fail  func(key string) error
	audio map[string]string // key → SHA-256 of the attached WAV
	text  map[string]string // key → transcript delivered
}

func (s *recordingSink) last(key string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.text[key]
}

func (s *recordingSink) Deliver(ctx context.Context, d *voicemail.Delivery, key string) (string, error) {
	if s.fail != nil {
		if err := s.fail(key); err != nil {
			return "", err
		}
	}
	r, err := d.OpenAudio(ctx)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	io.Copy(h, r)
	r.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got[key]++
	s.audio[key] = hex.EncodeToString(h.Sum(nil))
	s.text[key] = d.Record.Transcript
	return "ok", nil
}

func (s *recordingSink) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[key]
}

type env struct {
	p     *pipeline.Pipeline
	store *store.Store
	sink  *recordingSink
	sim   *kvssim.Server
	arn   string
	pcm   []byte // the caller's audio on the stream
}

const contact = "7c0e3a52-4f1d-4a8b-9d2e-5b6a1f0c9e31"

func setup(t *testing.T, dsn string, maxAttempts int, opts ...func(*pipeline.Deps)) *env {
	t.Helper()
	e := build(t, dsn, maxAttempts, opts...)
	e.start(t)
	return e
}

// start works the jobs.
func (e *env) start(t *testing.T) {
	t.Helper()
	if err := e.store.Start(context.Background(), store.WorkOptions{Workers: e.p.Workers()}); err != nil {
		t.Fatal(err)
	}
}

// build is setup without working the jobs: they wait in the database.
func build(t *testing.T, dsn string, maxAttempts int, opts ...func(*pipeline.Deps)) *env {
	t.Helper()
	ctx := context.Background()
	// A 6 s call on the simulated KVS stream.
	var wavBuf bytes.Buffer
	spec := synth.Spec{Seconds: 6, Prompt: 1, Seed: 3, ContactID: contact, Start: time.Date(2026, 1, 1, 9, 30, 0, 0, time.UTC)}
	if err := synth.WriteWAV(&wavBuf, spec); err != nil {
		t.Fatal(err)
	}
	sim := kvssim.New(kvssim.Options{})
	wavBytes := bytes.Clone(wavBuf.Bytes())
	src, err := kvssim.FromWAV(&wavBuf, kvssim.Contact{ContactID: contact, Start: spec.Start})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.AddStream("vm", src); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	arn, _ := sim.StreamARN("vm")
	client, err := kvs.New(aws.Config{Region: "us-east-1", Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "k", SecretAccessKey: "s"}, nil
	})}, kvs.Options{Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sink := &recordingSink{got: map[string]int{}, audio: map[string]string{}, text: map[string]string{}}
	e := &env{sink: sink, sim: sim, arn: arn}
	st, err := store.Open(ctx, dsn, store.Options{MaxAttempts: maxAttempts})
	if err != nil {
		t.Fatal(err)
	}
	deps := pipeline.Deps{
		State:       &pipeline.SQLState{Store: st},
		Blobs:       blobs,
		Audio:       pipeline.AudioRouter{KVS: &pipeline.KVSAudio{Client: client}},
		Transcriber: asr.None{},
		Sinks:       map[string]pipeline.Sink{"webhook": sink, "email": sink},
		DefaultMode: "webhook",
		Links:       fakeLinks{},
		TempDir:     t.TempDir(),
	}
	for _, o := range opts {
		o(&deps)
	}
	p, err := pipeline.New(deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st.Stop(ctx)
		st.Close()
	})
	e.p, e.store = p, st
	// The caller's PCM as the stream carries it (left channel of the WAV).
	stereo := wavBytes[44:]
	for i := 0; i+4 <= len(stereo); i += 4 {
		e.pcm = append(e.pcm, stereo[i:i+2]...)
	}
	return e
}

func (e *env) request(mode string) *voicemail.Request {
	return &voicemail.Request{
		ContactID: contact, Caller: "+15555550100", Language: "en-US", Mode: mode, Prefix: "vmx3_",
		QueueARN: "arn:aws:connect:us-east-1:111122223333:instance/i-1/queue/q-1",
		CallTime: time.Date(2026, 1, 1, 9, 30, 0, 0, time.UTC),
		Audio: voicemail.AudioSource{Kind: voicemail.AudioKVS, StreamARN: e.arn,
			StartTime: time.Date(2026, 1, 1, 9, 30, 0, 0, time.UTC), StopTime: time.Date(2026, 1, 1, 9, 30, 7, 0, time.UTC)},
	}
}

// wait polls the voicemail until cond holds or the deadline passes.
func (e *env) wait(t *testing.T, cond func(*voicemail.Record) bool) *voicemail.Record {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rec, err := e.store.Get(context.Background(), contact)
		if err == nil && cond(rec) {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("voicemail never reached the expected state: %+v %v", rec, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPipelineDeliversOnce(t *testing.T) {
	for name, dsn := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			e := setup(t, dsn(t), 5)
			ctx := context.Background()
			// The same record arrives three times.
			for i := range 3 {
				inserted, err := e.p.Accept(ctx, e.request("webhook,email"), "")
				if err != nil || inserted != (i == 0) {
					t.Fatalf("accept %d: inserted %v err %v", i, inserted, err)
				}
			}
			rec := e.wait(t, func(r *voicemail.Record) bool { return r.Status == voicemail.StatusDelivered })
			want := sha256.Sum256(e.pcm)
			if rec.AudioSHA != hex.EncodeToString(want[:]) || rec.DurationMS != 6000 || len(rec.Receipts) != 2 {
				t.Fatalf("record %+v", rec)
			}
			for _, sink := range []string{"webhook", "email"} {
				if n := e.sink.count(pipeline.DeliveryKey(contact, sink)); n != 1 {
					t.Fatalf("%s delivered %d times", sink, n)
				}
			}
			if _, err := e.p.Retry(ctx, contact); !errors.Is(err, pipeline.ErrNotFailed) {
				t.Fatalf("retry of a delivered voicemail: %v", err)
			}
		})
	}
}

func TestFailedVoicemailIsReplayed(t *testing.T) {
	for name, dsn := range storetest.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			e := setup(t, dsn(t), 2)
			ctx := context.Background()
			var mu sync.Mutex
			down := true
			e.sink.fail = func(key string) error {
				mu.Lock()
				defer mu.Unlock()
				if down && key == pipeline.DeliveryKey(contact, "email") {
					return errors.New("mail server down")
				}
				return nil
			}
			if _, err := e.p.Accept(ctx, e.request("webhook,email"), ""); err != nil {
				t.Fatal(err)
			}
			rec := e.wait(t, func(r *voicemail.Record) bool { return r.Status == voicemail.StatusFailed })
			if rec.FailedStep != voicemail.StepDeliver || rec.Error == "" {
				t.Fatalf("failure not recorded: %+v", rec)
			}
			mu.Lock()
			down = false
			mu.Unlock()
			if _, err := e.p.Retry(ctx, contact); err != nil {
				t.Fatal(err)
			}
			rec = e.wait(t, func(r *voicemail.Record) bool { return r.Status == voicemail.StatusDelivered })
			if rec.Run != 2 || e.sink.count(pipeline.DeliveryKey(contact, "webhook")) != 1 || e.sink.count(pipeline.DeliveryKey(contact, "email")) != 1 {
				t.Fatalf("after replay: run %d, webhook %d, email %d", rec.Run,
					e.sink.count(pipeline.DeliveryKey(contact, "webhook")), e.sink.count(pipeline.DeliveryKey(contact, "email")))
			}
			// The destination's failed attempts stay as history: the last
			// one, which gave up.
			if got := rec.StepErrors["deliver:email"]; got.Error != "deliver email: mail server down" || got.Attempt != 2 || len(rec.StepErrors) != 1 {
				t.Fatalf("step errors %+v", rec.StepErrors)
			}
		})
	}
}

func TestPermanentErrorFailsAtOnce(t *testing.T) {
	e := setup(t, storetest.SQLite(t), 10)
	e.sink.fail = func(string) error { return retry.Permanent(errors.New("410 gone")) }
	if _, err := e.p.Accept(context.Background(), e.request(""), ""); err != nil {
		t.Fatal(err)
	}
	rec := e.wait(t, func(r *voicemail.Record) bool { return r.Status == voicemail.StatusFailed })
	if rec.Error != "deliver webhook: 410 gone" {
		t.Fatalf("error %q", rec.Error)
	}
}

func TestInvalidAndUnknownMode(t *testing.T) {
	e := setup(t, storetest.SQLite(t), 3)
	ctx := context.Background()
	req := e.request("carrier-pigeon")
	if _, err := e.p.Accept(ctx, req, ""); err != nil {
		t.Fatal(err)
	}
	rec := e.wait(t, func(r *voicemail.Record) bool { return r.Status == voicemail.StatusFailed })
	if rec.Error != `deliver: unknown or unconfigured delivery mode "carrier-pigeon"` {
		t.Fatalf("error %q", rec.Error)
	}
	bad := e.request("webhook")
	bad.ContactID = "bad-1"
	if _, err := e.p.Accept(ctx, bad, `vmx3_lang "english" is not a Transcribe language code like en-US`); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.Get(ctx, "bad-1")
	if err != nil || got.Status != voicemail.StatusFailed || got.FailedStep != "intake" {
		t.Fatalf("invalid voicemail: %+v %v", got, err)
	}
	if _, err := e.p.Retry(ctx, "bad-1"); !errors.Is(err, pipeline.ErrInvalid) {
		t.Fatalf("retry of an invalid voicemail: %v", err)
	}
}

// fakeASR returns a fixed transcript.
type fakeASR struct{ res asr.Result }

func (f fakeASR) Transcribe(context.Context, asr.Audio, asr.Options) (*asr.Result, error) {
	r := f.res
	return &r, nil
}

func TestTranscriptFilters(t *testing.T) {
	said := "hi call me back at five five five one two three four my card is 4111 1111 1111 1111"
	e := setup(t, storetest.SQLite(t), 3, func(d *pipeline.Deps) {
		d.Transcriber = fakeASR{asr.Result{Text: said, Engine: "fake"}}
		d.SpokenNumber = func(s string) (string, bool) { return "5551234", strings.Contains(s, "five five five") }
		d.Redact = func(s string) string { return strings.ReplaceAll(s, "4111 1111 1111", "**** **** ****") }
	})
	if _, err := e.p.Accept(context.Background(), e.request(""), ""); err != nil {
		t.Fatal(err)
	}
	rec := e.wait(t, func(r *voicemail.Record) bool { return r.Status == voicemail.StatusDelivered })
	if rec.Transcript != said || rec.SpokenNumber != "5551234" {
		t.Fatalf("stored %q / %q", rec.Transcript, rec.SpokenNumber)
	}
	if got := e.sink.last(pipeline.DeliveryKey(contact, "webhook")); !strings.Contains(got, "**** **** **** 1111") || strings.Contains(got, "4111") {
		t.Fatalf("delivered transcript %q is not masked", got)
	}
}

func TestEmptyVoicemails(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprintf("drop=%v", drop), func(t *testing.T) {
			e := setup(t, storetest.SQLite(t), 3, func(d *pipeline.Deps) {
				d.Transcriber = fakeASR{asr.Result{Empty: true, Engine: "fake"}}
				d.DropEmpty = drop
			})
			if _, err := e.p.Accept(context.Background(), e.request(""), ""); err != nil {
				t.Fatal(err)
			}
			want := voicemail.StatusDelivered
			if drop {
				want = voicemail.StatusEmpty
			}
			rec := e.wait(t, func(r *voicemail.Record) bool { return r.Status == want })
			n := e.sink.count(pipeline.DeliveryKey(contact, "webhook"))
			if !rec.Empty || (drop && n != 0) || (!drop && n != 1) || rec.Steps[voicemail.StepFinalize].IsZero() {
				t.Fatalf("empty %v, %d deliveries, finalized %v", rec.Empty, n, rec.Steps[voicemail.StepFinalize])
			}
		})
	}
}

// routeSink keeps what a destination was given.
type routeSink struct {
	mu  sync.Mutex
	got *voicemail.Delivery
}

func (s *routeSink) Deliver(_ context.Context, d *voicemail.Delivery, _ string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = d
	return "ok", nil
}

type fixedRouter struct{ calls *int }

func (r fixedRouter) Route(_ context.Context, req *voicemail.Request) (voicemail.Route, []string, error) {
	*r.calls++
	if *r.calls == 1 {
		return voicemail.Route{}, nil, errors.New("connect: throttled")
	}
	return voicemail.Route{QueueARN: req.QueueARN, QueueName: "Sales"}, []string{`agent "jdoe" not found; routed to queue Sales`}, nil
}

type failingSummary struct{}

func (failingSummary) Summarize(context.Context, *voicemail.Record) (string, error) {
	return "", errors.New("bedrock: ThrottlingException")
}

// The route and the warnings reach the destination and the stored
// voicemail; a failed lookup is retried without a second transcription; a
// failed summary is a warning; the time shown is the contact centre's.
func TestRouteSummaryAndLocalTime(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip(err)
	}
	var routes, transcriptions int
	sink := &routeSink{}
	e := setup(t, storetest.SQLite(t), 5, func(d *pipeline.Deps) {
		d.Router = fixedRouter{&routes}
		d.Summarizer = failingSummary{}
		d.Location = ny
		d.Sinks["task"] = sink
		d.Transcriber = countingASR{n: &transcriptions, text: "please call me back"}
	})
	if _, err := e.p.Accept(context.Background(), e.request("task"), ""); err != nil {
		t.Fatal(err)
	}
	rec := e.wait(t, func(r *voicemail.Record) bool { return r.Status == voicemail.StatusDelivered })
	if rec.Route.QueueName != "Sales" || len(rec.Warnings) != 2 || !strings.Contains(rec.Warnings[0], "not found") ||
		!strings.Contains(rec.Warnings[1], "summary failed: bedrock: ThrottlingException") {
		t.Fatalf("stored route %+v warnings %q", rec.Route, rec.Warnings)
	}
	if routes != 2 || transcriptions != 1 {
		t.Fatalf("%d route lookups, %d transcriptions; want 2 and 1", routes, transcriptions)
	}
	// The failed lookup is kept as the package step's error, and the step
	// done after it.
	if got := rec.StepErrors[voicemail.StepPackage]; got.Error != "route: connect: throttled" || got.Attempt != 1 ||
		got.At.IsZero() || !got.At.Before(rec.Steps[voicemail.StepPackage]) || len(rec.StepErrors) != 1 {
		t.Fatalf("step errors %+v, steps %v", rec.StepErrors, rec.Steps)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if got := sink.got.ReceivedAt; got.Location() != ny || got.Hour() != 4 || got.Minute() != 30 {
		t.Fatalf("received at %v, want 04:30 in New York", got)
	}
	if sink.got.Record.Route.QueueName != "Sales" {
		t.Fatalf("delivered route %+v", sink.got.Record.Route)
	}
}

type countingASR struct {
	n    *int
	text string
}

func (c countingASR) Transcribe(context.Context, asr.Audio, asr.Options) (*asr.Result, error) {
	*c.n++
	return &asr.Result{Text: c.text, Engine: "fake"}, nil
}

// silence is a detector that finds no speech.
type silence struct{}

func (silence) Detect(dst []vad.Span, _ []int16) []vad.Span { return dst }
func (silence) Flush(dst []vad.Span) []vad.Span             { return dst }
func (silence) Reset()                                      {}
func (silence) SampleRate() int                             { return 8000 }
func (silence) Close() error                                { return nil }

// The detector runs as the recording is stored: the speech span is kept,
// and a voicemail without speech is never sent to the engine.
func TestSpeechFoundBeforeTranscription(t *testing.T) {
	var transcriptions int
	e := setup(t, storetest.SQLite(t), 3, func(d *pipeline.Deps) {
		d.Speech = func(rate int) (vad.Detector, error) { return vad.NewEnergy(rate, vad.EnergyConfig{}) }
		d.Transcriber = countingASR{n: &transcriptions, text: "hello"}
	})
	if _, err := e.p.Accept(context.Background(), e.request(""), ""); err != nil {
		t.Fatal(err)
	}
	rec := e.wait(t, func(r *voicemail.Record) bool { return r.Status == voicemail.StatusDelivered })
	if rec.Empty || rec.SpeechEndMS <= rec.SpeechStartMS || rec.SpeechEndMS > rec.DurationMS || transcriptions != 1 {
		t.Fatalf("speech %d–%d ms of %d, empty %v, %d transcriptions", rec.SpeechStartMS, rec.SpeechEndMS, rec.DurationMS, rec.Empty, transcriptions)
	}

	transcriptions = 0
	e = setup(t, storetest.SQLite(t), 3, func(d *pipeline.Deps) {
		d.Speech = func(int) (vad.Detector, error) { return silence{}, nil }
		d.Transcriber = countingASR{n: &transcriptions, text: "hallucinated"}
	})
	if _, err := e.p.Accept(context.Background(), e.request(""), ""); err != nil {
		t.Fatal(err)
	}
	rec = e.wait(t, func(r *voicemail.Record) bool { return r.Status == voicemail.StatusDelivered })
	if !rec.Empty || rec.Transcript != "" || transcriptions != 0 {
		t.Fatalf("silent voicemail: empty %v, transcript %q, %d transcriptions", rec.Empty, rec.Transcript, transcriptions)
	}
}

// A job travels as its kind and JSON arguments outside River (SQS on
// Lambda) and must come back as the same step; anything else is refused.
func TestDecodeJob(t *testing.T) {
	for _, job := range []pipeline.Job{
		pipeline.AudioArgs{ContactID: "c-1", Run: 1},
		pipeline.TranscribeArgs{ContactID: "c-2", Run: 2},
		pipeline.PackageArgs{ContactID: "c-5", Run: 1},
		pipeline.DeliverArgs{ContactID: "c-3", Run: 1, Sink: "email"},
		pipeline.FinalizeArgs{ContactID: "c-4", Run: 3},
	} {
		b, err := json.Marshal(job)
		if err != nil {
			t.Fatal(err)
		}
		got, err := pipeline.DecodeJob(job.Kind(), b)
		if err != nil || got != job {
			t.Errorf("DecodeJob(%s, %s) = %#v, %v; want %#v", job.Kind(), b, got, err, job)
		}
	}
	for _, bad := range []struct{ kind, args, want string }{
		{"vmx_nope", `{"contact_id":"c","run":1}`, `unknown job kind "vmx_nope"`},
		{"vmx_audio", `{"contact_id":"c"`, "vmx_audio: unexpected end of JSON input"},
		{"vmx_deliver", `{"run":1,"sink":"email"}`, "contact_id and run are required"},
		{"vmx_finalize", `{"contact_id":"c","run":0}`, "contact_id and run are required"},
		{"vmx_package", `{"contact_id":"","run":1}`, "vmx_package: contact_id and run are required"},
	} {
		_, err := pipeline.DecodeJob(bad.kind, []byte(bad.args))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("DecodeJob(%s, %s) error = %v; want it to say %q", bad.kind, bad.args, err, bad.want)
		}
	}
}

// failingFailures is a State whose database refuses, the first times, to
// store a voicemail as failed.
type failingFailures struct {
	pipeline.State
	mu      sync.Mutex
	refuse  int
	refused int
}

func (s *failingFailures) Update(ctx context.Context, id string, change func(*voicemail.Record) (bool, []pipeline.Job, error)) error {
	return s.State.Update(ctx, id, func(rec *voicemail.Record) (bool, []pipeline.Job, error) {
		save, next, err := change(rec)
		if err == nil && save && rec.Status == voicemail.StatusFailed {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.refused < s.refuse {
				s.refused++
				return false, nil, errors.New("database connection reset")
			}
		}
		return save, next, err
	})
}

// A voicemail whose last attempt failed while the database refused to mark
// it failed is marked failed once it can be: its job is not discarded.
func TestFailureRecordedAfterDatabaseError(t *testing.T) {
	var state *failingFailures
	e := setup(t, storetest.SQLite(t), 1, func(d *pipeline.Deps) {
		state = &failingFailures{State: d.State, refuse: 2}
		d.State = state
	})
	e.sink.fail = func(string) error { return errors.New("503 service unavailable") }
	if _, err := e.p.Accept(context.Background(), e.request("webhook"), ""); err != nil {
		t.Fatal(err)
	}
	rec := e.wait(t, func(r *voicemail.Record) bool { return r.Status == voicemail.StatusFailed })
	if rec.FailedStep != voicemail.StepDeliver || rec.Error != "deliver webhook: 503 service unavailable" {
		t.Fatalf("failed at %s: %q", rec.FailedStep, rec.Error)
	}
	state.mu.Lock()
	defer state.mu.Unlock()
	if state.refused != 2 {
		t.Fatalf("%d failures refused, want 2", state.refused)
	}
}

// Intake outcomes are counted as what they are: a repeated invalid record
// is invalid, not a duplicate.
func TestIntakeOutcomesCounted(t *testing.T) {
	metrics := pipeline.NewMetrics()
	reg := prometheus.NewRegistry()
	if err := metrics.Register(reg); err != nil {
		t.Fatal(err)
	}
	e := build(t, storetest.SQLite(t), 3, func(d *pipeline.Deps) { d.Metrics = metrics })
	ctx := context.Background()
	for range 2 {
		if _, err := e.p.Accept(ctx, e.request("webhook"), ""); err != nil {
			t.Fatal(err)
		}
	}
	bad := e.request("webhook")
	bad.ContactID = "bad-1"
	for i := range 3 {
		inserted, err := e.p.Accept(ctx, bad, `vmx3_lang "english" is not a Transcribe language code like en-US`)
		if err != nil || inserted != (i == 0) {
			t.Fatalf("invalid record %d: inserted %v, %v", i, inserted, err)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "vmx_intake_records_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if want := map[string]float64{"accepted": 1, "duplicate": 1, "invalid": 3}; !maps.Equal(got, want) {
		t.Fatalf("vmx_intake_records_total %v, want %v", got, want)
	}
}

// A vmx_transcribe job that a vmx without the package step enqueued, for a
// voicemail it had transcribed (its routing lookup failed), completes: it
// goes on to package without transcribing again. A voicemail that such a
// vmx packaged (its "route" step) is not packaged again when replayed.
func TestStepsOfAnOlderVmx(t *testing.T) {
	ctx := context.Background()
	var routes, transcriptions int
	older := func(t *testing.T, edit func(rec *voicemail.Record)) *env {
		t.Helper()
		e := build(t, storetest.SQLite(t), 3, func(d *pipeline.Deps) {
			d.Router = countingRouter{&routes}
			d.Transcriber = countingASR{n: &transcriptions, text: "new transcript"}
		})
		if _, err := e.p.Accept(ctx, e.request("webhook"), ""); err != nil {
			t.Fatal(err)
		}
		// The audio step, as the older vmx ran it, enqueues vmx_transcribe.
		if gaveUp, err := e.p.Run(ctx, pipeline.AudioArgs{ContactID: contact, Run: 1}, 1, 3); err != nil {
			t.Fatal(gaveUp, err)
		}
		err := e.p.State.Update(ctx, contact, func(rec *voicemail.Record) (bool, []pipeline.Job, error) {
			edit(rec)
			return true, nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	routes, transcriptions = 0, 0
	e := older(t, func(rec *voicemail.Record) {
		rec.Transcript, rec.Steps[voicemail.StepTranscribe] = "old transcript", time.Now().UTC()
	})
	e.start(t)
	rec := e.wait(t, func(r *voicemail.Record) bool { return r.Status != voicemail.StatusQueued })
	if rec.Status != voicemail.StatusDelivered || rec.Transcript != "old transcript" || transcriptions != 0 || routes != 1 ||
		rec.Steps[voicemail.StepPackage].IsZero() || e.sink.last(pipeline.DeliveryKey(contact, "webhook")) != "old transcript" {
		t.Fatalf("voicemail %s %q, %d transcriptions, %d routes, steps %v", rec.Status, rec.Transcript, transcriptions, routes, rec.Steps)
	}

	routes, transcriptions = 0, 0
	e = older(t, func(rec *voicemail.Record) {
		at := time.Now().UTC()
		rec.Transcript, rec.Steps[voicemail.StepTranscribe], rec.Steps[voicemail.StepRoute] = "old transcript", at, at
		rec.Route = voicemail.Route{QueueARN: rec.QueueARN, QueueName: "Old"}
		rec.Status, rec.Error, rec.FailedStep = voicemail.StatusFailed, "deliver webhook: 500", voicemail.StepDeliver
	})
	if _, err := e.p.Retry(ctx, contact); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	rec = e.wait(t, func(r *voicemail.Record) bool { return r.Status != voicemail.StatusQueued })
	if rec.Status != voicemail.StatusDelivered || rec.Route.QueueName != "Old" || routes != 0 || transcriptions != 0 ||
		e.sink.count(pipeline.DeliveryKey(contact, "webhook")) != 1 {
		t.Fatalf("replayed voicemail %s, route %+v, %d routes, %d transcriptions", rec.Status, rec.Route, routes, transcriptions)
	}
}

type countingRouter struct{ n *int }

func (r countingRouter) Route(_ context.Context, req *voicemail.Request) (voicemail.Route, []string, error) {
	*r.n++
	return voicemail.Route{QueueARN: req.QueueARN, QueueName: "Sales"}, nil, nil
}

// noLinks makes no links, as a linker whose signer fails does.
type noLinks struct{}

func (noLinks) URL(string) string { return "" }

// A voicemail whose media link cannot be made is delivered without one,
// and says why: on the voicemail and to the destination.
func TestDeliveredWithoutMediaLink(t *testing.T) {
	sink := &routeSink{}
	e := setup(t, storetest.SQLite(t), 3, func(d *pipeline.Deps) {
		d.Links = noLinks{}
		d.Sinks["task"] = sink
	})
	if _, err := e.p.Accept(context.Background(), e.request("webhook,task"), ""); err != nil {
		t.Fatal(err)
	}
	rec := e.wait(t, func(r *voicemail.Record) bool { return r.Status == voicemail.StatusDelivered })
	want := []string{"no media link: the link could not be signed (check public_url and link_secret)"}
	if !slices.Equal(rec.Warnings, want) {
		t.Fatalf("warnings %q, want %q", rec.Warnings, want)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.got.MediaURL != "" || !slices.Equal(sink.got.Record.Warnings, want) {
		t.Fatalf("delivered link %q, warnings %q", sink.got.MediaURL, sink.got.Record.Warnings)
	}
}
