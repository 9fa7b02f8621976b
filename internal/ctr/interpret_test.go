package ctr

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/voicemail"
)

const (
	instanceID  = "11111111-2222-3333-4444-555555555555"
	instanceARN = "arn:aws:connect:us-east-1:123456789012:instance/" + instanceID
	queueARN    = instanceARN + "/queue/66666666-7777-8888-9999-000000000000"
	agentID     = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	agentQueue  = instanceARN + "/queue/agent/" + agentID
	streamARN   = "arn:aws:kinesisvideo:us-east-1:123456789012:stream/myprefix-connect-myalias-contact-d16c84ac-b26c-4175-881d-e75142397d56/1736282293468"
	ivrKey      = "connect/myalias/CallRecordings/2025/09/12/8f0c2d3e-5b1a-4c7e-9d21-3a7c1e6f0b42_20250912T15:04_UTC.wav"
	fragStart   = "91343852333181432392682062622220590765191907586"
	fragStop    = "91343852333181432411887519452347049843745335553"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// load parses a testdata file holding one contact record.
func load(t testing.TB, name string) *CTR {
	t.Helper()
	items, err := Parse(readFile(t, name))
	if err != nil || len(items) != 1 || items[0].Err != nil {
		t.Fatalf("%s: %v, %+v", name, err, items)
	}
	return items[0].CTR
}

// reprefix returns a copy of c whose attributes under prefix from are
// moved to prefix to: the same record from another VMX generation.
func reprefix(c *CTR, from, to string) *CTR {
	d := clone(c)
	d.Attributes = map[string]string{}
	for k, v := range c.Attributes {
		if rest, ok := strings.CutPrefix(k, from); ok {
			k = to + rest
		}
		d.Attributes[k] = v
	}
	return d
}

func clone(c *CTR) *CTR {
	d := *c
	d.Attributes = maps.Clone(c.Attributes)
	if c.Recordings != nil {
		d.Recordings = slices.Clone(c.Recordings)
	}
	return &d
}

// ivrRequest is the request of testdata/ivr.json under prefix p.
func ivrRequest(c *CTR, p string) voicemail.Request {
	return voicemail.Request{
		ContactID:  ivrContact,
		InstanceID: instanceID,
		Prefix:     p,
		QueueARN:   queueARN,
		Target:     "agent",
		Preferred:  "jdoe",
		Caller:     "+15555551212",
		Language:   "en-US",
		Mode:       "guided_task",
		CallTime:   ts("2025-09-12T15:03:39Z"),
		Attributes: c.Attributes,
		Audio: voicemail.AudioSource{
			Kind:           voicemail.AudioS3,
			Bucket:         "amazon-connect-1a2b3c4d5e6f",
			Key:            ivrKey,
			RecordingStart: ts("2025-09-12T15:04:10Z"),
			VoicemailStart: ts("2025-09-12T15:04:12Z"),
		},
	}
}

// kvsRequest is the request of testdata/kvs.json under prefix p.
func kvsRequest(c *CTR, p string) voicemail.Request {
	return voicemail.Request{
		ContactID:  kvsContact,
		InstanceID: instanceID,
		Prefix:     p,
		QueueARN:   agentQueue,
		AgentID:    agentID,
		Target:     "agent",
		Caller:     "+15555550123",
		Language:   "es-US",
		Mode:       "task",
		CallTime:   ts("2024-07-18T19:09:30Z"),
		Attributes: c.Attributes,
		Audio: voicemail.AudioSource{
			Kind:          voicemail.AudioKVS,
			StreamARN:     streamARN,
			StartFragment: fragStart,
			StopFragment:  fragStop,
			StartTime:     ts("2024-07-18T19:10:02Z"),
			StopTime:      ts("2024-07-18T19:11:05Z"),
		},
	}
}

func checkVoicemail(t *testing.T, res Result, want voicemail.Request) {
	t.Helper()
	if res.Kind != Voicemail || res.Reason != "" || res.Problems != nil || res.Cause != "" {
		t.Fatalf("%v: cause %q reason %q", res.Kind, res.Cause, res.Reason)
	}
	if !reflect.DeepEqual(res.Request, want) {
		t.Errorf("request\n%+v\nwant\n%+v", res.Request, want)
	}
}

// Both example records of the spec, under each generation's prefix.
func TestInterpretGenerations(t *testing.T) {
	ivr, kvs := load(t, "ivr.json"), load(t, "kvs.json")
	for _, p := range DefaultPrefixes() {
		t.Run("ivr "+p, func(t *testing.T) {
			c := reprefix(ivr, "vmx3_", p)
			checkVoicemail(t, Interpret(c, Config{}), ivrRequest(c, p))
		})
		t.Run("kvs "+p, func(t *testing.T) {
			c := reprefix(kvs, "vmx_", p)
			checkVoicemail(t, Interpret(c, Config{}), kvsRequest(c, p))
		})
	}
}

// Every item of the intake examples goes through Interpret.
func TestInterpretIntake(t *testing.T) {
	for _, name := range []string{"event.json", "batch.ndjson"} {
		items, err := Parse(readFile(t, name))
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, it := range items {
			if it.Err != nil {
				counts["error"]++
				continue
			}
			res := Interpret(it.CTR, DefaultConfig())
			counts[res.Kind.String()]++
			if res.Kind == Ignored {
				counts[res.Cause]++
			}
		}
		want := map[string]int{"error": 2, "voicemail": 2, "ignored": 2, CauseFlagOff: 1, CauseNoFlag: 1}
		if name == "batch.ndjson" {
			want = map[string]int{"error": 1, "voicemail": 2, "ignored": 1, CauseNoFlag: 1}
		}
		if !maps.Equal(counts, want) {
			t.Errorf("%s: %v, want %v", name, counts, want)
		}
	}
}

func TestInterpretIgnored(t *testing.T) {
	ivr := load(t, "ivr.json")
	tests := []struct {
		name   string
		edit   func(c *CTR)
		cfg    Config
		cause  string
		reason string
	}{
		{"flag 0", func(c *CTR) { c.Attributes["vmx3_flag"] = "0" }, Config{}, CauseFlagOff, `vmx3_flag is "0", not "1"`},
		{"flag true", func(c *CTR) { c.Attributes["vmx3_flag"] = "true" }, Config{}, CauseFlagOff, `vmx3_flag is "true", not "1"`},
		{"flag with space", func(c *CTR) { c.Attributes["vmx3_flag"] = " 1" }, Config{}, CauseFlagOff, `vmx3_flag is " 1"`},
		{"flag empty", func(c *CTR) { c.Attributes["vmx3_flag"] = "" }, Config{}, CauseFlagOff, `vmx3_flag is ""`},
		{"flag missing", func(c *CTR) { delete(c.Attributes, "vmx3_flag") }, Config{}, CauseNoFlag, "no vmx3_flag, vmx_flag or vm_flag attribute"},
		{"no attributes", func(c *CTR) { c.Attributes = nil }, Config{}, CauseNoFlag, "no vmx3_flag, vmx_flag or vm_flag attribute"},
		{"unprefixed flag", func(c *CTR) { c.Attributes = map[string]string{"flag": "1", "vmx3flag": "1"} }, Config{}, CauseNoFlag, "no vmx3_flag"},
		{"task", func(c *CTR) { c.Channel = "TASK" }, Config{}, CauseChannel, `vmx3_flag is "1" but the contact's channel is TASK, not VOICE`},
		{"answered", func(c *CTR) { c.Agent = &Agent{Username: "jdoe"} }, Config{}, CauseAnswered, `vmx3_flag is "1" but agent jdoe joined the contact`},
		{"answered anonymous", func(c *CTR) { c.Agent = &Agent{} }, Config{}, CauseAnswered, "but an agent joined"},
		{"only vmx3_ accepted", func(c *CTR) { *c = *reprefix(c, "vmx3_", "vmx_") }, Config{Prefixes: []string{"vmx3_"}}, CauseNoFlag, "no vmx3_flag attribute"},
		{"only vm_ and vmx_ accepted", func(*CTR) {}, Config{Prefixes: []string{"vm_", "vmx_"}}, CauseNoFlag, "no vm_flag or vmx_flag attribute"},
	}
	counts := map[string]int{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clone(ivr)
			tt.edit(c)
			res := Interpret(c, tt.cfg)
			counts[res.Cause]++
			if res.Kind != Ignored || res.Cause != tt.cause || !strings.Contains(res.Reason, tt.reason) || res.Problems != nil {
				t.Errorf("%v cause %q reason %q, want ignored %q %q", res.Kind, res.Cause, res.Reason, tt.cause, tt.reason)
			}
			if res.Request.ContactID != ivrContact || res.Request.Caller != "" || res.Request.Attributes != nil {
				t.Errorf("request %+v", res.Request)
			}
			if wantPrefix := map[bool]string{true: "vmx3_", false: ""}[tt.cause != CauseNoFlag]; res.Request.Prefix != wantPrefix {
				t.Errorf("prefix %q, want %q", res.Request.Prefix, wantPrefix)
			}
		})
	}
	want := map[string]int{CauseFlagOff: 4, CauseNoFlag: 5, CauseChannel: 1, CauseAnswered: 2}
	if !maps.Equal(counts, want) {
		t.Errorf("counts %v, want %v", counts, want)
	}

	c := clone(ivr)
	c.Agent = &Agent{Username: "jdoe"}
	checkVoicemail(t, Interpret(c, Config{AcceptAnswered: true}), ivrRequest(c, "vmx3_"))
}

