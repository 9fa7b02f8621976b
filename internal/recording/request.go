package recording

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vmx-dev/vmx/internal/arn"
	"github.com/vmx-dev/vmx/internal/mkv"
)

// ErrInvalid is wrapped by the errors of requests and events that cannot
// start a recording: the caller must fix them, a retry cannot help.
var ErrInvalid = errors.New("recording: invalid request")

// Request is what to record: one Amazon Connect contact's audio on a
// Kinesis video stream.
type Request struct {
	ContactID string `json:"contact_id"`
	StreamARN string `json:"stream_arn"`
	// StartSelector is StartFragmentNumber or StartNow.
	StartSelector string `json:"start_selector"`
	// StartFragment is Connect's StartFragmentNumber; required by
	// StartFragmentNumber, informative with StartNow.
	StartFragment string `json:"start_fragment_number,omitempty"`
	// CallTime is the date and time of the contact details: Connect's
	// StartTimestamp, or when the request arrived.
	CallTime       time.Time `json:"call_time"`
	CustomerNumber string    `json:"customer_number,omitempty"`
	// FromCustomer and ToCustomer choose the sides recorded (and
	// transcribed): what the customer says, and what the customer hears.
	FromCustomer bool `json:"from_customer"`
	ToCustomer   bool `json:"to_customer"`
	// Stereo also stores both sides in one file, the customer left.
	Stereo bool `json:"stereo"`
	// Save stores the WAV files; without it the call is only transcribed.
	Save bool `json:"save"`
	// Transcribe stores the transcript of each recorded side.
	Transcribe bool   `json:"transcribe"`
	Language   string `json:"language"`
}

// Lengths are checked apart from the patterns: a counted repetition
// ({0,127}) compiles to that many copies of its class, which every start
// of the binary would pay for.
var (
	contactIDPattern  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	streamNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)
	languagePattern   = regexp.MustCompile(`^[a-z][a-z][a-z]?-[A-Z][A-Z]$`)
)

// validContactID accepts 1 to 128 letters, digits, '-' and '_', starting
// with a letter or digit.
func validContactID(s string) bool { return len(s) <= 128 && contactIDPattern.MatchString(s) }

// validStreamARN accepts arn:<partition>:kinesisvideo:<region>:<12-digit
// account>:stream/<name of 1 to 256>/<creation time of 1 to 20 digits>.
func validStreamARN(s string) bool {
	res, ok := arn.Resource(s, "kinesisvideo")
	rest, isStream := strings.CutPrefix(res, "stream/")
	name, created, _ := strings.Cut(rest, "/")
	return ok && isStream && len(name) <= 256 && streamNamePattern.MatchString(name) &&
		created != "" && len(created) <= 20 && strings.Trim(created, "0123456789") == ""
}

func validLanguage(s string) bool { return languagePattern.MatchString(s) }

// maxCustomerNumber bounds the customer number kept in the contact
// details: E.164 numbers are 16 characters, SIP addresses longer.
const maxCustomerNumber = 256

// fieldNames are the names of a request's fields in one input shape, for
// error messages that point at what the caller sent.
type fieldNames struct {
	contactID, streamARN, fragment, timestamp, customer, from, to, stereo, save, transcribe, language string
}

var (
	bodyNames = fieldNames{"contact_id", "stream_arn", "start_fragment_number", "start_timestamp", "customer_number",
		"from_customer", "to_customer", "stereo", "save", "transcribe", "language"}
	flowNames = fieldNames{"Details.ContactData.ContactId", "Details.ContactData.MediaStreams.Customer.Audio.StreamARN",
		"Details.ContactData.MediaStreams.Customer.Audio.StartFragmentNumber", "Details.ContactData.MediaStreams.Customer.Audio.StartTimestamp",
		"Details.ContactData.CustomerEndpoint.Address", "streamAudioFromCustomer", "streamAudioToCustomer", "stereo",
		"saveCallRecording", "transcribeCall", "languageCode"}
	seedNames = fieldNames{"connectContactId", "streamARN", "startFragmentNum", "startTimestamp", "customerPhoneNumber",
		"streamAudioFromCustomer", "streamAudioToCustomer", "stereo", "saveCallRecording", "transcriptionEnabled", "languageCode"}
)

