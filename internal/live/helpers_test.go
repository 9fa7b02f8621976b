package live

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vmx-dev/vmx/internal/asr"
	"github.com/vmx-dev/vmx/internal/asr/testset"
	"github.com/vmx-dev/vmx/internal/audio/vad"
	"github.com/vmx-dev/vmx/internal/kvs"
	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/store"
	"github.com/vmx-dev/vmx/internal/store/storetest"
	"github.com/vmx-dev/vmx/internal/wav"
)

// need skips a test whose tool is missing, except in CI, where a skipped
// speech test would hide a broken setup.
func need(tb testing.TB, what string, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		tb.Fatalf("%s: %v (apt-get install flite)", what, err)
	}
	tb.Skipf("%s: %v", what, err)
}

var (
	sayMu    sync.Mutex
	sayCache = map[string][]int16{}
)

// say speaks text with flite's 8 kHz voice as telephone audio.
func say(tb testing.TB, text string) []int16 {
	tb.Helper()
	sayMu.Lock()
	defer sayMu.Unlock()
	if s, ok := sayCache[text]; ok {
		return s
	}
	path, err := exec.LookPath("flite")
	need(tb, "flite", err)
	out := filepath.Join(tb.TempDir(), "say.wav")
	if b, err := exec.Command(path, "-voice", "kal", "-t", text, "-o", out).CombinedOutput(); err != nil {
		tb.Fatalf("flite: %v: %s", err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, err := wav.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	if got := r.Format(); got != wav.Telephone {
		tb.Fatalf("flite wrote %+v, want 8 kHz mono 16-bit", got)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		tb.Fatal(err)
	}
	s := make([]int16, len(raw)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	s = testset.Line(s)
	sayCache[text] = s
	return s
}

// turn is one utterance of a scripted call.
type turn struct {
	role string
	text string
	at   int64 // ms into the call the clip starts
	// speech is the clip's speech, ms into the call, found by the VAD
	// without padding.
	speech vad.Span
}

// call is a two-sided call: the customer's and the agent's tracks.
type call struct {
	from, to []byte // s16le, equal length
	turns    []turn
}

// buildCall places the lines alternately (customer first) with gap ms of
// quiet line noise between them, and tail ms after the last.
func buildCall(tb testing.TB, lines []string, gap, tail int) *call {
	tb.Helper()
	var from, to []int16
	c := &call{}
	pos := 0
	for i, text := range lines {
		clip := say(tb, text)
		r := RoleCustomer
		if i%2 == 1 {
			r = RoleAgent
		}
		pad := quiet(gap, uint32(i+1))
		from = append(from, pad...)
		to = append(to, quiet(gap, uint32(i+101))...)
		pos += gap
		res, err := vad.Analyze(context.Background(), mustEnergy(tb), bytes.NewReader(pcmBytes(clip)), vad.Options{Pad: -1})
		if err != nil {
			tb.Fatal(err)
		}
		c.turns = append(c.turns, turn{role: r, text: text, at: int64(pos),
			speech: vad.Span{StartMS: int64(pos) + res.Speech.StartMS, EndMS: int64(pos) + res.Speech.EndMS}})
		other := noise(len(clip), uint32(i+201))
		if r == RoleCustomer {
			from, to = append(from, clip...), append(to, other...)
		} else {
			from, to = append(from, other...), append(to, clip...)
		}
		pos += len(clip) / 8
	}
	from = append(from, quiet(tail, 7)...)
	to = append(to, quiet(tail, 8)...)
	c.from, c.to = pcmBytes(from), pcmBytes(to)
	return c
}

func mustEnergy(tb testing.TB) vad.Detector {
	d, err := vad.NewEnergy(8000, vad.EnergyConfig{})
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// quiet returns ms of quiet line noise.
func quiet(ms int, seed uint32) []int16 { return noise(ms*8, seed) }

// noise returns n samples of quiet line noise.
func noise(n int, seed uint32) []int16 {
	s := make([]int16, n)
	x := seed
	for i := range s {
		x = x*1664525 + 1013904223
		s[i] = int16(x>>27) - 16 // ±16: about -70 dBFS
	}
	return s
}

func pcmBytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}

// durationEngine is a deterministic speech engine: it "hears" how long the
// utterance is.
type durationEngine struct{}

func (durationEngine) Name() string { return "duration" }

func (durationEngine) Transcribe(_ context.Context, a asr.Audio, _ asr.Options) (*asr.Result, error) {
	b, err := io.ReadAll(a.PCM)
	if err != nil {
		return nil, err
	}
	ms := int64(len(b)) / bytesPerMS
	return &asr.Result{Engine: "duration", Text: fmt.Sprintf("I spoke for %d milliseconds", ms), AudioMS: ms}, nil
}

// receiver is a webhook target that records what it receives.
type receiver struct {
	mu   sync.Mutex
	msgs []received
	hdr  []http.Header
	urls []string
}

type received struct {
	Message
	at time.Time
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m Message
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.msgs = append(rc.msgs, received{m, time.Now()})
	rc.hdr = append(rc.hdr, r.Header.Clone())
	rc.urls = append(rc.urls, r.URL.String())
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.msgs...)
}

// waitFor polls until cond holds or d passes.
func waitFor(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			tb.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rig is a live Service on a KVS simulator, a SQLite store and an HTTP
// server.
type rig struct {
	svc   *Service
	sim   *kvssim.Server
	db    *store.Store
	api   *httptest.Server
	reg   *prometheus.Registry
	start time.Time // when paced streams begin
	pace  float64
}

func newRig(tb testing.TB, pace float64, cfg Config, engine asr.Engine) *rig {
	tb.Helper()
	return newRigAt(tb, pace, time.Now(), cfg, engine)
}

// newRigAt is newRig with paced streams beginning at start.
func newRigAt(tb testing.TB, pace float64, start time.Time, cfg Config, engine asr.Engine) *rig {
	tb.Helper()
	sim := kvssim.New(kvssim.Options{Pace: pace, Start: start})
	simSrv := httptest.NewServer(sim)
	tb.Cleanup(simSrv.Close)
	r := newReplica(tb, simSrv.URL, storetest.SQLite(tb), cfg, engine)
	r.sim, r.start, r.pace = sim, start, pace
	return r
}

// newReplica is a live Service, one replica of vmx serve, reading the
// KVS simulator at simURL and keeping conversations in the database dsn,
// which other replicas may share.
func newReplica(tb testing.TB, simURL, dsn string, cfg Config, engine asr.Engine) *rig {
	tb.Helper()
	client, err := kvs.New(aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDLIVETEST", "live-test-secret", ""),
	}, kvs.Options{Endpoint: simURL, EmptyReconnects: 1, ReconnectDelay: 50 * time.Millisecond, IdleTimeout: 2 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	reg := prometheus.NewRegistry()
	m := NewMetrics()
	if err := m.Register(reg); err != nil {
		tb.Fatal(err)
	}
	svc, err := New(cfg, Deps{Streams: client, Engine: engine, Store: db, Metrics: m})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		svc.Close(ctx)
	})
	api := httptest.NewServer(svc.Handler(nil))
	tb.Cleanup(api.Close)
	return &rig{svc: svc, db: db, api: api, reg: reg}
}

// addCall puts a call on a new stream and returns its ARN.
func (r *rig) addCall(tb testing.TB, name, guid string, c *call) string {
	tb.Helper()
	if err := r.sim.AddStream(name, kvssim.FromPCM(c.from, c.to, kvssim.Contact{ContactID: guid})); err != nil {
		tb.Fatal(err)
	}
	arn, err := r.sim.StreamARN(name)
	if err != nil {
		tb.Fatal(err)
	}
	return arn
}

// post sends a JSON body and decodes the JSON answer into out.
func (r *rig) post(tb testing.TB, path string, body any, out any) int {
	tb.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(r.api.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		tb.Fatalf("%s: decode: %v", path, err)
	}
	return resp.StatusCode
}

func (r *rig) get(tb testing.TB, path string) (int, []byte) {
	tb.Helper()
	resp, err := http.Get(r.api.URL + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// startAtFirst is startBody for a session that starts at the first
// fragment of stream name (FRAGMENT_NUMBER), once the simulator has it
// whole. Such a session reads the whole call, and its timeline starts with
// the call, however long the test took to get there on a busy machine;
// with NOW it would start at the fragment being written by then.
func (r *rig) startAtFirst(tb testing.TB, name, guid, arn string) map[string]any {
	tb.Helper()
	frags, err := r.sim.Fragments(name)
	if err != nil || len(frags) == 0 {
		tb.Fatalf("fragments of %s: %v", name, err)
	}
	if r.pace > 0 {
		time.Sleep(time.Until(r.start.Add(time.Duration(float64(frags[0].Duration) / r.pace))))
	}
	b := startBody(guid, arn)
	b["amazonConnectParams"] = map[string]any{"streamArn": arn, "startSelectorType": "FRAGMENT_NUMBER", "afterFragmentNumber": frags[0].Number}
	return b
}

func startBody(guid, arn string) map[string]any {
	return map[string]any{
		"namespace":            "amazonconnect",
		"guid":                 guid,
		"customerId":           "TT9833237",
		"agentId":              "RE223444211993",
		"autotranscribeParams": map[string]any{"language": "en-US"},
		"amazonConnectParams":  map[string]any{"streamArn": arn, "startSelectorType": "NOW"},
	}
}

// counter reads a counter or gauge of a vector.
func counter(tb testing.TB, c interface {
	WithLabelValues(...string) prometheus.Counter
}, labels ...string) float64 {
	tb.Helper()
	var m dto.Metric
	if err := c.WithLabelValues(labels...).Write(&m); err != nil {
		tb.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// percentile returns the p-th percentile (0-100) of xs.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}
