package kvs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/vmx-dev/vmx/internal/mkv"
)

const (
	testRegion  = "us-east-1"
	testARN     = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/vmx-connect-contact-6855eee9/1736282293468"
	testKeyID   = "AKIDEXAMPLE"
	testSecret  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	testSession = "session-token"
)

var testCreds = aws.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testSession}

// fakeFragment is one fragment of the fake stream in both wire forms.
type fakeFragment struct {
	number   string
	server   time.Time
	from, to []byte // PCM of each track
	media    []byte // GetMedia form: with the MILLIS_BEHIND_NOW/CONTINUATION_TOKEN trailer
	list     []byte // GetMediaForFragmentList form: no trailer
	errChunk bool   // an in-band error chunk in GetMedia; "not found" for GetMediaForFragmentList
}

// fault is an error response the fake gives instead of serving a call.
type fault struct {
	status  int
	errType string // sent as x-amzn-ErrorType with extra detail after a colon
	message string
}

// cut ends a body inside the fragment with index frag (in the stream) at
// the offset at returns, abruptly (connection reset) or cleanly.
type cut struct {
	frag  int
	at    func(*fakeFragment) int
	abort bool
}

// Cut positions within a fragment.
var (
	atStart    = func(*fakeFragment) int { return 0 }
	inHeader   = func(*fakeFragment) int { return 5 }
	midBlock   = func(f *fakeFragment) int { return bytes.Index(f.media, f.from[:16]) + 5 }
	inTrailer  = func(f *fakeFragment) int { return len(f.media) - 10 }
	midMetaTag = func(f *fakeFragment) int { return bytes.Index(f.media, []byte("AWS_KINESISVIDEO_FRAGMENT_NUMBER")) + 3 }
)

// fakeKVS is an httptest server that speaks the KVS wire format of
// GetDataEndpoint, GetMedia, ListFragments and GetMediaForFragmentList and
// rejects any request whose SigV4 signature does not verify.
type fakeKVS struct {
	t     *testing.T
	srv   *httptest.Server
	tr    *http.Transport
	open  atomic.Int64 // response bodies the client has not closed
	frags []*fakeFragment

	// Behaviour, set before the first request.
	inclusive      bool // GetMedia FRAGMENT_NUMBER includes the fragment itself
	tokenInclusive bool // CONTINUATION_TOKEN re-sends the token's fragment
	pageSize       int  // ListFragments page size the service chooses
	// tail > 0 makes the last fragment a producer's unfinished one: GetMedia
	// serves only its first tail bytes, without trailer, every time.
	tail int
	hang bool // GetMedia keeps the body open after the last byte
	// sessionLimit > 0 resets every GetMedia connection after that many
	// bytes, as KVS ends sessions after about 45 minutes.
	sessionLimit int

	mu        sync.Mutex
	calls     map[string]int // per operation, GetDataEndpoint per API name
	faults    map[string][]fault
	mediaCuts []cut    // consumed by GetMedia calls whose body contains the fragment
	listCuts  []cut    // the same for GetMediaForFragmentList
	endpoints []string // DataEndpoint answers before the server's own URL
	selectors []string // GetMedia start selectors received, as "TYPE value"
	batches   [][]string
	listReqs  []map[string]any
	released  chan struct{} // a hanging GetMedia saw its client go away
}

func newFakeKVS(t *testing.T, frags []*fakeFragment) *fakeKVS {
	t.Helper()
	f := &fakeKVS{
		t:        t,
		frags:    frags,
		pageSize: 1000,
		calls:    make(map[string]int),
		faults:   make(map[string][]fault),
		released: make(chan struct{}, 16),
		tr:       &http.Transport{},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.tr.CloseIdleConnections()
		f.srv.Close()
	})
	return f
}

// client returns a Client of the fake with fast, test-sized settings.
func (f *fakeKVS) client(t *testing.T, mod func(*Options)) *Client {
	t.Helper()
	opts := Options{
		Endpoint:        f.srv.URL,
		HTTPClient:      &http.Client{Transport: trackBodies{f.tr, &f.open}},
		Logger:          slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		MaxAttempts:     4,
		BaseDelay:       time.Millisecond,
		MaxDelay:        2 * time.Millisecond,
		ListPadding:     time.Second,
		EmptyReconnects: 2,
		ReconnectDelay:  time.Millisecond,
		IdleTimeout:     -1,
	}
	if mod != nil {
		mod(&opts)
	}
	cfg := aws.Config{
		Region: testRegion,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return testCreds, nil
		}),
	}
	c, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := f.open.Load(); n != 0 {
			t.Errorf("%d response bodies left open", n)
		}
	})
	return c
}

