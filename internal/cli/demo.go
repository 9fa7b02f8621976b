package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/asr/pocketsphinx"
	"github.com/vmx-dev/vmx/internal/asr/testset"
	"github.com/vmx-dev/vmx/internal/config"
	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/synth"
	"github.com/vmx-dev/vmx/internal/voicemail"
	"github.com/vmx-dev/vmx/internal/wav"
	"github.com/vmx-dev/vmx/internal/web"
	"github.com/vmx-dev/vmx/internal/webhook"
)

const demoUsage = "[--once] [--dir DIR] [--listen ADDR]"

func demoCommand() Command {
	return Command{
		Name:  "demo",
		Usage: demoUsage,
		Short: "run vmx end to end here: a simulated Connect call leaves a spoken voicemail that is transcribed and delivered",
		Run:   runDemo,
	}
}

// demoMessage is what the demo's caller says after the beep.
const demoMessage = "Hi, this is Sam from Acme. Please call me back at five five five, one two three four. Thanks."

// demoVoice is the flite voice of the caller: of Debian's, the one
// PocketSphinx understands best over a phone line.
const demoVoice = "rms"

// The demo's Amazon Connect instance, queue and caller.
const (
	demoInstanceID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
	demoQueueID    = "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d"
	demoCaller     = "+15555550123"
	demoDialled    = "+15555550100"
	demoRegion     = "us-east-1"
	demoAccount    = "111122223333"
	// The simulator checks that KVS requests are signed with these.
	demoAccessKey = "VMXDEMO"
	demoSecretKey = "vmx-demo-secret"
)

// demo is one run of vmx demo.
type demo struct {
	env    *Env
	out    io.Writer
	dir    string
	listen string
	once   bool
}

func runDemo(ctx context.Context, env *Env, args []string) (int, error) {
	d := &demo{env: env, out: env.Stdout}
	fs := newFlagSet(env, "demo", demoUsage)
	fs.BoolVar(&d.once, "once", false, "exit once the voicemail is delivered instead of serving until interrupted")
	fs.StringVar(&d.dir, "dir", "vmx-demo", "data directory: database, recordings, link secret (kept between runs)")
	fs.StringVar(&d.listen, "listen", "127.0.0.1:8080", "host:port of vmx's HTTP server; port 0 picks a free one")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return 2, err
	}
	if len(pos) > 0 {
		return 2, usagef("unexpected argument %q", pos[0])
	}
	if err := d.run(ctx); err != nil {
		return 1, fmt.Errorf("demo: %w", err)
	}
	return 0, nil
}

func (d *demo) step(format string, args ...any) {
	fmt.Fprintf(d.out, "==> "+format+"\n", args...)
}

