package recording

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vmx-dev/vmx/internal/blob"
	"github.com/vmx-dev/vmx/internal/mkv"
)

const (
	testARN      = "arn:aws:kinesisvideo:us-east-1:111122223333:stream/connect-demo-contact-6855eee9-fa47-4b84-a970-ac6dbdd30b9d/1542430123456"
	testFragment = "91343852333181432392682062622220590765191907586"
)

var received = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

// flowEventJSON is Amazon Connect's flow invocation event as the admin
// guide documents it, after a Start media streaming block.
const flowEventJSON = `{
  "Details": {
    "ContactData": {
      "Attributes": {"saveCallRecording": "true", "streamAudioToCustomer": "false", "languageCode": "es-US", "transcribeCall": "false"},
      "Channel": "VOICE",
      "ContactId": "` + contactA + `",
      "CustomerEndpoint": {"Address": "+15555550123", "Type": "TELEPHONE_NUMBER"},
      "InitialContactId": "` + contactA + `",
      "InitiationMethod": "INBOUND",
      "InstanceARN": "arn:aws:connect:us-east-1:111122223333:instance/0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
      "MediaStreams": {
        "Customer": {
          "Audio": {
            "StartFragmentNumber": "` + testFragment + `",
            "StartTimestamp": "1767225600123",
            "StreamARN": "` + testARN + `"
          }
        }
      },
      "PreviousContactId": "` + contactA + `",
      "Queue": null,
      "SystemEndpoint": {"Address": "+15555550100", "Type": "TELEPHONE_NUMBER"}
    },
    "Parameters": {"transcribeCall": "true"}
  },
  "Name": "ContactFlowEvent"
}`

// seedEventJSON is the IVR-recording sample's invocation event.
const seedEventJSON = `{
  "streamARN": "` + testARN + `",
  "startFragmentNum": "` + testFragment + `",
  "connectContactId": "` + contactA + `",
  "transcriptionEnabled": "true",
  "saveCallRecording": "true",
  "languageCode": "en-US",
  "streamAudioFromCustomer": "true",
  "streamAudioToCustomer": "false"
}`