func (f *fakeKVS) addFault(op string, n int, ft fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.faults[op] = append(f.faults[op], ft)
	}
}

func (f *fakeKVS) callCount(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

type wireRequest struct {
	StreamARN, StreamName string
	APIName               string
	StartSelector         *struct {
		StartSelectorType   string
		AfterFragmentNumber string
		ContinuationToken   string
		StartTimestamp      *float64
	}
	MaxResults       int
	NextToken        string
	FragmentSelector *struct {
		FragmentSelectorType string
		TimestampRange       struct{ StartTimestamp, EndTimestamp *float64 }
	}
	Fragments []string
}

func (f *fakeKVS) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if err := verifySignature(r, body); err != nil {
		f.t.Errorf("%s %s: %v", r.Method, r.URL.Path, err)
		writeError(w, http.StatusForbidden, "InvalidSignatureException", err.Error())
		return
	}
	op := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	if op != "getDataEndpoint" && r.Header.Get("Content-Type") != "application/json" {
		f.t.Errorf("%s: Content-Type %q", op, r.Header.Get("Content-Type"))
	}
	var req wireRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidArgumentException", err.Error())
		return
	}
	if req.StreamARN != "" && req.StreamName != "" {
		writeError(w, http.StatusBadRequest, "InvalidArgumentException", "both StreamARN and StreamName")
		return
	}
	if req.StreamARN != testARN && req.StreamName != "vmx-stream" {
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", "no such stream")
		return
	}

	f.mu.Lock()
	key := op
	if op == "getDataEndpoint" {
		key += ":" + req.APIName
	}
	f.calls[key]++
	var ft *fault
	if q := f.faults[op]; len(q) > 0 {
		ft, f.faults[op] = &q[0], q[1:]
	}
	f.mu.Unlock()
	if ft != nil {
		writeError(w, ft.status, ft.errType, ft.message)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/stale/") {
		writeError(w, http.StatusBadRequest, ErrTypeInvalidEndpoint, "call GetDataEndpoint again")
		return
	}

	switch op {
	case "getDataEndpoint":
		f.mu.Lock()
		ep := f.srv.URL
		if len(f.endpoints) > 0 {
			ep, f.endpoints = f.endpoints[0], f.endpoints[1:]
		}
		f.mu.Unlock()
		writeJSON(w, map[string]string{"DataEndpoint": ep})
	case "listFragments":
		f.listFragments(w, &req, body)
	case "getMedia":
		f.getMedia(w, r, &req)
	case "getMediaForFragmentList":
		f.getMediaForFragmentList(w, &req)
	default:
		writeError(w, http.StatusNotFound, "UnknownOperationException", op)
	}
}

