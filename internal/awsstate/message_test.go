package awsstate_test

import (
	"strings"
	"testing"

	"github.com/vmx-dev/vmx/internal/awsstate"
	"github.com/vmx-dev/vmx/internal/pipeline"
)

func TestEncodeDecodeJob(t *testing.T) {
	for job, want := range map[pipeline.Job]string{
		pipeline.AudioArgs{ContactID: "c-1", Run: 1}:                      `{"kind":"vmx_audio","args":{"contact_id":"c-1","run":1}}`,
		pipeline.TranscribeArgs{ContactID: "c-2", Run: 2}:                 `{"kind":"vmx_transcribe","args":{"contact_id":"c-2","run":2}}`,
		pipeline.DeliverArgs{ContactID: "c-3", Run: 1, Sink: "email"}:     `{"kind":"vmx_deliver","args":{"contact_id":"c-3","run":1,"sink":"email"}}`,
		pipeline.FinalizeArgs{ContactID: "c-4", Run: 3}:                   `{"kind":"vmx_finalize","args":{"contact_id":"c-4","run":3}}`,
		pipeline.DeliverArgs{ContactID: "\"<&>\u2028", Run: 9, Sink: "w"}: `{"kind":"vmx_deliver","args":{"contact_id":"\"\u003c\u0026\u003e\u2028","run":9,"sink":"w"}}`,
	} {
		body, err := awsstate.EncodeJob(job)
		if err != nil || body != want {
			t.Errorf("EncodeJob(%#v) = %s, %v; want %s", job, body, err, want)
		}
		got, err := awsstate.DecodeMessage(body)
		if err != nil || got != job {
			t.Errorf("DecodeMessage(%s) = %#v, %v; want %#v", body, got, err, job)
		}
	}
	if _, err := awsstate.EncodeJob(nil); err == nil {
		t.Error("EncodeJob(nil) succeeded")
	}
}

func TestDecodeMessageRefuses(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"", "awsstate: message is not a step: unexpected end of JSON input"},
		{"hello", "awsstate: message is not a step: invalid character 'h'"},
		{`["vmx_audio"]`, "awsstate: message is not a step: json: cannot unmarshal array"},
		{`{"kind":"vmx_audio","args":{"contact_id":"c","run":1}} x`, "awsstate: message is not a step: invalid character 'x' after top-level value"},
		{`{"args":{"contact_id":"c","run":1}}`, `awsstate: message is not a step: no "kind"`},
		{`{"kind":7,"args":{}}`, "awsstate: message is not a step: json: cannot unmarshal number"},
		{`{"kind":"vmx_audio"}`, `awsstate: vmx_audio message has no "args"`},
		{`{"kind":"vmx_audio","args":null}`, `awsstate: vmx_audio message has no "args"`},
		{`{"kind":"vmx_retention","args":{}}`, `awsstate: pipeline: unknown job kind "vmx_retention"`},
		{`{"kind":"vmx_audio","args":"c"}`, "awsstate: pipeline: job vmx_audio: json: cannot unmarshal string"},
		{`{"kind":"vmx_audio","args":{"contact_id":"c","run":"1"}}`, "awsstate: pipeline: job vmx_audio: json: cannot unmarshal string"},
		{`{"kind":"vmx_deliver","args":{"run":1,"sink":"email"}}`, "awsstate: pipeline: job vmx_deliver: contact_id and run are required"},
		{`{"kind":"vmx_finalize","args":{"contact_id":"c","run":0}}`, "awsstate: pipeline: job vmx_finalize: contact_id and run are required"},
	} {
		job, err := awsstate.DecodeMessage(tc.body)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("DecodeMessage(%q) = %#v, %v; want an error starting %q", tc.body, job, err, tc.want)
		}
	}
}

// Whatever a body holds, DecodeMessage either refuses it or returns a
// step that travels unchanged.
func FuzzDecodeMessage(f *testing.F) {
	for _, seed := range []string{
		`{"kind":"vmx_audio","args":{"contact_id":"c-1","run":1}}`,
		`{"kind":"vmx_deliver","args":{"contact_id":"c-3","run":1,"sink":"email"}}`,
		`{"kind":"vmx_transcribe","args":{"contact_id":"c","run":2,"extra":[1,{"a":null}]}}`,
		`{"KIND":"vmx_finalize","ARGS":{"CONTACT_ID":"c","RUN":1}}`,
		`{"kind":"vmx_audio","args":{"contact_id":"c","run":1e2}}`,
		`{"kind":"vmx_audio","args":{"contact_id":"c","run":-1}}`,
		`{"kind":"vmx_audio","args":null}`,
		`{"kind":"","args":{}}`,
		`{"kind":"vmx_deliver","args":{"contact_id":"\ud800","run":1,"sink":"\u0000"}}`,
		`[]`, `null`, `"x"`, ``,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		job, err := awsstate.DecodeMessage(body)
		if err != nil {
			if job != nil {
				t.Fatalf("DecodeMessage(%q) returned %#v with error %v", body, job, err)
			}
			return
		}
		again, err := awsstate.EncodeJob(job)
		if err != nil {
			t.Fatalf("EncodeJob(%#v): %v", job, err)
		}
		back, err := awsstate.DecodeMessage(again)
		if err != nil || back != job {
			t.Fatalf("%q decoded to %#v, re-encoded as %s, decoded to %#v, %v", body, job, again, back, err)
		}
	})
}