func (d *demo) run(ctx context.Context) error {
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return err
	}
	listen, err := resolveListen(d.listen)
	if err != nil {
		return err
	}

	d.step("starting the Kinesis Video Streams simulator")
	sim := kvssim.New(kvssim.Options{
		Credentials: &kvssim.Credentials{AccessKeyID: demoAccessKey, SecretAccessKey: demoSecretKey},
		Region:      demoRegion, Account: demoAccount, Logger: d.env.Logger.With("component", "kvs-sim"),
	})
	simURL, stopSim, err := sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer stopSim()
	fmt.Fprintf(d.out, "    %s\n", simURL)

	hookSecret := randomHex(16)
	hooks, err := startHookReceiver(hookSecret)
	if err != nil {
		return err
	}
	defer hooks.close()

	apiKey := randomHex(16)
	settings := map[string]string{
		"data_dir":       d.dir,
		"listen":         listen,
		"log_level":      "warn",
		"api_key":        apiKey,
		"aws.region":     demoRegion,
		"kvs.endpoint":   simURL,
		"webhook.url":    hooks.url,
		"webhook.secret": hookSecret,
		"default_mode":   "webhook",
		"transcriber":    "pocketsphinx",
	}
	// PocketSphinx when this vmx and this machine have it; otherwise the
	// demo still runs, without a transcript.
	if err := (pocketsphinx.Config{ModelDir: config.Default().PocketSphinx.ModelDir}).WithDefaults().Validate(); err != nil {
		fmt.Fprintf(d.out, "warning: no PocketSphinx model (%s): the voicemail will have no transcript\n    fix: %s\n", oneLine(err), pocketSphinxInstall)
		settings["transcriber"] = "none"
	}
	d.step("starting vmx serve on the embedded defaults (SQLite and recordings in %s)", d.dir)
	a, err := d.openApp(ctx, settings)
	if errors.Is(err, asr.ErrUnavailable) {
		fmt.Fprintf(d.out, "warning: %s\n    the voicemail will have no transcript; fix: %s\n", oneLine(err), pocketSphinxInstall)
		settings["transcriber"] = "none"
		a, err = d.openApp(ctx, settings)
	}
	if err != nil {
		return err
	}
	defer a.close()
	serveCtx, stopServe := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- a.serve(serveCtx) }()
	defer func() {
		stopServe()
		<-served
	}()
	base := a.cfg.PublicURL
	if err := waitHealthy(ctx, base, served); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "    %s (transcriber %s)\n", base, a.cfg.Transcriber)

	call, err := d.makeCall(ctx, sim)
	if err != nil {
		return err
	}
	// The web inbox, and a signed webhook to the demo's own receiver.
	const mode = "inbox,webhook"
	d.step("posting the contact record to %s/v1/ctr (vmx3_mode %s)", base, mode)
	if err := postCTR(ctx, base, apiKey, call.record(mode)); err != nil {
		return err
	}

	d.step("waiting for delivery")
	rec, err := waitDelivered(ctx, base, apiKey, call.contactID)
	if err != nil {
		return err
	}
	if err := d.report(ctx, a, rec, mode, hooks, call); err != nil {
		return err
	}
	user, pass, err := ensureDemoUser(ctx, a.store, 0)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "    inbox:      %s/ (sign in as %s, password %s)\n", base, user, pass)
	fmt.Fprintf(d.out, "    api:        curl -H 'X-API-Key: %s' %s/v1/voicemails/%s\n", apiKey, base, call.contactID)
	if d.once {
		return nil
	}
	fmt.Fprintf(d.out, "\nvmx is serving at %s until interrupted (Ctrl-C)\n", base)
	select {
	case <-ctx.Done():
		return nil
	case err := <-served:
		served <- err // for the deferred wait
		return fmt.Errorf("serve: %w", err)
	}
}

// openApp builds vmx serve's app from the demo's settings alone: the
// user's configuration file and VMX_ variables do not apply.
func (d *demo) openApp(ctx context.Context, settings map[string]string) (*app, error) {
	cfg := config.Resolve(config.Options{Flags: settings})
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	creds := credentials.NewStaticCredentialsProvider(demoAccessKey, demoSecretKey, "")
	return openApp(ctx, d.env, cfg, true, awsconfig.WithCredentialsProvider(creds))
}