// listFragments answers in a fixed shuffled order, paginated by the
// offset: the order is unrelated to fragment numbers, across pages too.
func (f *fakeKVS) listFragments(w http.ResponseWriter, req *wireRequest, raw []byte) {
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	f.mu.Lock()
	f.listReqs = append(f.listReqs, m)
	f.mu.Unlock()
	sel := req.FragmentSelector
	if sel == nil || sel.FragmentSelectorType != "SERVER_TIMESTAMP" || sel.TimestampRange.StartTimestamp == nil || sel.TimestampRange.EndTimestamp == nil || req.MaxResults != 1000 {
		writeError(w, http.StatusBadRequest, "InvalidArgumentException", "bad selector or MaxResults")
		return
	}
	start := fromEpoch(*sel.TimestampRange.StartTimestamp)
	end := fromEpoch(*sel.TimestampRange.EndTimestamp)
	type item struct {
		FragmentNumber               string
		FragmentSizeInBytes          int
		ProducerTimestamp            float64
		ServerTimestamp              float64
		FragmentLengthInMilliseconds int
	}
	var items []item
	for _, fr := range f.frags {
		if fr.server.Before(start) || fr.server.After(end) {
			continue
		}
		items = append(items, item{fr.number, len(fr.list), epoch(fr.server.Add(-170 * time.Millisecond)), epoch(fr.server), 1024})
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	rnd.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	off := 0
	if req.NextToken != "" {
		off, _ = strconv.Atoi(strings.TrimPrefix(req.NextToken, "page-"))
	}
	page := items[min(off, len(items)):min(off+f.pageSize, len(items))]
	resp := map[string]any{"Fragments": page}
	if off+f.pageSize < len(items) {
		resp["NextToken"] = "page-" + strconv.Itoa(off+f.pageSize)
	} else {
		resp["NextToken"] = nil
	}
	writeJSON(w, resp)
}

func (f *fakeKVS) getMedia(w http.ResponseWriter, r *http.Request, req *wireRequest) {
	sel := req.StartSelector
	if sel == nil {
		writeError(w, http.StatusBadRequest, "InvalidArgumentException", "no StartSelector")
		return
	}
	start := 0
	var desc string
	switch sel.StartSelectorType {
	case "EARLIEST":
		desc = "EARLIEST"
	case "FRAGMENT_NUMBER":
		desc = "FRAGMENT_NUMBER " + sel.AfterFragmentNumber
		start = f.firstAfter(sel.AfterFragmentNumber, f.inclusive)
	case "CONTINUATION_TOKEN":
		desc = "CONTINUATION_TOKEN " + sel.ContinuationToken
		start = f.firstAfter(sel.ContinuationToken, f.tokenInclusive)
	case "SERVER_TIMESTAMP":
		if sel.StartTimestamp == nil {
			writeError(w, http.StatusBadRequest, "InvalidArgumentException", "no StartTimestamp")
			return
		}
		ts := fromEpoch(*sel.StartTimestamp)
		desc = "SERVER_TIMESTAMP " + ts.UTC().Format(time.RFC3339Nano)
		for start < len(f.frags) && f.frags[start].server.Before(ts) {
			start++
		}
	default:
		writeError(w, http.StatusBadRequest, "InvalidArgumentException", "unsupported selector "+sel.StartSelectorType)
		return
	}
	f.mu.Lock()
	f.selectors = append(f.selectors, desc)
	f.mu.Unlock()

	var out []byte
	offsets := make(map[int]int)
	for i := start; i < len(f.frags); i++ {
		offsets[i] = len(out)
		b := f.frags[i].media
		if f.tail > 0 && i == len(f.frags)-1 {
			b = b[:f.tail]
		}
		out = append(out, b...)
	}
	w.Header().Set("Content-Type", "video/webm")
	if f.sessionLimit > 0 && len(out) > f.sessionLimit {
		w.Write(out[:f.sessionLimit])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	if f.writeCut(w, out, offsets, &f.mediaCuts) {
		return
	}
	if f.hang {
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		f.released <- struct{}{}
	}
}

func (f *fakeKVS) getMediaForFragmentList(w http.ResponseWriter, req *wireRequest) {
	if len(req.Fragments) == 0 || len(req.Fragments) > 1000 {
		writeError(w, http.StatusBadRequest, "InvalidArgumentException", fmt.Sprintf("%d fragments", len(req.Fragments)))
		return
	}
	f.mu.Lock()
	f.batches = append(f.batches, req.Fragments)
	f.mu.Unlock()
	var out []byte
	offsets := make(map[int]int)
	for _, n := range req.Fragments {
		i := f.index(n)
		if i < 0 || f.frags[i].errChunk {
			out = mkv.AppendErrorChunk(out, n, "FRAGMENT_NOT_FOUND", "3000")
			continue
		}
		offsets[i] = len(out)
		out = append(out, f.frags[i].list...)
	}
	f.writeCut(w, out, offsets, &f.listCuts)
}

// writeCut writes out, or only its part up to the first queued cut that
// falls in it. It reports whether it cut.
func (f *fakeKVS) writeCut(w http.ResponseWriter, out []byte, offsets map[int]int, cuts *[]cut) bool {
	f.mu.Lock()
	var c *cut
	if len(*cuts) > 0 {
		if _, ok := offsets[(*cuts)[0].frag]; ok {
			c = &(*cuts)[0]
			*cuts = (*cuts)[1:]
		}
	}
	f.mu.Unlock()
	if c == nil {
		w.Write(out)
		return false
	}
	n := offsets[c.frag] + c.at(f.frags[c.frag])
	w.Write(out[:n])
	if c.abort {
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // closes the connection mid-body
	}
	return true
}

// firstAfter returns the index of the first fragment after number n, or at
// it when inclusive.
func (f *fakeKVS) firstAfter(n string, inclusive bool) int {
	for i, fr := range f.frags {
		c := mkv.CompareFragmentNumbers(fr.number, n)
		if c > 0 || (inclusive && c == 0) {
			return i
		}
	}
	return len(f.frags)
}

func (f *fakeKVS) index(n string) int {
	for i, fr := range f.frags {
		if mkv.CompareFragmentNumbers(fr.number, n) == 0 {
			return i
		}
	}
	return -1
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, errType, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("x-amzn-ErrorType", errType+":http://internal.amazon.com/coral/com.amazonaws.kinesis.video/")
	w.Header().Set("x-amzn-RequestId", "req-"+errType)
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func fromEpoch(s float64) time.Time { return time.UnixMilli(int64(s*1000 + 0.5)) }

// verifySignature checks the request's SigV4 Authorization header: service
// kinesisvideo, the test key and region, and a signature equal to the one
// the SDK signer computes for a copy of the request with the same signed
// headers, time and body.
func verifySignature(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return fmt.Errorf("not a SigV4 Authorization header: %q", auth)
	}
	parts := make(map[string]string)
	for _, p := range strings.Split(rest, ", ") {
		k, v, _ := strings.Cut(p, "=")
		parts[k] = v
	}
	scope := strings.Split(parts["Credential"], "/")
	if len(scope) != 5 || scope[0] != testKeyID || scope[2] != testRegion || scope[3] != "kinesisvideo" || scope[4] != "aws4_request" {
		return fmt.Errorf("credential scope %q", parts["Credential"])
	}
	signedAt, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date: %w", err)
	}
	if r.Header.Get("X-Amz-Security-Token") != testSession {
		return errors.New("session token missing")
	}
	cp, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return err
	}
	cp.Host = r.Host
	cp.ContentLength = r.ContentLength
	for _, h := range strings.Split(parts["SignedHeaders"], ";") {
		if h != "host" && h != "content-length" {
			cp.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, cp, hex.EncodeToString(sum[:]), "kinesisvideo", testRegion, signedAt); err != nil {
		return err
	}
	if got := cp.Header.Get("Authorization"); got != auth {
		return fmt.Errorf("signature mismatch:\n got  %s\n want %s", auth, got)
	}
	return nil
}

// trackBodies counts response bodies until they are closed.
type trackBodies struct {
	rt   http.RoundTripper
	open *atomic.Int64
}

func (t trackBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	t.open.Add(1)
	resp.Body = &trackedBody{ReadCloser: resp.Body, open: t.open}
	return resp, nil
}

type trackedBody struct {
	io.ReadCloser
	open *atomic.Int64
	once sync.Once
}

func (b *trackedBody) Close() error {
	b.once.Do(func() { b.open.Add(-1) })
	return b.ReadCloser.Close()
}

type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// stride is the observed distance between consecutive KVS fragment numbers.
var stride = new(big.Int).Lsh(big.NewInt(1), 92)

// makeStream builds n small fragments whose numbers cross from 47 to 48
// digits after the third, so that only a numeric comparison orders them.
// PCM is random but reproducible; errAt marks fragments that are error
// chunks.
func makeStream(t testing.TB, n int, errAt ...int) []*fakeFragment {
	t.Helper()
	base := new(big.Int).Exp(big.NewInt(10), big.NewInt(47), nil)
	base.Sub(base, new(big.Int).Mul(stride, big.NewInt(3)))
	t0 := time.UnixMilli(1767225600123)
	rnd := rand.New(rand.NewPCG(uint64(n), 7))
	frags := make([]*fakeFragment, n)
	for i := range frags {
		num := new(big.Int).Add(base, new(big.Int).Mul(stride, big.NewInt(int64(i))))
		num.Add(num, big.NewInt(int64(rnd.IntN(1000))))
		fr := &fakeFragment{number: num.String(), server: t0.Add(time.Duration(i) * 1024 * time.Millisecond)}
		frags[i] = fr
		if containsInt(errAt, i) {
			fr.errChunk = true
			fr.media = mkv.AppendErrorChunk(nil, fr.number, "INTERNAL_ERROR", "5000")
			continue
		}
		fr.from, fr.to = randBytes(rnd, 64), randBytes(rnd, 64)
		cf := &mkv.ConnectFragment{
			ContactID:      "6855eee9-fa47-4b84-a970-ac6dbdd30b9d",
			InstanceID:     "0c245b52-0b6c-4a7a-8b9b-5a0d6f1f4e11",
			FragmentNumber: fr.number,
			Producer:       fr.server.Add(-170 * time.Millisecond),
			Server:         fr.server,
			FromFirst:      i%2 == 0,
			From:           fr.from,
			To:             fr.to,
			BlockBytes:     32,
		}
		var err error
		if fr.list, err = mkv.AppendConnectFragment(nil, cf); err != nil {
			t.Fatal(err)
		}
		cf.Trailer = &mkv.Trailer{MillisBehindNow: int64(1024 * (n - i)), ContinuationToken: fr.number}
		if fr.media, err = mkv.AppendConnectFragment(nil, cf); err != nil {
			t.Fatal(err)
		}
	}
	return frags
}

func randBytes(rnd *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rnd.Uint32())
	}
	return b
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// digest summarises what a reader delivered: one entry per fragment
// (number, "!" if cut, "E" if an error chunk) and hashes of each track's
// PCM in delivery order.
type digest struct {
	entries  []string
	from, to string
}