func TestInterpretPrefixes(t *testing.T) {
	ivr := load(t, "ivr.json")
	both := clone(ivr) // VMX3 and VMX2 flags on one record
	both.Attributes["vmx_flag"] = "1"
	both.Attributes["vmx_from"] = "+442071838750"
	both.Attributes["vmx_timestamp"] = "2025-09-12T15:04:11Z"
	tests := []struct {
		name     string
		c        *CTR
		prefixes []string
		kind     Kind
		prefix   string
		caller   string
	}{
		{"default precedence", both, nil, Voicemail, "vmx3_", "+15555551212"},
		{"configured precedence", both, []string{"vmx_", "vmx3_"}, Voicemail, "vmx_", "+442071838750"},
		{"only vmx_", both, []string{"vmx_"}, Voicemail, "vmx_", "+442071838750"},
		{"custom prefix", reprefix(ivr, "vmx3_", "acme_vm_"), []string{"vmx3_", "acme_vm_"}, Voicemail, "acme_vm_", "+15555551212"},
		{"custom prefix not accepted", reprefix(ivr, "vmx3_", "acme_vm_"), nil, Ignored, "", ""},
		{"vm_ record", reprefix(ivr, "vmx3_", "vm_"), nil, Voicemail, "vm_", "+15555551212"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := Interpret(tt.c, Config{Prefixes: tt.prefixes})
			if res.Kind != tt.kind || res.Request.Prefix != tt.prefix || res.Request.Caller != tt.caller {
				t.Errorf("%v prefix %q caller %q (%s), want %v %q %q", res.Kind, res.Request.Prefix, res.Request.Caller, res.Reason, tt.kind, tt.prefix, tt.caller)
			}
		})
	}

	// The first accepted prefix with a flag decides, even when its flag is
	// off and an older generation's is on.
	off := clone(both)
	off.Attributes["vmx3_flag"] = "0"
	if res := Interpret(off, Config{}); res.Kind != Ignored || res.Cause != CauseFlagOff || res.Request.Prefix != "vmx3_" {
		t.Errorf("vmx3_flag 0, vmx_flag 1: %v %q %q", res.Kind, res.Cause, res.Request.Prefix)
	}
	if res := Interpret(off, Config{Prefixes: []string{"vmx_", "vmx3_"}}); res.Kind != Voicemail || res.Request.Prefix != "vmx_" {
		t.Errorf("vmx_ first: %v %q", res.Kind, res.Reason)
	}
}