func TestParseEvents(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		cfg  Config
		want Request
	}{
		{
			name: "connect flow event: parameters win over attributes",
			in:   flowEventJSON,
			want: Request{ContactID: contactA, StreamARN: testARN, StartSelector: StartFragmentNumber, StartFragment: testFragment,
				CallTime: time.UnixMilli(1767225600123).UTC(), CustomerNumber: "+15555550123",
				FromCustomer: true, ToCustomer: false, Save: true, Transcribe: true, Language: "es-US"},
		},
		{
			name: "connect flow event, NOW configured",
			in:   flowEventJSON,
			cfg:  Config{StartSelector: StartNow},
			want: Request{ContactID: contactA, StreamARN: testARN, StartSelector: StartNow, StartFragment: testFragment,
				CallTime: time.UnixMilli(1767225600123).UTC(), CustomerNumber: "+15555550123",
				FromCustomer: true, ToCustomer: false, Save: true, Transcribe: true, Language: "es-US"},
		},
		{
			name: "IVR-recording sample event",
			in:   seedEventJSON,
			want: Request{ContactID: contactA, StreamARN: testARN, StartSelector: StartFragmentNumber, StartFragment: testFragment,
				CallTime: received, FromCustomer: true, Save: true, Transcribe: true, Language: "en-US"},
		},
		{
			name: "sample event with JSON booleans, defaults and the transcribeCall name",
			in:   `{"streamARN":"` + testARN + `","startFragmentNum":"` + testFragment + `","connectContactId":"` + contactA + `","transcribeCall":true,"stereo":"TRUE","customerPhoneNumber":"+15555550199"}`,
			cfg:  Config{Language: "fr-CA"},
			want: Request{ContactID: contactA, StreamARN: testARN, StartSelector: StartFragmentNumber, StartFragment: testFragment,
				CallTime: received, CustomerNumber: "+15555550199", FromCustomer: true, ToCustomer: true, Stereo: true, Save: true, Transcribe: true, Language: "fr-CA"},
		},
		{
			name: "vmx body with defaults",
			in:   `{"contact_id":"` + contactA + `","stream_arn":"` + testARN + `","start_fragment_number":"` + testFragment + `"}`,
			want: Request{ContactID: contactA, StreamARN: testARN, StartSelector: StartFragmentNumber, StartFragment: testFragment,
				CallTime: received, FromCustomer: true, ToCustomer: true, Save: true, Language: "en-US"},
		},
		{
			name: "vmx body choosing everything",
			in: `{"contact_id":"` + contactA + `","stream_arn":"` + testARN + `","start_selector":"now","customer_number":"sip:alice@example.com",
				"start_timestamp":"2026-01-01T10:00:00+01:00","from_customer":true,"to_customer":true,"stereo":true,"save":true,"transcribe":true,"language":"de-DE"}`,
			want: Request{ContactID: contactA, StreamARN: testARN, StartSelector: StartNow, CallTime: time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC),
				CustomerNumber: "sip:alice@example.com", FromCustomer: true, ToCustomer: true, Stereo: true, Save: true, Transcribe: true, Language: "de-DE"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tc.in), tc.cfg, received)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	body := func(fields string) string {
		return `{"contact_id":"` + contactA + `","stream_arn":"` + testARN + `","start_fragment_number":"` + testFragment + `"` + fields + `}`
	}
	for _, tc := range []struct {
		name, in string
		cfg      Config
		want     []string
	}{
		{"not JSON", `{"contact_id":`, Config{}, []string{"not a JSON object"}},
		{"JSON array", `[1,2]`, Config{}, []string{"not a JSON object"}},
		{"unknown field", body(`,"stero":true`), Config{}, []string{`unknown field "stero"`}},
		{"wrong type", body(`,"stereo":"yes"`), Config{}, []string{"stereo"}},
		{"empty object", `{}`, Config{}, []string{"contact_id is required", "stream_arn is required", "start_fragment_number is required"}},
		{"bad ids", `{"contact_id":"../etc","stream_arn":"arn:aws:s3:::bucket","start_fragment_number":"12ab"}`, Config{},
			[]string{`contact_id "../etc" is not a contact ID`, `stream_arn "arn:aws:s3:::bucket" is not a Kinesis video stream ARN`, `start_fragment_number "12ab" is not a fragment number`}},
		{"bad selector", body(`,"start_selector":"EARLIEST"`), Config{}, []string{`start_selector "EARLIEST" must be FRAGMENT_NUMBER or NOW`}},
		{"bad language", body(`,"language":"english"`), Config{}, []string{`language "english" is not a language code`}},
		{"bad timestamp", body(`,"start_timestamp":"yesterday"`), Config{}, []string{"start_timestamp", "neither epoch milliseconds nor an RFC 3339 time"}},
		{"nothing to record", body(`,"from_customer":false,"to_customer":false`), Config{}, []string{"from_customer and to_customer are both false"}},
		{"nothing to do", body(`,"save":false`), Config{}, []string{"save and transcribe are both false"}},
		{"stereo of one side", body(`,"to_customer":false,"stereo":true`), Config{}, []string{"stereo needs both sides"}},
		{"customer number with a newline", body(`,"customer_number":"+1555\n0123"`), Config{}, []string{"customer_number must be at most 256 printable characters"}},
		{"flow event before Start media streaming", `{"Details":{"ContactData":{"ContactId":"` + contactA + `","MediaStreams":{"Customer":{"Audio":null}}},"Parameters":{}},"Name":"ContactFlowEvent"}`, Config{},
			[]string{"Details.ContactData.MediaStreams.Customer.Audio.StreamARN is empty: run the flow's Start media streaming block",
				"Details.ContactData.MediaStreams.Customer.Audio.StartFragmentNumber is required"}},
		{"flow event with a bad flag", strings.Replace(flowEventJSON, `"transcribeCall": "true"`, `"transcribeCall": "yes"`, 1), Config{},
			[]string{`transcribeCall "yes" must be true or false`}},
		{"flow event with a bad timestamp", strings.Replace(flowEventJSON, "1767225600123", "soon", 1), Config{},
			[]string{"StartTimestamp", `"soon" is neither`}},
		{"flow event with non-string parameters", `{"Details":{"ContactData":{"ContactId":"` + contactA + `"},"Parameters":{"stereo":true}}}`, Config{},
			[]string{"not an Amazon Connect flow event"}},
		{"sample event without a contact", `{"streamARN":"` + testARN + `","startFragmentNum":"` + testFragment + `"}`, Config{}, []string{"connectContactId is required"}},
		{"sample event, NOW needs no fragment but a valid ARN", `{"streamARN":"nope","connectContactId":"` + contactA + `"}`, Config{StartSelector: StartNow},
			[]string{`streamARN "nope" is not a Kinesis video stream ARN`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRequest([]byte(tc.in), tc.cfg, received)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("zero config: %v", err)
	}
	err := Config{KeyPrefix: "../x/", StartSelector: "EARLIEST", MaxDuration: -1, MaxConcurrent: -1, Language: "en",
		TempDir: "rel/dir", CheckpointInterval: time.Minute, ResumeAfter: time.Minute}.Validate()
	for _, w := range []string{"key_prefix", "start_selector", "max_duration", "max_concurrent", "language", "temp_dir", "resume_after"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate: %v; want a problem with %s", err, w)
		}
	}
}