type fragmentSource interface {
	Next() (*mkv.Fragment, error)
}

// drain reads src to its end and returns the digest and the final error
// (nil for io.EOF).
func drain(src fragmentSource) (digest, error) {
	var d digest
	from, to := sha256.New(), sha256.New()
	for {
		f, err := src.Next()
		if err != nil {
			d.from, d.to = hex.EncodeToString(from.Sum(nil)), hex.EncodeToString(to.Sum(nil))
			if err == io.EOF {
				err = nil
			}
			return d, err
		}
		entry := f.FragmentNumber()
		if _, _, ok := f.ErrorChunk(); ok {
			entry += "E"
		} else if f.Truncated || (len(f.Blocks) > 0 && !hasAllBlocks(f)) {
			entry += "!"
		}
		d.entries = append(d.entries, entry)
		for _, b := range f.Blocks {
			switch name, _ := f.TrackName(b.Track); name {
			case mkv.TrackFromCustomer:
				from.Write(b.Data)
			case mkv.TrackToCustomer:
				to.Write(b.Data)
			}
		}
	}
}

// hasAllBlocks reports whether f carries the 4 blocks of a test fragment.
func hasAllBlocks(f *mkv.Fragment) bool { return len(f.Blocks) == 4 }

// expect is the digest of the given stream bytes parsed directly: the
// oracle for what a reader should deliver.
func expect(t testing.TB, parts ...[]byte) digest {
	t.Helper()
	d, err := drain(mkv.NewFragmentReader(bytes.NewReader(bytes.Join(parts, nil))))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mediaOf(frags []*fakeFragment) [][]byte {
	out := make([][]byte, len(frags))
	for i, f := range frags {
		out[i] = f.media
	}
	return out
}

func listOf(frags []*fakeFragment) [][]byte {
	out := make([][]byte, len(frags))
	for i, f := range frags {
		if f.errChunk {
			out[i] = mkv.AppendErrorChunk(nil, f.number, "FRAGMENT_NOT_FOUND", "3000")
		} else {
			out[i] = f.list
		}
	}
	return out
}

func (d digest) diff(want digest) string {
	var b strings.Builder
	if strings.Join(d.entries, ",") != strings.Join(want.entries, ",") {
		fmt.Fprintf(&b, "fragments:\n got  %d %v\n want %d %v\n", len(d.entries), short(d.entries), len(want.entries), short(want.entries))
	}
	if d.from != want.from || d.to != want.to {
		fmt.Fprintf(&b, "PCM differs: from %s vs %s, to %s vs %s\n", d.from[:8], want.from[:8], d.to[:8], want.to[:8])
	}
	return b.String()
}

// short abbreviates fragment numbers to their last digits for messages.
func short(entries []string) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e[max(0, len(e)-8):]
	}
	if len(out) > 40 {
		out = append(out[:40], "…")
	}
	return out
}
