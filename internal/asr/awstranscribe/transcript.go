package awstranscribe

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vmx-dev/vmx/internal/asr"
)

// maxTranscript bounds the transcript document read: a long voicemail's
// is a few hundred kilobytes.
const maxTranscript = 32 << 20

// segmentGap is the pause between two words that starts a new segment when
// the transcript has no audio_segments.
const segmentGap = 1500 // ms

// transcriptDoc is the part of Transcribe's output document vmx reads.
type transcriptDoc struct {
	Results struct {
		LanguageCode string `json:"language_code"`
		Transcripts  []struct {
			Transcript string `json:"transcript"`
		} `json:"transcripts"`
		Items         []transcriptItem `json:"items"`
		AudioSegments []struct {
			Transcript string `json:"transcript"`
			StartTime  string `json:"start_time"`
			EndTime    string `json:"end_time"`
			Items      []int  `json:"items"`
		} `json:"audio_segments"`
	} `json:"results"`
}

type transcriptItem struct {
	ID           *int   `json:"id"`
	Type         string `json:"type"` // pronunciation or punctuation
	StartTime    string `json:"start_time"`
	EndTime      string `json:"end_time"`
	Alternatives []struct {
		Confidence string `json:"confidence"`
		Content    string `json:"content"`
	} `json:"alternatives"`
}

// word is an item with its times and confidence read.
type word struct {
	text        string
	punctuation bool
	startMS     int64
	endMS       int64
	confidence  float64 // -1 when absent
}

// parseTranscript turns a Transcribe output document into a Result:
// Text from results.transcripts[0], segments from results.audio_segments
// when present, otherwise from results.items split at sentence ends and
// pauses, each with the mean confidence of its words.
func parseTranscript(b []byte) (*asr.Result, error) {
	if len(b) > maxTranscript {
		return nil, fmt.Errorf("transcript larger than %d bytes", maxTranscript)
	}
	var doc transcriptDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decode transcript: %w", err)
	}
	res := &asr.Result{Engine: Name, Segments: []asr.Segment{}}
	if len(doc.Results.Transcripts) > 0 {
		res.Text = doc.Results.Transcripts[0].Transcript
	}
	words := make([]word, 0, len(doc.Results.Items))
	byID := map[int]int{}
	for i, it := range doc.Results.Items {
		w, err := readItem(it)
		if err != nil {
			return nil, fmt.Errorf("transcript item %d: %w", i, err)
		}
		if it.ID != nil {
			byID[*it.ID] = len(words)
		}
		words = append(words, w)
	}
	if len(doc.Results.AudioSegments) > 0 {
		for i, s := range doc.Results.AudioSegments {
			start, err1 := parseSeconds(s.StartTime)
			end, err2 := parseSeconds(s.EndTime)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("transcript audio segment %d: times %q, %q", i, s.StartTime, s.EndTime)
			}
			var seg []word
			for _, id := range s.Items {
				if k, ok := byID[id]; ok {
					seg = append(seg, words[k])
				}
			}
			res.Segments = append(res.Segments, asr.Segment{StartMS: start, EndMS: end,
				Text: strings.TrimSpace(s.Transcript), Confidence: meanConfidence(seg)})
		}
	} else {
		res.Segments = segments(words)
	}
	for _, s := range res.Segments {
		res.SpeechMS += max(0, s.EndMS-s.StartMS)
	}
	res.Empty = strings.TrimSpace(res.Text) == ""
	return res, nil
}

func readItem(it transcriptItem) (word, error) {
	w := word{punctuation: it.Type == "punctuation", confidence: -1}
	if len(it.Alternatives) > 0 {
		w.text = it.Alternatives[0].Content
		if c := it.Alternatives[0].Confidence; c != "" && !w.punctuation {
			f, err := strconv.ParseFloat(c, 64)
			if err != nil || math.IsNaN(f) {
				return word{}, fmt.Errorf("confidence %q", c)
			}
			w.confidence = min(1, max(0, f))
		}
	}
	if w.punctuation {
		return w, nil
	}
	var err1, err2 error
	w.startMS, err1 = parseSeconds(it.StartTime)
	w.endMS, err2 = parseSeconds(it.EndTime)
	if err1 != nil || err2 != nil {
		return word{}, fmt.Errorf("times %q, %q", it.StartTime, it.EndTime)
	}
	return w, nil
}

// parseSeconds reads Transcribe's "1.234" seconds as milliseconds.
func parseSeconds(s string) (int64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(f) || f < 0 || f > 1e9 {
		return 0, fmt.Errorf("time %q out of range", s)
	}
	return int64(math.Round(f * 1000)), nil
}

// segments groups words into utterances: a new one after a sentence end
// (. ? !) or a pause of segmentGap.
func segments(words []word) []asr.Segment {
	segs := []asr.Segment{}
	var (
		cur  []word
		text strings.Builder
	)
	flush := func() {
		if text.Len() > 0 {
			var start, end int64 = -1, 0
			for _, w := range cur {
				if !w.punctuation {
					if start < 0 {
						start = w.startMS
					}
					end = w.endMS
				}
			}
			segs = append(segs, asr.Segment{StartMS: max(start, 0), EndMS: end, Text: text.String(),
				Confidence: meanConfidence(cur)})
		}
		cur = cur[:0]
		text.Reset()
	}
	lastEnd := int64(-1)
	for _, w := range words {
		if w.punctuation {
			if text.Len() == 0 {
				continue // punctuation before any word
			}
			text.WriteString(w.text)
			cur = append(cur, w)
			if w.text == "." || w.text == "?" || w.text == "!" {
				flush()
			}
			continue
		}
		if lastEnd >= 0 && w.startMS-lastEnd >= segmentGap {
			flush()
		}
		if text.Len() > 0 {
			text.WriteByte(' ')
		}
		text.WriteString(w.text)
		cur = append(cur, w)
		lastEnd = w.endMS
	}
	flush()
	return segs
}

// meanConfidence is the mean confidence of the words that have one, or -1.
func meanConfidence(ws []word) float64 {
	var (
		sum float64
		n   int
	)
	for _, w := range ws {
		if !w.punctuation && w.confidence >= 0 {
			sum += w.confidence
			n++
		}
	}
	if n == 0 {
		return -1
	}
	return sum / float64(n)
}