// Any input either fails as invalid or gives a request that can be
// recorded: a contact ID and keys the blob store accepts, a stream ARN,
// a start it can read from.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{flowEventJSON, seedEventJSON,
		`{"contact_id":"` + contactA + `","stream_arn":"` + testARN + `","start_selector":"NOW","stereo":true}`,
		`{"streamARN":"` + testARN + `","connectContactId":"x","startTimestamp":1767225600000}`, `{}`, `null`, `[]`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, now bool) {
		cfg := Config{}
		if now {
			cfg.StartSelector = StartNow
		}
		r, err := ParseRequest(data, cfg, received)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		key := cfg.withDefaults().KeyPrefix + r.ContactID + "_20260101T000000Z_STEREO.wav"
		switch {
		case !blob.ValidKey(key):
			t.Fatalf("contact %q makes the invalid key %q", r.ContactID, key)
		case !validStreamARN(r.StreamARN):
			t.Fatalf("stream ARN %q accepted", r.StreamARN)
		case r.StartSelector == StartFragmentNumber && !mkv.ValidFragmentNumber(r.StartFragment):
			t.Fatalf("fragment start without a fragment number: %+v", r)
		case !validLanguage(r.Language) || (!r.FromCustomer && !r.ToCustomer) || (!r.Save && !r.Transcribe):
			t.Fatalf("request accepted: %+v", r)
		}
	})
}

func TestIdentifierLengths(t *testing.T) {
	arnOf := func(account, name, created string) string {
		return "arn:aws:kinesisvideo:us-east-1:" + account + ":stream/" + name + "/" + created
	}
	for _, tc := range []struct {
		name string
		ok   bool
		got  bool
	}{
		{"contact ID of 128", true, validContactID(strings.Repeat("a", 128))},
		{"contact ID of 129", false, validContactID(strings.Repeat("a", 129))},
		{"contact ID starting with -", false, validContactID("-a")},
		{"stream ARN", true, validStreamARN(arnOf("123456789012", "connect-x-contact-1", "1700000000000"))},
		{"stream name of 256", true, validStreamARN(arnOf("123456789012", strings.Repeat("n", 256), "1"))},
		{"stream name of 257", false, validStreamARN(arnOf("123456789012", strings.Repeat("n", 257), "1"))},
		{"creation time of 20 digits", true, validStreamARN(arnOf("123456789012", "s", strings.Repeat("1", 20)))},
		{"creation time of 21 digits", false, validStreamARN(arnOf("123456789012", "s", strings.Repeat("1", 21)))},
		{"account of 11 digits", false, validStreamARN(arnOf("12345678901", "s", "1"))},
		{"account of 13 digits", false, validStreamARN(arnOf("1234567890123", "s", "1"))},
		{"GovCloud partition", true, validStreamARN("arn:aws-us-gov:kinesisvideo:us-gov-west-1:123456789012:stream/s/1")},
		{"another service", false, validStreamARN("arn:aws:kinesis:us-east-1:123456789012:stream/s/1")},
	} {
		if tc.got != tc.ok {
			t.Errorf("%s: valid = %v, want %v", tc.name, tc.got, tc.ok)
		}
	}
}