// A voicemail is kept whatever the caller's number: a withheld or
// malformed one makes the caller unknown, not the voicemail invalid.
func TestInterpretCaller(t *testing.T) {
	ivr := load(t, "ivr.json")
	endpoint := ivr.CustomerEndpoint.Address
	for _, tt := range []struct {
		name, from, endpoint, want string
	}{
		{"from", "+15555550123", endpoint, "+15555550123"},
		{"from written with spaces", "+1 555 555 0123", endpoint, "+15555550123"},
		{"from written with dashes and parentheses", "+1 (555) 555-0123", "", "+15555550123"},
		{"from missing: the endpoint", "", endpoint, endpoint},
		{"from not E.164: the endpoint", "12345", endpoint, endpoint},
		{"neither E.164", "5551212", "5551212", ""},
		{"anonymous caller", "", "anonymous", ""},
		{"no caller at all", "", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := clone(ivr)
			c.Attributes["vmx3_from"], c.CustomerEndpoint.Address = tt.from, tt.endpoint
			res := Interpret(c, Config{})
			if res.Kind != Voicemail || res.Request.Caller != tt.want {
				t.Errorf("%v (%s), caller %q; want a voicemail from %q", res.Kind, res.Reason, res.Request.Caller, tt.want)
			}
			if res.Request.Attributes["vmx3_from"] != tt.from {
				t.Errorf("vmx3_from attribute %q, want it kept as %q", res.Request.Attributes["vmx3_from"], tt.from)
			}
		})
	}
}

