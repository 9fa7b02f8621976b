package asr

import (
	"context"
	"encoding/json"
	"testing"
)

func TestTranscribeJSONShape(t *testing.T) {
	r := &Result{Text: "call me back", Engine: "pocketsphinx", AudioMS: 5000, SpeechMS: 1200,
		Segments: []Segment{{StartMS: 1000, EndMS: 2200, Text: "call me back", Confidence: 0.8}}}
	b, err := r.TranscribeJSON("vmx_c1")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		JobName string `json:"jobName"`
		Results struct {
			Transcripts []struct{ Transcript string } `json:"transcripts"`
			Items       []struct {
				Type         string `json:"type"`
				StartTime    string `json:"start_time"`
				EndTime      string `json:"end_time"`
				Alternatives []struct{ Content, Confidence string }
			} `json:"items"`
		} `json:"results"`
		VMX struct {
			Engine   string `json:"engine"`
			SpeechMS int64  `json:"speech_ms"`
		} `json:"vmx"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	it := doc.Results.Items
	if doc.JobName != "vmx_c1" || doc.Results.Transcripts[0].Transcript != "call me back" || len(it) != 3 ||
		it[0].StartTime != "1.000" || it[2].EndTime != "2.200" || it[1].Alternatives[0].Content != "me" ||
		it[1].Alternatives[0].Confidence != "0.8000" || doc.VMX.Engine != "pocketsphinx" || doc.VMX.SpeechMS != 1200 {
		t.Fatalf("document %s", b)
	}
}

func TestNone(t *testing.T) {
	r, err := None{}.Transcribe(context.Background(), Audio{}, Options{})
	if err != nil || r.Text != "" || r.Engine != "none" || r.Empty {
		t.Fatalf("%+v %v", r, err)
	}
}
