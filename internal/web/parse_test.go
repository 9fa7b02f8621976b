package web

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/asr"
)

func TestParseSearch(t *testing.T) {
	for in, want := range map[string][]string{
		"":                                   nil,
		"  call   back ":                     {"call", "back"},
		`"call me back" invoice`:             {"call me back", "invoice"},
		`"  spaced   out "`:                  {"spaced out"},
		`unclosed "quote here`:               {"unclosed", "quote here"},
		`""`:                                 nil,
		"1 2 3 4 5 6 7 8 9 10":               {"1", "2", "3", "4", "5", "6", "7", "8"},
		`100% r_i \`:                         {"100%", "r_i", `\`},
		"a\"b\"c":                            {"a", "b", "c"},
		"tab\tand\nnewline":                  {"tab", "and", "newline"},
		"\"quoted\"\"adjacent\" words here ": {"quoted", "adjacent", "words", "here"},
	} {
		if got := parseSearch(in); !slices.Equal(got, want) {
			t.Errorf("parseSearch(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseSearch(f *testing.F) {
	for _, s := range []string{"", "call back", `"call me" back`, `"`, `a"b`, "100% _x_ \\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		terms := parseSearch(s)
		if len(terms) > maxSearchTerms {
			t.Fatalf("%d terms", len(terms))
		}
		for _, term := range terms {
			if term == "" || strings.Contains(term, `"`) || term != strings.TrimSpace(term) {
				t.Fatalf("term %q of %q", term, s)
			}
			// Every word of a term is a word of the search.
			for _, w := range strings.Fields(term) {
				if !strings.Contains(s, w) {
					t.Fatalf("word %q not in %q", w, s)
				}
			}
		}
	})
}

func TestParseSegments(t *testing.T) {
	doc, err := (&asr.Result{Text: "hi there bye", Engine: "test", Segments: []asr.Segment{
		{StartMS: 100, EndMS: 900, Text: "hi there", Confidence: 0.9},
		{StartMS: 1000, EndMS: 1000, Text: "", Confidence: -1},
		{StartMS: 1500, EndMS: 2100, Text: "bye", Confidence: -1},
	}}).TranscribeJSON("vmx_c1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseSegments(strings.NewReader(string(doc)))
	if err != nil {
		t.Fatal(err)
	}
	want := []Segment{{100, 900, "hi there"}, {1500, 2100, "bye"}}
	if !slices.Equal(got, want) {
		t.Fatalf("segments %+v, want %+v", got, want)
	}
	if s, e := formatSeconds(got[1].StartMS), formatSeconds(got[1].EndMS); s != "1.500" || e != "2.100" {
		t.Fatalf("seconds %s %s", s, e)
	}
	for _, bad := range []string{"", "{", `{"vmx":{"segments":{}}}`, strings.Repeat(" ", maxTranscriptBytes+1)} {
		if _, err := parseSegments(strings.NewReader(bad)); err == nil {
			t.Errorf("document %.20q accepted", bad)
		}
	}
	// Amazon Transcribe's own output, without vmx's fields, has no segments.
	if got, err := parseSegments(strings.NewReader(`{"results":{"transcripts":[{"transcript":"x"}]}}`)); err != nil || got != nil {
		t.Fatalf("Transcribe output: %+v %v", got, err)
	}
}

func FuzzParseSegments(f *testing.F) {
	f.Add(`{"vmx":{"segments":[{"start_ms":100,"end_ms":900,"text":"hi"}]}}`)
	f.Add(`{"vmx":{"segments":[{"start_ms":-5,"end_ms":-9,"text":"odd"}]}}`)
	f.Add(`{"vmx":{"segments":null}}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, doc string) {
		segs, err := parseSegments(strings.NewReader(doc))
		if err != nil {
			return
		}
		for _, s := range segs {
			if s.Text == "" || s.StartMS < 0 || s.EndMS < s.StartMS {
				t.Fatalf("segment %+v from %q", s, doc)
			}
		}
	})
}

func TestLimiter(t *testing.T) {
	l := newLimiter(3, time.Minute)
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i := range 3 {
		if w := l.wait("amy", t0); w != 0 {
			t.Fatalf("attempt %d must wait %s", i+1, w)
		}
		l.fail("amy", t0.Add(time.Duration(i)*time.Second))
	}
	if w := l.wait("amy", t0.Add(10*time.Second)); w != 50*time.Second {
		t.Fatalf("wait %s, want 50s", w)
	}
	if w := l.wait("bob", t0); w != 0 {
		t.Fatalf("bob waits %s", w)
	}
	if w := l.wait("amy", t0.Add(time.Minute)); w != 0 {
		t.Fatalf("after the window: %s", w)
	}
	// Failures spread over more than a window never lock out.
	for i := range 6 {
		l.fail("cy", t0.Add(time.Duration(i)*40*time.Second))
	}
	if w := l.wait("cy", t0.Add(200*time.Second)); w != 0 {
		t.Fatalf("spread failures: wait %s", w)
	}
	l.fail("dee", t0)
	l.fail("dee", t0)
	l.reset("dee")
	l.fail("dee", t0)
	l.fail("dee", t0)
	if w := l.wait("dee", t0); w != 0 {
		t.Fatalf("after a reset: wait %s", w)
	}
}

func TestFormat(t *testing.T) {
	for ms, want := range map[int64]string{0: "0:00", 499: "0:00", 500: "0:01", 65_000: "1:05", 3_725_000: "1:02:05", -5: "0:00"} {
		if got := formatDuration(ms); got != want {
			t.Errorf("formatDuration(%d) = %q, want %q", ms, got, want)
		}
	}
	for ms, want := range map[int64]string{999: "0:00", 1000: "0:01", 61_500: "1:01"} {
		if got := formatClock(ms); got != want {
			t.Errorf("formatClock(%d) = %q, want %q", ms, got, want)
		}
	}
	for in, want := range map[string]string{"+15555550100": "tel:+15555550100", "5550100": "tel:5550100", "anonymous": "", "+1 555": "", "12": "",
		"javascript:alert(1)": ""} {
		if got := string(telURL(in)); got != want {
			t.Errorf("telURL(%q) = %q, want %q", in, got, want)
		}
	}
	if got := snippet("one two three four five", 12); got != "one two…" {
		t.Errorf("snippet %q", got)
	}
	if got := snippet("short", 12); got != "short" {
		t.Errorf("snippet %q", got)
	}
	for _, next := range []string{"/", "/voicemails/x?y=1"} {
		if !localRedirect(next) {
			t.Errorf("localRedirect(%q) = false", next)
		}
	}
	for _, next := range []string{"", "//evil", `/\evil`, "https://evil", "/x\r\nSet-Cookie: a=b"} {
		if localRedirect(next) {
			t.Errorf("localRedirect(%q) = true", next)
		}
	}
}
