package live

import (
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/audio/vad"
)

// feed plays samples into a tracker in 64 ms blocks, as Connect's
// SimpleBlocks arrive, and records where in the stream each utterance
// came out.
type fed struct {
	utt utterance
	at  int64 // track ms fed when it came out
}

func runTracker(t *testing.T, pcm []int16, pause time.Duration, startMS int64, finish bool) []fed {
	t.Helper()
	var out []fed
	var tr *tracker
	tr, err := newTracker(mustEnergy(t), mustEnergy(t), pause, 15*time.Second, startMS, func(u utterance) error {
		out = append(out, fed{u, tr.now()})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.close()
	b := pcmBytes(pcm)
	for off := 0; off < len(b); off += 1024 {
		if err := tr.Write(b[off:min(off+1024, len(b))]); err != nil {
			t.Fatal(err)
		}
	}
	if finish {
		if err := tr.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestTrackerClosesAtPause: an utterance comes out once a pause follows
// it, without waiting for the next one or the end of the stream.
func TestTrackerClosesAtPause(t *testing.T) {
	clip := say(t, "Hello I need help with my streaming package today.")
	speech := analyze(t, clip)
	pcm := append(append(quiet(800, 1), clip...), quiet(4000, 2)...)
	const start = 10_000 // a resumed session's offset
	got := runTracker(t, pcm, 600*time.Millisecond, start, false)
	if len(got) != 1 {
		t.Fatalf("got %d utterances before the end of the stream, want 1", len(got))
	}
	u := got[0]
	end := start + 800 + speech.EndMS
	if u.utt.StartMS > start+800+speech.StartMS || u.utt.StartMS < start+800+speech.StartMS-300 || u.utt.EndMS < end || u.utt.EndMS > end+300 {
		t.Errorf("utterance %d-%d ms, speech %d-%d ms", u.utt.StartMS, u.utt.EndMS, start+800+speech.StartMS, end)
	}
	// The pause (600 ms), the probe's margin and a 64 ms block.
	if late := u.at - end; late > 600+probeMargin.Milliseconds()+64+40 {
		t.Errorf("came out %d ms after the speech ended", late)
	}
	if n := int64(len(u.utt.Samples)); n != (u.utt.EndMS-u.utt.StartMS)*8 {
		t.Errorf("%d samples for %d ms", n, u.utt.EndMS-u.utt.StartMS)
	}
}

// TestTrackerKeepsShortPauses: a pause shorter than Pause stays inside
// the utterance, and the utterance after a long pause keeps its start.
func TestTrackerKeepsShortPauses(t *testing.T) {
	// The clips without flite's own silence, so the pauses are as placed.
	trim := func(s []int16) []int16 { sp := analyze(t, s); return s[sp.StartMS*8 : sp.EndMS*8] }
	a := trim(say(t, "My account number is on the letter."))
	b := trim(say(t, "You sent it to me last week."))
	c := trim(say(t, "Can you see it."))
	pcm := concat(quiet(500, 1), a, quiet(300, 2), b, quiet(1500, 3), c, quiet(400, 4))
	got := runTracker(t, pcm, 600*time.Millisecond, 0, true)
	if len(got) != 2 {
		for _, g := range got {
			t.Logf("utterance %d-%d ms", g.utt.StartMS, g.utt.EndMS)
		}
		t.Fatalf("got %d utterances, want 2 (a+b, c)", len(got))
	}
	sa, sb, sc := analyze(t, a), analyze(t, b), analyze(t, c)
	bEnd := int64(500+len(a)/8+300) + sb.EndMS
	cStart := int64(500+len(a)/8+300+len(b)/8+1500) + sc.StartMS
	if got[0].utt.StartMS > 500+sa.StartMS || got[0].utt.EndMS < bEnd {
		t.Errorf("first utterance %d-%d ms, want it to span %d-%d ms", got[0].utt.StartMS, got[0].utt.EndMS, 500+sa.StartMS, bEnd)
	}
	if got[1].utt.StartMS > cStart || got[1].utt.StartMS < cStart-300 {
		t.Errorf("second utterance starts at %d ms, speech at %d ms", got[1].utt.StartMS, cStart)
	}
}

// TestTrackerSilence: line noise alone yields nothing.
func TestTrackerSilence(t *testing.T) {
	if got := runTracker(t, quiet(10_000, 5), 600*time.Millisecond, 0, true); len(got) != 0 {
		t.Errorf("got %d utterances from silence", len(got))
	}
}

func analyze(t *testing.T, pcm []int16) vad.Span {
	t.Helper()
	a, err := vad.NewAnalyzer(mustEnergy(t), vad.Options{Pad: -1})
	if err != nil {
		t.Fatal(err)
	}
	a.WriteSamples(pcm)
	return a.Finish().Speech
}

func concat(parts ...[]int16) []int16 {
	var out []int16
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestGroups joins and filters raw spans as vad.Analyzer does.
func TestGroups(t *testing.T) {
	sp := func(a, b int64) vad.Span { return vad.Span{StartMS: a, EndMS: b} }
	got := groups([]vad.Span{sp(0, 50), sp(100, 200), sp(600, 650), sp(1000, 1400)}, 300, 100)
	want := []vad.Span{sp(0, 200), sp(1000, 1400)}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("groups = %v, want %v", got, want)
	}
}