// ParseRequest reads a request to record in any of the three shapes vmx
// accepts, told apart by their fields:
//
//   - vmx's own JSON body (contact_id, stream_arn, start_selector,
//     start_fragment_number, start_timestamp, customer_number,
//     from_customer, to_customer, stereo, save, transcribe, language);
//     unknown fields are errors;
//   - Amazon Connect's flow invocation event (Details.ContactData with
//     MediaStreams.Customer.Audio and CustomerEndpoint); the options are
//     read from the block's parameters, then the contact attributes, under
//     the names the IVR-recording sample uses (transcribeCall or
//     transcriptionEnabled, saveCallRecording, languageCode,
//     streamAudioFromCustomer, streamAudioToCustomer) and stereo;
//   - the IVR-recording sample's event (streamARN, startFragmentNum,
//     connectContactId and the options above as "true"/"false").
//
// Connect's events start as cfg.StartSelector says. now is the call time
// when the input gives none. Errors wrap ErrInvalid and name every problem.
func ParseRequest(data []byte, cfg Config, now time.Time) (Request, error) {
	cfg = cfg.withDefaults()
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil || probe == nil {
		return Request{}, invalid("the body is not a JSON object")
	}
	switch {
	case probe["Details"] != nil:
		return parseFlowEvent(data, cfg, now)
	case probe["streamARN"] != nil || probe["connectContactId"] != nil || probe["startFragmentNum"] != nil:
		return parseSeedEvent(data, cfg, now)
	}
	return parseBody(data, cfg, now)
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// body is vmx's own request shape.
type body struct {
	ContactID           string          `json:"contact_id"`
	StreamARN           string          `json:"stream_arn"`
	StartSelector       string          `json:"start_selector"`
	StartFragmentNumber string          `json:"start_fragment_number"`
	StartTimestamp      json.RawMessage `json:"start_timestamp"`
	CustomerNumber      string          `json:"customer_number"`
	FromCustomer        *bool           `json:"from_customer"`
	ToCustomer          *bool           `json:"to_customer"`
	Stereo              bool            `json:"stereo"`
	Save                *bool           `json:"save"`
	Transcribe          bool            `json:"transcribe"`
	Language            string          `json:"language"`
}

func parseBody(data []byte, cfg Config, now time.Time) (Request, error) {
	var b body
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return Request{}, invalid("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	var p problems
	r := Request{
		ContactID:      strings.TrimSpace(b.ContactID),
		StreamARN:      strings.TrimSpace(b.StreamARN),
		StartSelector:  cfg.StartSelector,
		StartFragment:  strings.TrimSpace(b.StartFragmentNumber),
		CustomerNumber: strings.TrimSpace(b.CustomerNumber),
		FromCustomer:   b.FromCustomer == nil || *b.FromCustomer,
		ToCustomer:     b.ToCustomer == nil || *b.ToCustomer,
		Stereo:         b.Stereo,
		Save:           b.Save == nil || *b.Save,
		Transcribe:     b.Transcribe,
		Language:       strings.TrimSpace(b.Language),
		CallTime:       now,
	}
	switch sel := strings.ToUpper(strings.TrimSpace(b.StartSelector)); sel {
	case "":
	case StartFragmentNumber, StartNow:
		r.StartSelector = sel
	default:
		p.add("start_selector %q must be %s or %s", b.StartSelector, StartFragmentNumber, StartNow)
	}
	if len(b.StartTimestamp) > 0 && string(b.StartTimestamp) != "null" {
		t, err := parseTimestamp(b.StartTimestamp)
		if err != nil {
			p.add("start_timestamp: %v", err)
		} else {
			r.CallTime = t
		}
	}
	return r.check(bodyNames, cfg, p)
}

// flowEvent is the part of Amazon Connect's flow invocation event that a
// recording needs.
type flowEvent struct {
	Details struct {
		ContactData struct {
			ContactID        string            `json:"ContactId"`
			Attributes       map[string]string `json:"Attributes"`
			CustomerEndpoint *struct {
				Address string `json:"Address"`
			} `json:"CustomerEndpoint"`
			MediaStreams struct {
				Customer struct {
					Audio *struct {
						StreamARN           string `json:"StreamARN"`
						StartFragmentNumber string `json:"StartFragmentNumber"`
						StartTimestamp      string `json:"StartTimestamp"`
					} `json:"Audio"`
				} `json:"Customer"`
			} `json:"MediaStreams"`
		} `json:"ContactData"`
		Parameters map[string]string `json:"Parameters"`
	} `json:"Details"`
}

func parseFlowEvent(data []byte, cfg Config, now time.Time) (Request, error) {
	var ev flowEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return Request{}, invalid("not an Amazon Connect flow event: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	cd := ev.Details.ContactData
	var p problems
	r := Request{ContactID: strings.TrimSpace(cd.ContactID), StartSelector: cfg.StartSelector, CallTime: now}
	if cd.CustomerEndpoint != nil {
		r.CustomerNumber = strings.TrimSpace(cd.CustomerEndpoint.Address)
	}
	if a := cd.MediaStreams.Customer.Audio; a != nil {
		r.StreamARN, r.StartFragment = strings.TrimSpace(a.StreamARN), strings.TrimSpace(a.StartFragmentNumber)
		if ts := strings.TrimSpace(a.StartTimestamp); ts != "" {
			t, err := parseTimestamp(json.RawMessage(strconv.Quote(ts)))
			if err != nil {
				p.add("%s: %v", flowNames.timestamp, err)
			} else {
				r.CallTime = t
			}
		}
	}
	// The block's parameters win over the contact's attributes.
	opt := func(names ...string) (string, string, bool) {
		for _, m := range []map[string]string{ev.Details.Parameters, cd.Attributes} {
			for _, n := range names {
				if v, ok := m[n]; ok && strings.TrimSpace(v) != "" {
					return n, strings.TrimSpace(v), true
				}
			}
		}
		return "", "", false
	}
	r.options(&p, opt)
	return r.check(flowNames, cfg, p)
}

// seedEvent is the IVR-recording sample's event. Its values are strings;
// JSON booleans are accepted too.
type seedEvent struct {
	StreamARN           string          `json:"streamARN"`
	StartFragmentNum    string          `json:"startFragmentNum"`
	ConnectContactID    string          `json:"connectContactId"`
	CustomerPhoneNumber string          `json:"customerPhoneNumber"`
	StartTimestamp      json.RawMessage `json:"startTimestamp"`
}

func parseSeedEvent(data []byte, cfg Config, now time.Time) (Request, error) {
	var ev seedEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return Request{}, invalid("not an IVR-recording event: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Request{}, invalid("not an IVR-recording event: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	var p problems
	r := Request{
		ContactID:      strings.TrimSpace(ev.ConnectContactID),
		StreamARN:      strings.TrimSpace(ev.StreamARN),
		StartSelector:  cfg.StartSelector,
		StartFragment:  strings.TrimSpace(ev.StartFragmentNum),
		CustomerNumber: strings.TrimSpace(ev.CustomerPhoneNumber),
		CallTime:       now,
	}
	if len(ev.StartTimestamp) > 0 && string(ev.StartTimestamp) != "null" {
		t, err := parseTimestamp(ev.StartTimestamp)
		if err != nil {
			p.add("startTimestamp: %v", err)
		} else {
			r.CallTime = t
		}
	}
	opt := func(names ...string) (string, string, bool) {
		for _, n := range names {
			v, ok := raw[n]
			if !ok || string(v) == "null" {
				continue
			}
			var s string
			if json.Unmarshal(v, &s) != nil {
				s = string(v) // a JSON boolean or number
			}
			if s = strings.TrimSpace(s); s != "" {
				return n, s, true
			}
		}
		return "", "", false
	}
	r.options(&p, opt)
	return r.check(seedNames, cfg, p)
}

// options reads the IVR-recording sample's options, shared by both of
// Connect's event shapes, through lookup (name, value, found).
func (r *Request) options(p *problems, lookup func(names ...string) (string, string, bool)) {
	flag := func(def bool, names ...string) bool {
		name, v, ok := lookup(names...)
		if !ok {
			return def
		}
		switch strings.ToLower(v) {
		case "true":
			return true
		case "false":
			return false
		}
		p.add("%s %q must be true or false", name, v)
		return def
	}
	r.Transcribe = flag(false, "transcribeCall", "transcriptionEnabled")
	r.Save = flag(true, "saveCallRecording")
	r.FromCustomer = flag(true, "streamAudioFromCustomer")
	r.ToCustomer = flag(true, "streamAudioToCustomer")
	r.Stereo = flag(false, "stereo")
	if _, v, ok := lookup("languageCode"); ok {
		r.Language = v
	}
}

// check validates the request read through one shape, n naming its
// fields, with the problems found while reading it.
func (r Request) check(n fieldNames, cfg Config, p problems) (Request, error) {
	switch {
	case r.ContactID == "":
		p.add("%s is required", n.contactID)
	case !validContactID(r.ContactID):
		p.add("%s %q is not a contact ID (1 to 128 letters, digits, '-' or '_')", n.contactID, r.ContactID)
	}
	switch {
	case r.StreamARN == "" && n == flowNames:
		p.add("%s is empty: run the flow's Start media streaming block before invoking this function", n.streamARN)
	case r.StreamARN == "":
		p.add("%s is required", n.streamARN)
	case !validStreamARN(r.StreamARN):
		p.add("%s %q is not a Kinesis video stream ARN (arn:aws:kinesisvideo:<region>:<account>:stream/<name>/<creation time>)", n.streamARN, r.StreamARN)
	}
	switch {
	case r.StartFragment != "" && !mkv.ValidFragmentNumber(r.StartFragment):
		p.add("%s %q is not a fragment number (1 to 128 digits)", n.fragment, r.StartFragment)
	case r.StartFragment == "" && r.StartSelector == StartFragmentNumber:
		p.add("%s is required to start at %s (the fragment where Start media streaming began); or start at %s", n.fragment, StartFragmentNumber, StartNow)
	}
	if len(r.CustomerNumber) > maxCustomerNumber || !printable(r.CustomerNumber) {
		p.add("%s must be at most %d printable characters", n.customer, maxCustomerNumber)
	}
	if r.Language == "" {
		r.Language = cfg.Language
	} else if !validLanguage(r.Language) {
		p.add("%s %q is not a language code such as en-US", n.language, r.Language)
	}
	switch {
	case !r.FromCustomer && !r.ToCustomer:
		p.add("%s and %s are both false: there is nothing to record", n.from, n.to)
	case !r.Save && !r.Transcribe:
		p.add("%s and %s are both false: there is nothing to do", n.save, n.transcribe)
	case r.Stereo && !(r.FromCustomer && r.ToCustomer):
		p.add("%s needs both sides (%s and %s)", n.stereo, n.from, n.to)
	case r.Stereo && !r.Save:
		p.add("%s needs %s", n.stereo, n.save)
	}
	r.CallTime = r.CallTime.UTC().Truncate(time.Millisecond)
	if err := p.err(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// parseTimestamp reads a start time: epoch milliseconds as Connect sends
// them (a JSON number or a string of digits), or RFC 3339.
func parseTimestamp(raw json.RawMessage) (time.Time, error) {
	s := strings.TrimSpace(string(raw))
	if u, err := strconv.Unquote(s); err == nil {
		s = strings.TrimSpace(u)
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n <= 0 || n > 1e14 {
			return time.Time{}, fmt.Errorf("%s is not a time in epoch milliseconds", s)
		}
		return time.UnixMilli(n), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither epoch milliseconds nor an RFC 3339 time", s)
	}
	return t, nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// problems gathers what is wrong with a request, so that one answer names
// all of it.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return invalid("%s", strings.Join(p, "; "))
}
