package awsstate_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/awsstate"
	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/kvs"
	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/synth"
	"github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/wav"
	"github.com/vmx-dev/vmx/internal/webhook"
)

type links struct{}

func (links) URL(id string) string { return "https://vmx.example/v1/media/" + id }

// receiver is a webhook endpoint that checks each POST's signature and
// counts deliveries by path and delivery id.
type receiver struct {
	t      *testing.T
	secret string
	mu     sync.Mutex
	posts  map[string]int // path " " delivery id
	bodies map[string]webhook.Body
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rv.t.Error(err)
	}
	if err := webhook.Verify([]byte(rv.secret), r.Header, body, time.Now(), 5*time.Minute); err != nil {
		rv.t.Errorf("POST %s: %v", r.URL.Path, err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var b webhook.Body
	if err := json.Unmarshal(body, &b); err != nil {
		rv.t.Errorf("POST %s: %v", r.URL.Path, err)
	}
	k := r.URL.Path + " " + r.Header.Get(webhook.HeaderDelivery)
	rv.mu.Lock()
	rv.posts[k]++
	rv.bodies[k] = b
	rv.mu.Unlock()
}

// The pipeline runs on DynamoDB and SQS as the Lambda functions run it:
// each contact record arrives twice, every step is a message run by
// whoever receives it, several at once, some twice, and all of them again
// once the voicemails are done; each destination gets each voicemail
// once, and the voicemail records every delivery.
func TestPipelineOnAWS(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 9, 30, 0, 0, time.UTC)
	contacts := []string{"7c0e3a52-4f1d-4a8b-9d2e-5b6a1f0c9e31", "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}

	// A 6 s call per contact on its own simulated KVS stream.
	sim := kvssim.New(kvssim.Options{})
	pcm := map[string][]byte{}
	arns := map[string]string{}
	for i, id := range contacts {
		var buf bytes.Buffer
		if err := synth.WriteWAV(&buf, synth.Spec{Seconds: 6, Prompt: 1, Seed: uint64(3 + i), ContactID: id, Start: start}); err != nil {
			t.Fatal(err)
		}
		stereo := bytes.Clone(buf.Bytes()[44:])
		src, err := kvssim.FromWAV(&buf, kvssim.Contact{ContactID: id, Start: start})
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("vm-%d", i)
		if err := sim.AddStream(name, src); err != nil {
			t.Fatal(err)
		}
		arns[id], _ = sim.StreamARN(name)
		// The caller's audio as the stream carries it: the WAV's left channel.
		for j := 0; j+4 <= len(stereo); j += 4 {
			pcm[id] = append(pcm[id], stereo[j:j+2]...)
		}
	}
	kvsSrv := httptest.NewServer(sim)
	t.Cleanup(kvsSrv.Close)
	kvsClient, err := kvs.New(aws.Config{Region: "us-east-1", Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "k", SecretAccessKey: "s"}, nil
	})}, kvs.Options{Endpoint: kvsSrv.URL})
	if err != nil {
		t.Fatal(err)
	}

	rv := &receiver{t: t, secret: "whsec-0123456789abcdef0123456789abcdef", posts: map[string]int{}, bodies: map[string]webhook.Body{}}
	hookSrv := httptest.NewServer(rv)
	t.Cleanup(hookSrv.Close)
	sinks := map[string]pipeline.Sink{}
	for _, name := range []string{"webhook", "crm"} {
		s, err := webhook.New(webhook.Config{URL: hookSrv.URL + "/" + name, Secret: rv.secret}, nil)
		if err != nil {
			t.Fatal(err)
		}
		sinks[name] = s
	}
	blobs, err := blob.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, 30*24*time.Hour)
	var media links
	p, err := pipeline.New(pipeline.Deps{
		State:       f.state,
		Blobs:       blobs,
		Audio:       pipeline.AudioRouter{KVS: &pipeline.KVSAudio{Client: kvsClient}},
		Transcriber: asr.None{},
		Sinks:       sinks,
		DefaultMode: "webhook",
		Links:       media,
		TempDir:     t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}

	for round := range 2 {
		for _, id := range contacts {
			req := &voicemail.Request{
				ContactID: id, Caller: "+15555550100", Language: "en-US", Mode: "webhook,crm", Prefix: "vmx3_",
				QueueARN: "arn:aws:connect:us-east-1:111122223333:instance/i-1/queue/q-1", CallTime: start,
				Audio: voicemail.AudioSource{Kind: voicemail.AudioKVS, StreamARN: arns[id], StartTime: start, StopTime: start.Add(7 * time.Second)},
			}
			inserted, err := p.Accept(ctx, req, "")
			if err != nil || inserted != (round == 0) {
				t.Fatalf("accept %s, round %d: inserted %v, err %v", id, round, inserted, err)
			}
		}
	}

	run := func(m string) {
		job, err := awsstate.DecodeMessage(m)
		if err != nil {
			t.Errorf("message %s: %v", m, err)
			return
		}
		if gaveUp, err := p.Run(ctx, job, 1, 5); err != nil {
			t.Errorf("%s: gave up %v: %v", m, gaveUp, err)
		}
	}
	for round := 0; ; round++ {
		msgs := f.q.Receive()
		if len(msgs) == 0 {
			break
		}
		if round == 20 {
			t.Fatalf("queue not drained after %d rounds: %v", round, msgs)
		}
		// Different steps run at once, as concurrent invocations run them;
		// copies of one step run one after another, and every other step
		// runs once more. (Copies running at once could each deliver before
		// either stored its receipt: only the destination's idempotency
		// key, X-VMX-Delivery, absorbs that.)
		copies := map[string]int{}
		for _, m := range msgs {
			copies[m.Body]++
		}
		var wg sync.WaitGroup
		i := 0
		for body, n := range copies {
			n += i % 2
			i++
			wg.Go(func() {
				for range n {
					run(body)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	sent := f.q.Sent()
	for _, m := range sent {
		run(m.Body)
	}
	if n := len(f.q.Sent()); n != len(sent) {
		t.Fatalf("replaying finished steps sent %d more messages", n-len(sent))
	}

	for _, id := range contacts {
		rec, err := f.state.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(pcm[id])
		if rec.Status != voicemail.StatusDelivered || rec.AudioSHA != hex.EncodeToString(want[:]) || rec.DurationMS != 6000 || len(rec.Receipts) != 2 {
			t.Fatalf("voicemail %s: %+v", id, rec)
		}
		if rec.Receipts[0].DeliveredAt.After(rec.Receipts[1].DeliveredAt) {
			t.Fatalf("receipts out of order: %+v", rec.Receipts)
		}
		for _, r := range rec.Receipts {
			if _, ok := sinks[r.Sink]; !ok || r.Key != pipeline.DeliveryKey(id, r.Sink) || r.Detail != "200 OK" {
				t.Fatalf("receipt %+v", r)
			}
		}
		for sink := range sinks {
			k := "/" + sink + " " + pipeline.DeliveryKey(id, sink)
			rv.mu.Lock()
			n, body := rv.posts[k], rv.bodies[k]
			rv.mu.Unlock()
			if n != 1 {
				t.Fatalf("%s got %d POSTs, want 1", k, n)
			}
			if body.ContactID != id || body.DurationMS != 6000 || body.MediaURL != media.URL(id) || body.Caller != "+15555550100" {
				t.Fatalf("%s body %+v", k, body)
			}
		}
		// The stored recording is the audio whose hash the voicemail keeps.
		r, _, err := blobs.Open(ctx, rec.AudioKey)
		if err != nil {
			t.Fatal(err)
		}
		w, err := wav.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		if _, err := io.Copy(h, w); err != nil {
			t.Fatal(err)
		}
		r.Close()
		if got := hex.EncodeToString(h.Sum(nil)); got != rec.AudioSHA {
			t.Fatalf("stored WAV of %s hashes to %s, voicemail says %s", id, got, rec.AudioSHA)
		}
		if _, ok := f.db.Item(id)["expires_at"]; !ok {
			t.Fatalf("item %s has no expires_at", id)
		}
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if len(rv.posts) != 4 {
		t.Fatalf("POSTs %v, want one per voicemail and destination", rv.posts)
	}
}
