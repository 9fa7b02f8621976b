package recording

import (
	"context"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/kvssim"
	"github.com/vmx-dev/vmx/internal/store"
)

type segmentsAnswer struct {
	ContactID string `json:"contact_id"`
	Segments  []struct {
		Track      string  `json:"track"`
		StartMS    int64   `json:"start_ms"`
		EndMS      int64   `json:"end_ms"`
		Text       string  `json:"text"`
		Confidence float64 `json:"confidence"`
		Partial    bool    `json:"partial"`
	} `json:"segments"`
}

// watchedStore records the segments written to the database.
type watchedStore struct {
	Store
	mu   sync.Mutex
	puts []store.RecordingSegment
}

func (w *watchedStore) PutRecordingSegment(ctx context.Context, g store.RecordingSegment) error {
	w.mu.Lock()
	w.puts = append(w.puts, g)
	w.mu.Unlock()
	return w.Store.PutRecordingSegment(ctx, g)
}

func (w *watchedStore) partials() []store.RecordingSegment {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []store.RecordingSegment
	for _, g := range w.puts {
		if g.Partial {
			out = append(out, g)
		}
	}
	return out
}

// Both sides are transcribed utterance by utterance as the call goes on:
// the prompt the customer hears, then the customer, who speaks for
// nine seconds and is still speaking when the call ends, which makes the
// last utterance final. With partial transcripts saved, the customer's
// speech is also stored as it goes, as partial segments that the final
// one replaces.
func TestTranscription(t *testing.T) {
	t.Parallel()
	from, to := call(12, 2, 13)
	callerStart := int64(3100) // synth: prompt 2 s, beep 2.3–2.8 s, caller from 3.1 s
	results := map[bool]segmentsAnswer{}
	for _, partial := range []bool{false, true} {
		s := newSim(t, kvssim.Options{Pace: 10})
		arn, frags := s.stream(t, "call", kvssim.FromPCM(from, to, kvssim.Contact{ContactID: contactA}))
		engine := &fakeEngine{}
		e := newEnv(t, s, Config{SavePartialTranscripts: partial}, engine)
		watched := &watchedStore{Store: e.db}
		e.deps.Store = watched
		e.rec = e.recorder(t)
		s.play(10)
		e.start(t, startBody(contactA, arn, frags[0].Number, `"transcribe":true,"language":"en-GB"`))
		st := e.waitDone(t, contactA, 10*time.Second)
		var got segmentsAnswer
		if code := e.do(t, http.MethodGet, "/v1/recordings/"+contactA+"/segments", "", &got); code != http.StatusOK {
			t.Fatalf("segments: %d", code)
		}
		if st.Segments != len(got.Segments) || len(st.Warnings) != 0 {
			t.Errorf("status counts %d segments of %d, warnings %v", st.Segments, len(got.Segments), st.Warnings)
		}
		sides := map[string]int{}
		for i, g := range got.Segments {
			side := from
			if g.Track == "to" {
				side = to
			}
			if g.StartMS < 0 || g.EndMS <= g.StartMS || g.EndMS > 12_000 || !loud(side, g.StartMS, g.EndMS) || g.Confidence != 0.5 || g.Partial {
				t.Errorf("segment %d %+v: not final speech of its side", i, g)
			}
			if g.Track == "from" && g.StartMS < callerStart-250 {
				t.Errorf("segment %d %+v: the customer is silent before %d ms", i, g, callerStart)
			}
			if i > 0 && g.StartMS < got.Segments[i-1].StartMS {
				t.Errorf("segments out of order at %d", i)
			}
			sides[g.Track]++
		}
		if sides["to"] == 0 || sides["from"] == 0 {
			t.Fatalf("segments by side %v", sides)
		}
		if last := got.Segments[len(got.Segments)-1]; last.Track != "from" || last.EndMS < 11_500 {
			t.Errorf("the customer's last words %+v are not transcribed", last)
		}
		partials := watched.partials()
		watched.mu.Lock()
		puts := len(watched.puts)
		watched.mu.Unlock()
		if n := engine.heard(); n != puts {
			t.Errorf("the engine heard %d utterances, %d segments were written", n, puts)
		}
		if partial != (len(partials) > 0) {
			t.Errorf("partial transcripts saved %v: %d written", partial, len(partials))
		}
		for _, g := range partials {
			if g.Track != "from" || g.StartMS < callerStart-250 || !loud(from, g.StartMS, g.EndMS) {
				t.Errorf("partial %+v: not the customer speaking", g)
			}
		}
		results[partial] = got
	}
	if !reflect.DeepEqual(results[false], results[true]) {
		t.Fatalf("the final transcript depends on partials:\n%+v\n%+v", results[false], results[true])
	}
}