func TestInterpretInvalid(t *testing.T) {
	ivr, kvs := load(t, "ivr.json"), load(t, "kvs.json")
	tests := []struct {
		name string
		base *CTR
		edit func(c *CTR)
		cfg  Config
		want []string // the problems, in order
	}{
		{"queue ARN", ivr, func(c *CTR) { c.Attributes["vmx3_queue_arn"] = "x" }, Config{},
			[]string{`vmx3_queue_arn "x" is not an Amazon Connect queue ARN`}},
		{"queue ARN of an instance", ivr, func(c *CTR) { c.Attributes["vmx3_queue_arn"] = instanceARN }, Config{},
			[]string{`vmx3_queue_arn "` + instanceARN + `" is not an Amazon Connect queue ARN`}},
		{"queue ARN of a flow", ivr, func(c *CTR) { c.Attributes["vmx3_queue_arn"] = instanceARN + "/contact-flow/abc" }, Config{},
			[]string{`is not an Amazon Connect queue ARN`}},
		{"queue ARN bad account", ivr, func(c *CTR) {
			c.Attributes["vmx3_queue_arn"] = strings.Replace(queueARN, "123456789012", "YOURACCOUNT", 1)
		}, Config{},
			[]string{`is not an Amazon Connect queue ARN`}},
		{"Queue.ARN", ivr, func(c *CTR) {
			delete(c.Attributes, "vmx3_queue_arn")
			c.Queue.ARN = "arn:aws:sqs:us-east-1:123456789012:q"
		}, Config{},
			[]string{`Queue.ARN "arn:aws:sqs:us-east-1:123456789012:q" is not an Amazon Connect queue ARN`}},
		{"default queue ARN", ivr, func(c *CTR) { delete(c.Attributes, "vmx3_queue_arn") }, Config{QueueARN: "queue-1"},
			[]string{`the default queue ARN "queue-1" is not an Amazon Connect queue ARN`}},
		{"queue of another instance", ivr, func(c *CTR) {
			c.Attributes["vmx3_queue_arn"] = "arn:aws:connect:us-east-1:123456789012:instance/99999999-2222-3333-4444-555555555555/queue/q1"
		}, Config{}, []string{"vmx3_queue_arn is in instance 99999999-2222-3333-4444-555555555555 but the contact is in instance " + instanceID}},
		{"instance ARN", ivr, func(c *CTR) { c.InstanceARN = "instance-1" }, Config{},
			[]string{`InstanceARN "instance-1" is not an Amazon Connect instance ARN`}},
		{"no instance", ivr, func(c *CTR) { delete(c.Attributes, "vmx3_queue_arn"); c.InstanceARN = "" }, Config{},
			[]string{"no instance: InstanceARN is empty and there is no queue ARN"}},
		{"language", ivr, func(c *CTR) { c.Attributes["vmx3_lang"] = "english" }, Config{},
			[]string{`vmx3_lang "english" is not a Transcribe language code like en-US`}},
		{"language underscore", ivr, func(c *CTR) { c.Attributes["vmx3_lang"] = "en_US" }, Config{},
			[]string{`vmx3_lang "en_US" is not a Transcribe language code`}},
		{"default language", ivr, func(c *CTR) { delete(c.Attributes, "vmx3_lang") }, Config{Language: "German"},
			[]string{`the default language "German" is not a Transcribe language code like en-US`}},
		{"mode empty", ivr, func(c *CTR) { c.Attributes["vmx3_mode"] = "" }, Config{},
			[]string{"vmx3_mode is empty"}},
		{"mode blank", kvs, func(c *CTR) { c.Attributes["vmx_mode"] = "  " }, Config{},
			[]string{"vmx_mode is empty"}},
		{"mode empty entry", ivr, func(c *CTR) { c.Attributes["vmx3_mode"] = "task,,email" }, Config{},
			[]string{`vmx3_mode "task,,email" has an empty entry`}},
		{"mode trailing comma", ivr, func(c *CTR) { c.Attributes["vmx3_mode"] = "task," }, Config{},
			[]string{`vmx3_mode "task," has an empty entry`}},
		{"target", ivr, func(c *CTR) { c.Attributes["vmx3_target"] = "team" }, Config{},
			[]string{`vmx3_target "team" is not "agent" or "queue"`}},
		{"recordings null", ivr, func(c *CTR) { c.Recordings = nil }, Config{},
			[]string{"no recording: Recordings is null"}},
		{"recordings empty", ivr, func(c *CTR) { c.Recordings = []Recording{} }, Config{},
			[]string{"no recording: Recordings is empty"}},
		{"no usable recording", ivr, func(c *CTR) {
			c.Recordings = []Recording{
				{ParticipantType: "AGENT", StorageType: "S3", Location: "b/agent.wav"},
				{ParticipantType: "IVR", StorageType: "S3", Location: "b/ivr.wav", Status: "DELETED"},
				{},
			}
		}, Config{}, []string{"no recording: none of the 3 Recordings is a KINESIS_VIDEO_STREAM stream or an IVR recording in S3 (AGENT/S3, IVR/S3 deleted, null/null)"}},
		{"s3 location", ivr, func(c *CTR) { c.Recordings[0].Location = "amazon-connect-1a2b3c4d5e6f" }, Config{},
			[]string{`Recordings[0].Location "amazon-connect-1a2b3c4d5e6f" is not "<bucket>/<key>"`}},
		{"s3 location empty key", ivr, func(c *CTR) { c.Recordings[0].Location = "s3://bucket/" }, Config{},
			[]string{`Recordings[0].Location "s3://bucket/" is not "<bucket>/<key>"`}},
		{"s3 recording start", ivr, func(c *CTR) { c.Recordings[0].StartTimestamp = time.Time{} }, Config{},
			[]string{"Recordings[0].StartTimestamp is null (it is needed to find the voicemail in the IVR recording)"}},
		{"timestamp missing", ivr, func(c *CTR) { delete(c.Attributes, "vmx3_timestamp") }, Config{},
			[]string{"vmx3_timestamp is missing (it marks where the voicemail starts in the IVR recording)"}},
		{"timestamp empty", ivr, func(c *CTR) { c.Attributes["vmx3_timestamp"] = "" }, Config{},
			[]string{"vmx3_timestamp is missing"}},
		{"timestamp not a time", ivr, func(c *CTR) { c.Attributes["vmx3_timestamp"] = "2025-09-12 15:04:12" }, Config{},
			[]string{`vmx3_timestamp "2025-09-12 15:04:12" is not a time`}},
		{"vmx_ IVR record without timestamp", ivr, func(c *CTR) { *c = *reprefix(c, "vmx3_", "vmx_"); delete(c.Attributes, "vmx_timestamp") }, Config{},
			[]string{"vmx_timestamp is missing"}},
		{"stream ARN", kvs, func(c *CTR) { c.Recordings[0].Location = "myprefix-connect-myalias-contact-1" }, Config{},
			[]string{`Recordings[0].Location "myprefix-connect-myalias-contact-1" is not a Kinesis video stream ARN`}},
		{"start fragment null", kvs, func(c *CTR) { c.Recordings[0].FragmentStartNumber = "" }, Config{},
			[]string{"Recordings[0].FragmentStartNumber is null"}},
		{"start fragment", kvs, func(c *CTR) { c.Recordings[0].FragmentStartNumber = "12a" }, Config{},
			[]string{`Recordings[0].FragmentStartNumber "12a" is not a KVS fragment number (1 to 128 digits)`}},
		{"stop fragment too long", kvs, func(c *CTR) { c.Recordings[0].FragmentStopNumber = strings.Repeat("9", 129) }, Config{},
			[]string{`Recordings[0].FragmentStopNumber "` + strings.Repeat("9", 129) + `" is not a KVS fragment number`}},
		{"fragments reversed", kvs, func(c *CTR) {
			r := &c.Recordings[0]
			r.FragmentStartNumber, r.FragmentStopNumber = r.FragmentStopNumber, r.FragmentStartNumber
		}, Config{}, []string{"Recordings[0].FragmentStartNumber " + fragStop + " is after FragmentStopNumber " + fragStart}},
		{"no call time", kvs, func(c *CTR) {
			c.InitiationTimestamp, c.DisconnectTimestamp, c.Recordings[0].StartTimestamp = time.Time{}, time.Time{}, time.Time{}
		}, Config{}, []string{"no call time: InitiationTimestamp, the recording's StartTimestamp and DisconnectTimestamp are null"}},
		{"several problems", ivr, func(c *CTR) {
			c.Attributes["vmx3_queue_arn"] = "x"
			c.Attributes["vmx3_mode"] = ""
			c.Recordings = nil
		}, Config{}, []string{`vmx3_queue_arn "x" is not an Amazon Connect queue ARN`, "vmx3_mode is empty", "no recording: Recordings is null"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clone(tt.base)
			tt.edit(c)
			res := Interpret(c, tt.cfg)
			if res.Kind != Invalid || len(res.Problems) != len(tt.want) {
				t.Fatalf("%v %q, want invalid %q", res.Kind, res.Reason, tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(res.Problems[i], w) {
					t.Errorf("problem %d %q, want %q", i, res.Problems[i], w)
				}
			}
			if res.Reason != strings.Join(res.Problems, "; ") || res.Cause != "" {
				t.Errorf("reason %q cause %q", res.Reason, res.Cause)
			}
			// What could be read is kept, so the voicemail can be stored as
			// failed and shown.
			r := res.Request
			if r.ContactID != c.ContactID || r.Prefix == "" || r.Attributes["vmx3_flag"]+r.Attributes["vmx_flag"] != "1" {
				t.Errorf("request %+v", r)
			}
			if !strings.Contains(res.Reason, "language") && r.Language == "" {
				t.Errorf("language not filled: %+v", r)
			}
			if !strings.Contains(res.Reason, "call time") && r.CallTime.IsZero() {
				t.Errorf("call time not filled: %+v", r)
			}
		})
	}
}

// A ContactId that cannot be in a media link makes the voicemail invalid,
// stored as failed under that id; one that cannot even key a stored
// voicemail is left out, so that intake refuses the record.
func TestInterpretContactID(t *testing.T) {
	ivr := load(t, "ivr.json")
	tests := []struct {
		id, want string
		stored   bool
	}{
		{"a b", `ContactId "a b" is not a contact ID: want 1 to 128 ASCII letters, digits, '-', '_' or '.'`, true},
		{"..", `ContactId ".." is not a contact ID`, true},
		{"voicemail/1", `ContactId "voicemail/1" is not a contact ID`, true},
		{"é", `ContactId "é" is not a contact ID`, true},
		{strings.Repeat("a", 129), `ContactId "` + strings.Repeat("a", 64) + `"… (129 bytes) is not a contact ID`, true},
		{"a\x00b", `ContactId "a\x00b" cannot identify a voicemail: it must be UTF-8 text of at most 1024 bytes without NUL`, false},
		{"a\xffb", `ContactId "a\xffb" cannot identify a voicemail`, false},
		{strings.Repeat("b", 1025), `"… (1025 bytes) cannot identify a voicemail`, false},
	}
	for _, tt := range tests {
		c := clone(ivr)
		c.ContactID = tt.id
		res := Interpret(c, Config{})
		if res.Kind != Invalid || len(res.Problems) != 1 || !strings.Contains(res.Reason, tt.want) {
			t.Errorf("ContactId %q: %v %q, want invalid: %q", tt.id, res.Kind, res.Reason, tt.want)
		}
		want := ""
		if tt.stored {
			want = tt.id
		}
		if res.Request.ContactID != want || res.Request.Caller != "+15555551212" {
			t.Errorf("ContactId %q: request contact %q caller %q, want contact %q", tt.id, res.Request.ContactID, res.Request.Caller, want)
		}
	}
}

func TestInterpretFallbacks(t *testing.T) {
	ivr, kvs := load(t, "ivr.json"), load(t, "kvs.json")
	tests := []struct {
		name  string
		base  *CTR
		edit  func(c *CTR)
		cfg   Config
		check func(r voicemail.Request) bool
	}{
		{"caller from CustomerEndpoint", ivr, func(c *CTR) { delete(c.Attributes, "vmx3_from"); c.CustomerEndpoint.Address = "+4930901820" }, Config{},
			func(r voicemail.Request) bool { return r.Caller == "+4930901820" }},
		{"caller empty attribute", ivr, func(c *CTR) { c.Attributes["vmx3_from"] = " " }, Config{},
			func(r voicemail.Request) bool { return r.Caller == "+15555551212" }},
		{"caller trimmed", ivr, func(c *CTR) { c.Attributes["vmx3_from"] = " +15555550000\n" }, Config{},
			func(r voicemail.Request) bool { return r.Caller == "+15555550000" }},
		{"queue from Queue.ARN", ivr, func(c *CTR) { delete(c.Attributes, "vmx3_queue_arn"); c.Queue.ARN = agentQueue }, Config{QueueARN: queueARN},
			func(r voicemail.Request) bool {
				return r.QueueARN == agentQueue && r.AgentID == agentID && r.Target == "agent"
			}},
		{"queue from config", ivr, func(c *CTR) { c.Attributes["vmx3_queue_arn"] = "" }, Config{QueueARN: queueARN},
			func(r voicemail.Request) bool { return r.QueueARN == queueARN && r.InstanceID == instanceID }},
		{"no queue", ivr, func(c *CTR) { delete(c.Attributes, "vmx3_queue_arn") }, Config{},
			func(r voicemail.Request) bool { return r.QueueARN == "" && r.InstanceID == instanceID }},
		{"instance from queue", ivr, func(c *CTR) { c.InstanceARN = "" }, Config{},
			func(r voicemail.Request) bool { return r.InstanceID == instanceID }},
		{"GovCloud", ivr, func(c *CTR) {
			c.InstanceARN = "arn:aws-us-gov:connect:us-gov-west-1:123456789012:instance/g1"
			c.Attributes["vmx3_queue_arn"] = c.InstanceARN + "/queue/q1"
		}, Config{}, func(r voicemail.Request) bool { return r.InstanceID == "g1" }},
		{"China", ivr, func(c *CTR) {
			c.InstanceARN = ""
			c.Attributes["vmx3_queue_arn"] = "arn:aws-cn:connect:cn-north-1:123456789012:instance/c1/queue/agent/a1"
		}, Config{}, func(r voicemail.Request) bool { return r.InstanceID == "c1" && r.AgentID == "a1" }},
		{"language default", ivr, func(c *CTR) { delete(c.Attributes, "vmx3_lang") }, Config{Language: "de-DE"},
			func(r voicemail.Request) bool { return r.Language == "de-DE" }},
		{"language built-in default", ivr, func(c *CTR) { c.Attributes["vmx3_lang"] = "" }, Config{},
			func(r voicemail.Request) bool { return r.Language == "en-US" }},
		{"language case", ivr, func(c *CTR) { c.Attributes["vmx3_lang"] = "EN-gb" }, Config{},
			func(r voicemail.Request) bool { return r.Language == "en-GB" }},
		{"language odd ones", ivr, func(c *CTR) { c.Attributes["vmx3_lang"] = "en-AB" }, Config{},
			func(r voicemail.Request) bool { return r.Language == "en-AB" }},
		{"language three letters", ivr, func(c *CTR) { c.Attributes["vmx3_lang"] = "haw-US" }, Config{},
			func(r voicemail.Request) bool { return r.Language == "haw-US" }},
		{"mode default", ivr, func(c *CTR) { delete(c.Attributes, "vmx3_mode") }, Config{},
			func(r voicemail.Request) bool { return r.Mode == "webhook" }},
		{"mode configured", ivr, func(c *CTR) { delete(c.Attributes, "vmx3_mode") }, Config{Mode: "email,task"},
			func(r voicemail.Request) bool { return r.Mode == "email,task" }},
		{"mode list", ivr, func(c *CTR) { c.Attributes["vmx3_mode"] = " task , email " }, Config{},
			func(r voicemail.Request) bool { return r.Mode == "task,email" }},
		{"target queue", ivr, func(c *CTR) { c.Attributes["vmx3_target"] = "Queue" }, Config{},
			func(r voicemail.Request) bool { return r.Target == "queue" && r.Preferred == "jdoe" }},
		{"target from preferred agent", ivr, func(c *CTR) { delete(c.Attributes, "vmx3_target") }, Config{},
			func(r voicemail.Request) bool { return r.Target == "agent" }},
		{"target default", ivr, func(c *CTR) { delete(c.Attributes, "vmx3_target"); delete(c.Attributes, "vmx3_preferred_agent") }, Config{},
			func(r voicemail.Request) bool { return r.Target == "queue" && r.Preferred == "" }},
		{"agent queue wins over target", kvs, func(c *CTR) { c.Attributes["vmx_target"] = "queue" }, Config{},
			func(r voicemail.Request) bool { return r.Target == "agent" && r.AgentID == agentID }},
		{"call time from recording", ivr, func(c *CTR) { c.InitiationTimestamp = time.Time{} }, Config{},
			func(r voicemail.Request) bool { return r.CallTime.Equal(ts("2025-09-12T15:04:10Z")) }},
		{"call time from disconnect", kvs, func(c *CTR) { c.InitiationTimestamp, c.Recordings[0].StartTimestamp = time.Time{}, time.Time{} }, Config{},
			func(r voicemail.Request) bool { return r.CallTime.Equal(ts("2024-07-18T19:11:05Z")) }},
		{"timestamp milliseconds", ivr, func(c *CTR) { c.Attributes["vmx3_timestamp"] = "2025-09-12T15:04:12.345Z" }, Config{},
			func(r voicemail.Request) bool { return r.Audio.VoicemailStart.Equal(ts("2025-09-12T15:04:12.345Z")) }},
		{"timestamp offset", ivr, func(c *CTR) { c.Attributes["vmx3_timestamp"] = "2025-09-12T17:04:12+02:00" }, Config{},
			func(r voicemail.Request) bool { return r.Audio.VoicemailStart.Equal(ts("2025-09-12T15:04:12Z")) }},
		{"s3:// location", ivr, func(c *CTR) { c.Recordings[0].Location = "s3://bucket-1/a/b.wav" }, Config{},
			func(r voicemail.Request) bool { return r.Audio.Bucket == "bucket-1" && r.Audio.Key == "a/b.wav" }},
		{"IVR recording is not Recordings[0]", ivr, func(c *CTR) {
			c.Recordings = append([]Recording{
				{ParticipantType: "AGENT", StorageType: "S3", Location: "b/agent.wav", StartTimestamp: ts("2025-09-12T15:00:00Z")},
				{ParticipantType: "IVR", StorageType: "S3", Location: "b/old.wav", DeletionReason: "policy"},
			}, c.Recordings...)
		}, Config{}, func(r voicemail.Request) bool { return r.Audio.Key == ivrKey }},
		{"KVS recording is not Recordings[0]", kvs, func(c *CTR) {
			c.Recordings = append([]Recording{{ParticipantType: "CUSTOMER", StorageType: "S3", Location: "b/call.wav"}}, c.Recordings...)
		}, Config{}, func(r voicemail.Request) bool {
			return r.Audio.Kind == voicemail.AudioKVS && r.Audio.StreamARN == streamARN
		}},
		{"KVS before IVR without timestamp", kvs, func(c *CTR) {
			c.Recordings = append([]Recording{{ParticipantType: "IVR", StorageType: "S3", Location: "b/ivr.wav"}}, c.Recordings...)
		}, Config{}, func(r voicemail.Request) bool { return r.Audio.Kind == voicemail.AudioKVS }},
		{"IVR before KVS with timestamp", ivr, func(c *CTR) {
			c.Recordings = append(slices.Clone(kvs.Recordings), c.Recordings...)
		}, Config{}, func(r voicemail.Request) bool { return r.Audio.Kind == voicemail.AudioS3 && r.Audio.Key == ivrKey }},
		{"KVS without stop fragment", kvs, func(c *CTR) { c.Recordings[0].FragmentStopNumber = "" }, Config{},
			func(r voicemail.Request) bool {
				return r.Audio.StartFragment == fragStart && r.Audio.StopFragment == ""
			}},
		{"fictional 555 number", kvs, func(c *CTR) { c.Attributes["vmx_from"] = "+15555555555" }, Config{},
			func(r voicemail.Request) bool { return r.Caller == "+15555555555" }},
		{"attributes unchanged", ivr, func(c *CTR) { c.Attributes["other"] = " x " }, Config{},
			func(r voicemail.Request) bool { return r.Attributes["other"] == " x " && len(r.Attributes) == 10 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clone(tt.base)
			tt.edit(c)
			res := Interpret(c, tt.cfg)
			if res.Kind != Voicemail {
				t.Fatalf("%v: %s", res.Kind, res.Reason)
			}
			if !tt.check(res.Request) {
				t.Errorf("request %+v", res.Request)
			}
		})
	}
}

// The request's attributes are a copy: changing them leaves the record alone.
func TestInterpretCopiesAttributes(t *testing.T) {
	c := load(t, "ivr.json")
	res := Interpret(c, Config{})
	res.Request.Attributes["vmx3_flag"] = "0"
	if c.Attributes["vmx3_flag"] != "1" {
		t.Error("Interpret shares the attribute map")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
	good := Config{Prefixes: []string{"acme_"}, Language: "fr-CA", QueueARN: queueARN, Mode: "task,email"}
	if err := good.Validate(); err != nil {
		t.Errorf("%+v: %v", good, err)
	}
	bad := Config{Prefixes: []string{"vmx3_", "", "vmx3_", "a b"}, Language: "french", QueueARN: "q", Mode: ","}
	err := bad.Validate()
	for _, w := range []string{
		"ctr: config: prefixes[1] is empty",
		`ctr: config: prefixes[2] "vmx3_" is listed twice`,
		`ctr: config: prefixes[3] "a b" contains space`,
		`ctr: config: language "french" is not a Transcribe language code like en-US`,
		`ctr: config: queue ARN "q" is not an Amazon Connect queue ARN`,
		`ctr: config: mode "," has an empty entry`,
	} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %v, want %q", err, w)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Ignored: "ignored", Voicemail: "voicemail", Invalid: "invalid", 7: "Kind(7)"} {
		if k.String() != want {
			t.Errorf("%d: %s", int(k), k)
		}
	}
}

func TestChecks(t *testing.T) {
	for s, want := range map[string]bool{
		"+15555551212": true, "+4930901820": true, "+1234567": true, "+123456789012345": true,
		"+123456": false, "+1234567890123456": false, "+05555551212": false, "15555551212": false,
		"+1555555121a": false, "": false, "+": false,
	} {
		if isE164(s) != want {
			t.Errorf("isE164(%q) = %v", s, !want)
		}
	}
	for a, b := range map[[2]string]int{{"9", "10"}: -1, {"010", "10"}: 0, {"11", "10"}: 1, {fragStart, fragStop}: -1} {
		if got := compareFragments(a[0], a[1]); got != b {
			t.Errorf("compareFragments(%s, %s) = %d", a[0], a[1], got)
		}
	}
}
