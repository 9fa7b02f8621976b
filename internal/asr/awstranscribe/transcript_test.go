package awstranscribe

import (
	"strings"
	"testing"

	"github.com/vmx-dev/vmx/internal/asr"
)

func TestParseTranscript(t *testing.T) {
	tests := map[string]struct {
		doc  string
		want *asr.Result
	}{
		"audio segments": {`{"results":{"transcripts":[{"transcript":"Hello there. Bye."}],
			"items":[
			 {"id":0,"type":"pronunciation","start_time":"0.10","end_time":"0.40","alternatives":[{"confidence":"0.5","content":"Hello"}]},
			 {"id":1,"type":"pronunciation","start_time":"0.40","end_time":"0.90","alternatives":[{"confidence":"0.9","content":"there"}]},
			 {"id":2,"type":"punctuation","alternatives":[{"confidence":"0.0","content":"."}]},
			 {"id":3,"type":"pronunciation","start_time":"2.0","end_time":"2.25","alternatives":[{"content":"Bye"}]}],
			"audio_segments":[
			 {"id":0,"transcript":"Hello there.","start_time":"0.0","end_time":"1.0","items":[0,1,2]},
			 {"id":1,"transcript":"Bye.","start_time":"1.9","end_time":"2.3","items":[3,99]}]}}`,
			&asr.Result{Text: "Hello there. Bye.", Engine: "aws", SpeechMS: 1400, Segments: []asr.Segment{
				{StartMS: 0, EndMS: 1000, Text: "Hello there.", Confidence: 0.7},
				{StartMS: 1900, EndMS: 2300, Text: "Bye.", Confidence: -1},
			}}},
		"pause splits": {`{"results":{"transcripts":[{"transcript":"one two"}],"items":[
			 {"type":"pronunciation","start_time":"0.0","end_time":"0.5","alternatives":[{"confidence":"1","content":"one"}]},
			 {"type":"pronunciation","start_time":"2.0","end_time":"2.5","alternatives":[{"confidence":"0.5","content":"two"}]}]}}`,
			&asr.Result{Text: "one two", Engine: "aws", SpeechMS: 1000, Segments: []asr.Segment{
				{StartMS: 0, EndMS: 500, Text: "one", Confidence: 1},
				{StartMS: 2000, EndMS: 2500, Text: "two", Confidence: 0.5},
			}}},
		"leading punctuation and clamped confidence": {`{"results":{"transcripts":[{"transcript":"yes"}],"items":[
			 {"type":"punctuation","alternatives":[{"content":","}]},
			 {"type":"pronunciation","start_time":"1","end_time":"1.5","alternatives":[{"confidence":"1.5","content":"yes"}]}]}}`,
			&asr.Result{Text: "yes", Engine: "aws", SpeechMS: 500, Segments: []asr.Segment{
				{StartMS: 1000, EndMS: 1500, Text: "yes", Confidence: 1},
			}}},
		"silence": {`{"jobName":"vmx_c1","results":{"transcripts":[{"transcript":""}],"items":[]}}`,
			&asr.Result{Engine: "aws", Empty: true, Segments: []asr.Segment{}}},
		"no transcripts": {`{"results":{}}`, &asr.Result{Engine: "aws", Empty: true, Segments: []asr.Segment{}}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseTranscript([]byte(tt.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !sameResult(got, tt.want) {
				t.Errorf("parseTranscript\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseTranscriptRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":       `{"results":`,
		"bad time":       `{"results":{"items":[{"type":"pronunciation","start_time":"x","end_time":"1","alternatives":[{"content":"a"}]}]}}`,
		"negative time":  `{"results":{"items":[{"type":"pronunciation","start_time":"-1","end_time":"1","alternatives":[{"content":"a"}]}]}}`,
		"nan":            `{"results":{"items":[{"type":"pronunciation","start_time":"NaN","end_time":"1","alternatives":[{"content":"a"}]}]}}`,
		"bad confidence": `{"results":{"items":[{"type":"pronunciation","start_time":"0","end_time":"1","alternatives":[{"confidence":"high","content":"a"}]}]}}`,
		"bad segment":    `{"results":{"audio_segments":[{"start_time":"a","end_time":"1"}]}}`,
		"too large":      `{"results":{"transcripts":[{"transcript":"` + strings.Repeat("a", maxTranscript) + `"}]}}`,
	} {
		if _, err := parseTranscript([]byte(doc)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}
