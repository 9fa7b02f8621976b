package ctr

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/vmx-dev/vmx/internal/arn"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// FuzzParse checks that Parse never panics, that every item either decodes
// or carries an *Error, that reading the same input a byte at a time gives
// the same items, and that Interpret keeps its promises on whatever decodes.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"ivr.json", "kvs.json", "event.json", "batch.ndjson"} {
		f.Add(readFile(f, name))
	}
	ivr := compact(f, "ivr.json")
	for _, s := range []string{
		"", "{}", "[]", "[{}]", "{\n}", "{\n", "null", `{"Records":[null]}`,
		event(b64(ivr), "@@", b64(ivr+"\n"+ivr)),
		`{"ContactId":"c","Attributes":{"vmx3_flag":"1","vmx3_mode":""},"Recordings":[{"StorageType":"KINESIS_VIDEO_STREAM","FragmentStartNumber":"2","FragmentStopNumber":"1"}]}`,
		`{"ContactId":"a",` + "\n" + ivr,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := Parse(data)
		if err != nil {
			if len(items) != 0 || !(errors.Is(err, ErrEmpty) || errors.Is(err, ErrNotJSON)) {
				t.Fatalf("Parse: %d items and %v", len(items), err)
			}
			return
		}
		for i, it := range items {
			if (it.CTR == nil) == (it.Err == nil) {
				t.Fatalf("item %d: CTR %v, Err %v", i, it.CTR, it.Err)
			}
			if it.Err != nil {
				var e *Error
				if !errors.As(it.Err, &e) || e.Pos != it.Pos || e.Err == nil {
					t.Fatalf("item %d: error %#v", i, it.Err)
				}
				continue
			}
			if it.CTR.ContactID == "" {
				t.Fatalf("item %d: no ContactId", i)
			}
			checkResult(t, Interpret(it.CTR, Config{}))
		}

		r := NewReader(iotest.OneByteReader(bytes.NewReader(data)))
		var streamed []Item
		for {
			it, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("one byte at a time: %v", err)
			}
			streamed = append(streamed, it)
		}
		if got, want := summary(streamed), summary(items); !reflect.DeepEqual(got, want) {
			t.Fatalf("one byte at a time:\n%v\nwhole:\n%v", got, want)
		}
	})
}

func checkResult(t *testing.T, res Result) {
	t.Helper()
	r := res.Request
	switch res.Kind {
	case Voicemail:
		if res.Problems != nil || res.Reason != "" || res.Cause != "" {
			t.Fatalf("voicemail with problems %q", res.Reason)
		}
		if !isE164(r.Caller) || r.Language == "" || r.Mode == "" || r.InstanceID == "" || r.CallTime.IsZero() ||
			(r.Target != "agent" && r.Target != "queue") {
			t.Fatalf("voicemail request %+v", r)
		}
		switch r.Audio.Kind {
		case voicemail.AudioKVS:
			if !arn.IsKinesisVideoStream(r.Audio.StreamARN) || !isFragmentNumber(r.Audio.StartFragment) {
				t.Fatalf("kvs audio %+v", r.Audio)
			}
		case voicemail.AudioS3:
			if r.Audio.Bucket == "" || r.Audio.Key == "" || r.Audio.RecordingStart.IsZero() || r.Audio.VoicemailStart.IsZero() {
				t.Fatalf("s3 audio %+v", r.Audio)
			}
		default:
			t.Fatalf("audio kind %q", r.Audio.Kind)
		}
	case Invalid:
		if len(res.Problems) == 0 || res.Reason == "" || res.Cause != "" {
			t.Fatalf("invalid without problems: %+v", res)
		}
	case Ignored:
		if res.Cause == "" || res.Reason == "" || res.Problems != nil {
			t.Fatalf("ignored without cause: %+v", res)
		}
	default:
		t.Fatalf("kind %v", res.Kind)
	}
}
