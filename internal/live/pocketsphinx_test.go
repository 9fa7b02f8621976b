//go:build cgo && pocketsphinx

package live

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/asr/pocketsphinx"
	"github.com/vmx-dev/vmx/internal/asr/wer"
)

func newSphinx(tb testing.TB) *pocketsphinx.Engine {
	tb.Helper()
	cfg := pocketsphinx.Config{}.WithDefaults()
	_, err := os.Stat(cfg.HMM)
	need(tb, "pocketsphinx model (apt-get install pocketsphinx-en-us)", err)
	e, err := pocketsphinx.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

// TestCallPocketSphinx transcribes a two-sided call with the embedded
// engine: each utterance reaches the target with its role and words close
// to what was said.
func TestCallPocketSphinx(t *testing.T) {
	c := buildCall(t, callLines, 1500, 2000)
	rc := &receiver{}
	target := httptest.NewServer(rc)
	defer target.Close()
	r := newRig(t, 4, Config{Targets: []TargetConfig{{URL: target.URL}}, StopGrace: 50 * time.Millisecond}, newSphinx(t))
	const guid = "sphinx-call"
	var resp Response
	arn := r.addCall(t, "sphinx", guid, c)
	if code := r.post(t, PathStart, r.startAtFirst(t, "sphinx", guid, arn), &resp); code != http.StatusOK {
		t.Fatalf("start: %d %+v", code, resp)
	}
	waitFor(t, time.Minute, "four messages", func() bool { return len(rc.got()) >= len(c.turns) })
	got := rc.got()
	var total wer.Counts
	for i, m := range got {
		want := c.turns[i]
		text := m.Response.Utterance[0].Text
		counts := wer.Compare(want.text, text)
		total = total.Add(counts)
		rate := counts.Rate()
		t.Logf("%s %d-%d ms: %q (WER %.2f)", m.Sender.Role, m.Response.StartMS, m.Response.EndMS, text, rate)
		if m.Sender.Role != want.role {
			t.Errorf("message %d from %s, want %s", i, m.Sender.Role, want.role)
		}
		if rate > 0.75 {
			t.Errorf("message %d %q is far from %q", i, text, want.text)
		}
		if m.Response.StartMS < want.speech.StartMS-300 || m.Response.EndMS > want.speech.EndMS+300 || m.Response.EndMS <= m.Response.StartMS {
			t.Errorf("message %d at %d-%d ms, speech at %d-%d ms", i, m.Response.StartMS, m.Response.EndMS, want.speech.StartMS, want.speech.EndMS)
		}
	}
	if len(got) != len(c.turns) {
		t.Errorf("got %d messages, want %d", len(got), len(c.turns))
	}
	if r := total.Rate(); r > 0.45 {
		t.Errorf("word error rate %.2f over the call, want at most 0.45", r)
	}
}

// BenchmarkLatencyPocketSphinx is BenchmarkLatency with the embedded
// engine decoding each utterance:
//
//	go test -tags pocketsphinx -run '^$' -bench BenchmarkLatencyPocketSphinx -benchtime 2x ./internal/live/
func BenchmarkLatencyPocketSphinx(b *testing.B) {
	benchLatency(b, newSphinx(b))
}

// BenchmarkConcurrentCallsPocketSphinx is BenchmarkConcurrentCalls with
// transcription:
//
//	go test -tags pocketsphinx -run '^$' -bench BenchmarkConcurrentCallsPocketSphinx -benchtime 1x ./internal/live/
func BenchmarkConcurrentCallsPocketSphinx(b *testing.B) {
	for _, n := range []int{5, 10} {
		b.Run(fmt.Sprintf("calls=%d/decoder=pocketsphinx", n), func(b *testing.B) { benchCalls(b, n, newSphinx(b)) })
	}
}