// resolveListen picks a free port for port 0, so that the public URL vmx
// derives from listen is one a browser can open.
func resolveListen(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", usagef("--listen %q: want host:port", listen)
	}
	if port != "0" {
		return listen, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHealthy waits for the API to answer, or for serve to fail.
func waitHealthy(ctx context.Context, base string, served chan error) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/healthz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-served:
			served <- err // for the deferred wait
			return fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("vmx did not answer at %s: %w", base, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// demoCall is the synthesised call, as the simulator streams it.
type demoCall struct {
	contactID string
	at        time.Time
	length    time.Duration
	streamARN string
	firstFrag string
	lastFrag  string
	speech    bool   // the caller is flite's voice, not the synthetic one
	callerSHA string // SHA-256 of the caller's track, as vmx must store it
	wavPath   string
}

// makeCall synthesises a voicemail call and streams it from the simulator.
func (d *demo) makeCall(ctx context.Context, sim *kvssim.Server) (*demoCall, error) {
	c := &demoCall{contactID: newContactID()}
	c.at = time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	spoken, err := speak(ctx, d.dir, demoMessage)
	if err != nil {
		fmt.Fprintf(d.out, "warning: %v\n    the caller is a synthetic voice instead, so there is nothing to transcribe\n", err)
	}
	c.speech = err == nil
	from, to := layOutCall(spoken)
	c.length = time.Duration(len(from)/2) * time.Second / synth.SampleRate
	if c.speech {
		d.step("synthesised a %.1f s voicemail call: IVR prompt, beep, then the caller says %q", c.length.Seconds(), demoMessage)
	} else {
		d.step("synthesised a %.1f s voicemail call: IVR prompt, beep, then a synthetic caller", c.length.Seconds())
	}
	sum := sha256.Sum256(from)
	c.callerSHA = hex.EncodeToString(sum[:])
	c.wavPath = filepath.Join(d.dir, "demo-call.wav")
	if err := writeStereoWAV(c.wavPath, from, to); err != nil {
		return nil, err
	}
	fmt.Fprintf(d.out, "    %s (caller left, IVR right)\n", c.wavPath)

	name := "vmx-demo-contact-" + c.contactID
	if err := sim.AddStream(name, kvssim.FromPCM(from, to, kvssim.Contact{ContactID: c.contactID, InstanceID: demoInstanceID, Start: c.at})); err != nil {
		return nil, err
	}
	if c.streamARN, err = sim.StreamARN(name); err != nil {
		return nil, err
	}
	frags, err := sim.Fragments(name)
	if err != nil || len(frags) == 0 {
		return nil, fmt.Errorf("simulator stream %s has no fragments: %v", name, err)
	}
	c.firstFrag, c.lastFrag = frags[0].Number, frags[len(frags)-1].Number
	return c, nil
}

// speak synthesises text with flite and makes it telephone audio: 8 kHz,
// 300–3400 Hz, through G.711 µ-law.
func speak(ctx context.Context, dir, text string) ([]int16, error) {
	f, err := os.CreateTemp(dir, "caller-*.wav")
	if err != nil {
		return nil, err
	}
	f.Close()
	defer os.Remove(f.Name())
	pcm, rate, err := testset.Speak(ctx, demoVoice, text, f.Name())
	if err != nil {
		return nil, err
	}
	return testset.PhoneLine(pcm, rate)
}

// layOutCall lays a voicemail out as Amazon Connect streams it: on the
// IVR's track a 3 s prompt and the beep; on the caller's, quiet line noise
// and then, after the beep, the caller's words (the synthetic caller when
// there are none) and a second of noise.
func layOutCall(speech []int16) (from, to []byte) {
	call := synth.NewCall(7, 3)
	start := call.CallerStart()
	spoken := len(speech)
	if spoken == 0 {
		spoken = 8 * synth.SampleRate
	}
	n := start + spoken + synth.SampleRate
	from, to = make([]byte, 2*n), make([]byte, 2*n)
	call.Read(from, to)
	if len(speech) == 0 {
		return from, to
	}
	x := uint32(1)
	for i := range n {
		x = x*1664525 + 1013904223
		s := int16(x>>27) - 16 // ±16: about −70 dBFS
		if j := i - start; j >= 0 && j < len(speech) {
			s = max(-32768, min(32767, s+speech[j]))
		}
		binary.LittleEndian.PutUint16(from[2*i:], uint16(s))
	}
	return from, to
}

func writeStereoWAV(path string, from, to []byte) error {
	format := wav.Telephone
	format.Channels = 2
	frames := make([]byte, 2*len(from))
	for i := 0; i+1 < len(from); i += 2 {
		copy(frames[2*i:], from[i:i+2])
		copy(frames[2*i+2:], to[i:i+2])
	}
	return writeFileAtomic(path, func(w io.Writer) error {
		ww, err := wav.NewWriter(w, format, int64(len(frames)))
		if err != nil {
			return err
		}
		if _, err := ww.Write(frames); err != nil {
			return err
		}
		return ww.Close()
	})
}

// newContactID returns a random UUID, as Connect's contact IDs are.
func newContactID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// record is the contact record Amazon Connect would write for the call.
func (c *demoCall) record(mode string) []byte {
	instance := "arn:aws:connect:" + demoRegion + ":" + demoAccount + ":instance/" + demoInstanceID
	queue := instance + "/queue/" + demoQueueID
	ts := func(t time.Time) string { return t.Format(time.RFC3339) }
	end := c.at.Add(c.length)
	b, _ := json.Marshal(map[string]any{
		"AWSAccountId":                       demoAccount,
		"AWSContactTraceRecordFormatVersion": "2017-03-10",
		"ContactId":                          c.contactID,
		"InitialContactId":                   nil,
		"InstanceARN":                        instance,
		"Channel":                            "VOICE",
		"InitiationMethod":                   "INBOUND",
		"InitiationTimestamp":                ts(c.at),
		"ConnectedToSystemTimestamp":         ts(c.at),
		"DisconnectTimestamp":                ts(end),
		"LastUpdateTimestamp":                ts(end.Add(5 * time.Second)),
		"DisconnectReason":                   "CUSTOMER_DISCONNECT",
		"Agent":                              nil,
		"Queue":                              map[string]any{"ARN": queue, "Name": "Sales"},
		"CustomerEndpoint":                   map[string]string{"Address": demoCaller, "Type": "TELEPHONE_NUMBER"},
		"SystemEndpoint":                     map[string]string{"Address": demoDialled, "Type": "TELEPHONE_NUMBER"},
		"Attributes": map[string]string{
			"vmx3_flag": "1", "vmx3_from": demoCaller, "vmx3_lang": "en-US", "vmx3_queue_arn": queue,
			"vmx3_target": "queue", "vmx3_mode": mode,
		},
		"MediaStreams": []map[string]string{{"Type": "AUDIO"}},
		"Recordings": []map[string]any{{
			"Location": c.streamARN, "StorageType": "KINESIS_VIDEO_STREAM", "ParticipantType": "CUSTOMER", "MediaStreamType": "AUDIO",
			"FragmentStartNumber": c.firstFrag, "FragmentStopNumber": c.lastFrag,
			"StartTimestamp": ts(c.at), "StopTimestamp": ts(end),
		}},
	})
	return b
}

func postCTR(ctx context.Context, base, apiKey string, record []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/ctr", bytes.NewReader(record))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("post contact record: %w", err)
	}
	defer resp.Body.Close()
	var sum struct {
		Accepted int
		Results  []struct{ Outcome, Reason string }
	}
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &sum); err != nil || sum.Accepted != 1 {
		return fmt.Errorf("post contact record: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// waitDelivered polls the API until the voicemail is delivered, or fails.
func waitDelivered(ctx context.Context, base, apiKey, contactID string) (*voicemail.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		rec, err := getVoicemail(ctx, base, apiKey, contactID)
		switch {
		case err != nil && ctx.Err() == nil:
			// The server answers again in a moment.
		case err != nil:
			return nil, err
		case rec.Status == voicemail.StatusDelivered:
			return rec, nil
		case rec.Status == voicemail.StatusFailed, rec.Status == voicemail.StatusEmpty:
			return nil, fmt.Errorf("voicemail %s is %s at step %s: %s", contactID, rec.Status, rec.FailedStep, rec.Error)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("voicemail %s not delivered within 3 minutes", contactID)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func getVoicemail(ctx context.Context, base, apiKey, contactID string) (*voicemail.Record, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/voicemails/"+contactID, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-API-Key", apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("get voicemail: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	var rec voicemail.Record
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
		return nil, fmt.Errorf("get voicemail: %w", err)
	}
	return &rec, nil
}

// report prints what was delivered and checks the recording's link.
func (d *demo) report(ctx context.Context, a *app, rec *voicemail.Record, mode string, hooks *hookReceiver, call *demoCall) error {
	var sinks []string
	for _, r := range rec.Receipts {
		sinks = append(sinks, r.Sink+" ("+r.Detail+")")
	}
	slices.Sort(sinks) // receipts come in the order the destinations answered
	d.step("delivered to %s in %.1f s", strings.Join(sinks, ", "), rec.UpdatedAt.Sub(rec.CreatedAt).Seconds())
	link := a.pipeline.Links.URL(rec.ContactID)
	if strings.Contains(mode, "webhook") {
		p, ok := hooks.received(rec.ContactID)
		if !ok {
			return errors.New("vmx reports a delivery the webhook receiver did not get")
		}
		link = p.MediaURL
	}
	fmt.Fprintf(d.out, "    caller:     %s\n", rec.Caller)
	transcript := rec.Transcript
	switch {
	case a.cfg.Transcriber == "none":
		transcript = "(none: no speech-to-text engine)"
	case transcript == "" && call.speech:
		if d.once {
			return fmt.Errorf("the %s transcript of the caller's words is empty", a.cfg.Transcriber)
		}
		fmt.Fprintln(d.out, "warning: the transcript of the caller's words is empty")
	}
	fmt.Fprintf(d.out, "    transcript: %s\n", transcript)
	if rec.SpokenNumber != "" {
		fmt.Fprintf(d.out, "    callback:   %s (the number the caller said)\n", rec.SpokenNumber)
	}
	size, sum, err := fetchRecording(ctx, link)
	if err != nil {
		return err
	}
	if sum != call.callerSHA {
		return fmt.Errorf("the recording at %s is not the caller's audio the simulator streamed", link)
	}
	fmt.Fprintf(d.out, "    recording:  %s\n", link)
	fmt.Fprintf(d.out, "                (%d bytes of audio/wav, the caller's track, sha256 %s)\n", size, sum)
	return nil
}

// fetchRecording gets a media link and returns the WAV's size and the
// SHA-256 of its samples.
func fetchRecording(ctx context.Context, link string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return 0, "", fmt.Errorf("recording link %q: %w", link, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("recording: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("recording: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, "", fmt.Errorf("recording: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	r, err := wav.NewReader(bytes.NewReader(body))
	if err != nil {
		return 0, "", fmt.Errorf("recording: %w", err)
	}
	samples, err := io.ReadAll(r)
	if err != nil {
		return 0, "", fmt.Errorf("recording: %w", err)
	}
	sum := sha256.Sum256(samples)
	return len(body), hex.EncodeToString(sum[:]), nil
}

// hookReceiver is the webhook destination of the demo's voicemails: it
// checks each request's signature and keeps the bodies.
type hookReceiver struct {
	url    string
	srv    *http.Server
	mu     sync.Mutex
	bodies map[string]webhook.Body
}

func startHookReceiver(secret string) (*hookReceiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	h := &hookReceiver{url: "http://" + ln.Addr().String() + "/voicemail", bodies: map[string]webhook.Body{}}
	h.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := webhook.Verify([]byte(secret), r.Header, body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p webhook.Body
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.bodies[p.ContactID] = p
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	go h.srv.Serve(ln)
	return h, nil
}

func (h *hookReceiver) received(contactID string) (webhook.Body, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.bodies[contactID]
	return p, ok
}

func (h *hookReceiver) close() { h.srv.Close() }

// demoUser is the web inbox's user the demo signs in with.
const demoUser = "demo"

// ensureDemoUser gives the web inbox an administrator named demo with a new
// password, hashed at cost (0: the web inbox's default), and returns the
// sign-in: a password is good for one run of the demo, and signs out
// whoever used the last one.
func ensureDemoUser(ctx context.Context, st *store.Store, cost int) (user, pass string, err error) {
	pass = randomHex(6)
	u, err := web.NewUser(web.UserSpec{Username: demoUser, Password: pass, Role: store.RoleAdmin}, cost, time.Now())
	if err != nil {
		return "", "", fmt.Errorf("demo user: %w", err)
	}
	err = st.CreateUser(ctx, u)
	if errors.Is(err, store.ErrExists) {
		err = st.UpdateUser(ctx, u)
	}
	if err != nil {
		return "", "", fmt.Errorf("demo user: %w", err)
	}
	return demoUser, pass, nil
}
