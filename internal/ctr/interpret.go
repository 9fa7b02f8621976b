package ctr

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vmx-dev/vmx/internal/arn"
	"github.com/vmx-dev/vmx/internal/media"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// Defaults of [Config].
const (
	DefaultLanguage = "en-US"
	DefaultMode     = "webhook"
)

// DefaultPrefixes returns the attribute prefixes accepted by default, in
// order of precedence: vmx3_ (VMX3), vmx_ (VMX2), vm_ (VMX1).
func DefaultPrefixes() []string { return []string{"vmx3_", "vmx_", "vm_"} }

// Config says how contact records are read. The zero Config is the default
// configuration.
type Config struct {
	// Prefixes are the attribute prefixes accepted, in order of precedence:
	// a record's prefix is the first one whose "<prefix>flag" attribute it
	// has. A record with no such attribute is ignored. Empty means
	// DefaultPrefixes.
	Prefixes []string
	// Language is the Amazon Transcribe language code of a voicemail
	// without a "<prefix>lang" attribute. Empty means DefaultLanguage.
	Language string
	// QueueARN is the queue of a voicemail whose record names none (no
	// "<prefix>queue_arn" attribute, Queue null). Empty means such a
	// voicemail has no queue.
	QueueARN string
	// Mode is the delivery mode, or comma-separated modes, of a voicemail
	// without a "<prefix>mode" attribute. Empty means DefaultMode.
	Mode string
	// AcceptAnswered processes a flagged contact that an agent joined
	// (Agent not null). By default such a record is ignored, as the
	// Voicemail Express 3 event filter does: an agent answered while the
	// flag was set, so the recording holds a conversation, not a voicemail.
	AcceptAnswered bool
}

// DefaultConfig returns the default configuration with every default
// spelled out.
func DefaultConfig() Config {
	return Config{Prefixes: DefaultPrefixes(), Language: DefaultLanguage, Mode: DefaultMode}
}

func (c Config) withDefaults() Config {
	if len(c.Prefixes) == 0 {
		c.Prefixes = DefaultPrefixes()
	}
	if c.Language == "" {
		c.Language = DefaultLanguage
	}
	if c.Mode == "" {
		c.Mode = DefaultMode
	}
	return c
}

// Validate checks the configuration; empty fields are valid (they mean the
// defaults).
func (c Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range c.Prefixes {
		switch {
		case p == "":
			errs = append(errs, fmt.Errorf("ctr: config: prefixes[%d] is empty", i))
		case strings.ContainsAny(p, " \t\r\n"):
			errs = append(errs, fmt.Errorf("ctr: config: prefixes[%d] %q contains space", i, p))
		case seen[p]:
			errs = append(errs, fmt.Errorf("ctr: config: prefixes[%d] %q is listed twice", i, p))
		}
		seen[p] = true
	}
	if c.Language != "" {
		if _, ok := normLanguage(c.Language); !ok {
			errs = append(errs, fmt.Errorf("ctr: config: language %q is not a Transcribe language code like en-US", c.Language))
		}
	}
	if c.QueueARN != "" {
		if _, ok := arn.ParseQueue(c.QueueARN); !ok {
			errs = append(errs, fmt.Errorf("ctr: config: queue ARN %q is not an Amazon Connect queue ARN", c.QueueARN))
		}
	}
	if c.Mode != "" {
		if _, why, ok := normMode(c.Mode); !ok {
			errs = append(errs, fmt.Errorf("ctr: config: mode %q %s", c.Mode, why))
		}
	}
	return errors.Join(errs...)
}

// Kind is what a contact record is to vmx.
type Kind int

const (
	// Ignored: not a voicemail to process. Result.Cause says why.
	Ignored Kind = iota
	// Voicemail: a voicemail to process; Result.Request is complete.
	Voicemail
	// Invalid: flagged as a voicemail but unusable. Result.Problems says
	// why; Result.Request holds what could be filled.
	Invalid
)

func (k Kind) String() string {
	switch k {
	case Ignored:
		return "ignored"
	case Voicemail:
		return "voicemail"
	case Invalid:
		return "invalid"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Why a record is ignored: Result.Cause, a label for counting.
const (
	CauseNoFlag   = "no_flag"    // no "<prefix>flag" attribute under any accepted prefix
	CauseFlagOff  = "flag_not_1" // the flag is there but not exactly "1"
	CauseChannel  = "not_voice"  // the flag is "1" but the contact is not a call (a task sharing the call's attributes)
	CauseAnswered = "answered"   // the flag is "1" but an agent joined the contact (see Config.AcceptAnswered)
)

// Result is what [Interpret] made of a contact record.
type Result struct {
	Kind Kind
	// Request is the voicemail. For Ignored records only ContactID and
	// Prefix (when a flag was found) are set; for Invalid ones every field
	// that could be read, invalid values left out.
	Request voicemail.Request
	// Cause is one of the Cause constants for an Ignored record.
	Cause string
	// Problems are the reasons an Invalid record cannot be processed, each
	// naming the field and its value, e.g.
	// `vmx3_from "12345" is not an E.164 number`.
	Problems []string
	// Reason says why a record is Ignored or Invalid (then it is the
	// Problems joined by "; "); empty for a Voicemail.
	Reason string
}

// Interpret decides whether a contact record is a voicemail and builds its
// request. Empty fields of cfg mean their defaults.
//
// The record's prefix is the first accepted prefix whose flag attribute it
// has; only the attributes under that prefix are read:
//
//   - flag: exactly "1", otherwise the record is Ignored;
//   - from: the caller's E.164 number; missing, empty or no E.164 number
//     means CustomerEndpoint.Address, then an unknown caller;
//   - queue_arn: the queue, or an agent's personal queue (which sets
//     AgentID and Target "agent"); missing or empty means Queue.ARN, then
//     cfg.QueueARN, then no queue. The instance comes from the queue ARN
//     or InstanceARN, which must agree;
//   - lang: the Transcribe language; missing or empty means cfg.Language;
//   - mode: delivery modes, comma-separated; missing means cfg.Mode, empty
//     is invalid;
//   - target ("agent" or "queue"; missing means "agent" when there is a
//     preferred agent, else "queue") and preferred_agent;
//   - timestamp: where the voicemail starts in an IVR recording (RFC 3339).
//
// The ContactId must be a contact ID as media links take them (UUIDs
// are); one that could not even key a stored voicemail is left out of the
// Invalid request.
//
// The audio is the first KINESIS_VIDEO_STREAM recording, or the first IVR
// recording stored in S3; the IVR recording comes first when the record has
// a timestamp attribute (a VMX3-IVR flow on a contact that also streams
// media). Deleted recordings are passed over. CallTime is
// InitiationTimestamp, else the chosen recording's start, else
// DisconnectTimestamp.
func Interpret(c *CTR, cfg Config) Result {
	cfg = cfg.withDefaults()
	res := Result{Kind: Ignored, Request: voicemail.Request{ContactID: c.ContactID}}

	prefix, flag, ok := "", "", false
	for _, p := range cfg.Prefixes {
		if flag, ok = c.Attributes[p+"flag"]; ok {
			prefix = p
			break
		}
	}
	switch {
	case !ok:
		res.Cause = CauseNoFlag
		res.Reason = "no " + flagNames(cfg.Prefixes) + " attribute"
		return res
	case flag != "1":
		res.Request.Prefix = prefix
		res.Cause = CauseFlagOff
		res.Reason = fmt.Sprintf("%sflag is %q, not \"1\"", prefix, flag)
		return res
	case c.Channel != "" && c.Channel != ChannelVoice:
		res.Request.Prefix = prefix
		res.Cause = CauseChannel
		res.Reason = fmt.Sprintf("%sflag is \"1\" but the contact's channel is %s, not %s", prefix, c.Channel, ChannelVoice)
		return res
	case c.Agent != nil && !cfg.AcceptAnswered:
		res.Request.Prefix = prefix
		res.Cause = CauseAnswered
		who := "an agent"
		if c.Agent.Username != "" {
			who = "agent " + c.Agent.Username
		}
		res.Reason = fmt.Sprintf("%sflag is \"1\" but %s joined the contact", prefix, who)
		return res
	}

	x := interp{c: c, cfg: cfg, p: prefix, req: &res.Request}
	x.req.Prefix = prefix
	x.req.Attributes = maps.Clone(c.Attributes)
	x.contactID()
	x.caller()
	x.queue()
	x.language()
	x.mode()
	x.target()
	recStart := x.audio()
	x.callTime(recStart)

	if len(x.problems) > 0 {
		res.Kind = Invalid
		res.Problems = x.problems
		res.Reason = strings.Join(x.problems, "; ")
		return res
	}
	res.Kind = Voicemail
	return res
}

// flagNames lists the flag attributes looked for: "vmx3_flag, vmx_flag or
// vm_flag".
func flagNames(prefixes []string) string {
	names := make([]string, len(prefixes))
	for i, p := range prefixes {
		names[i] = p + "flag"
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// interp fills one request and collects its problems.
type interp struct {
	c        *CTR
	cfg      Config
	p        string
	req      *voicemail.Request
	problems []string
}

func (x *interp) fail(format string, args ...any) {
	x.problems = append(x.problems, fmt.Sprintf(format, args...))
}

// attr returns the attribute under the record's prefix, without surrounding
// space, and whether it exists.
func (x *interp) attr(name string) (string, bool) {
	v, ok := x.c.Attributes[x.p+name]
	return strings.TrimSpace(v), ok
}

// maxKeyBytes bounds a contact ID that can key a stored voicemail:
// DynamoDB's partition keys hold 2048 bytes, PostgreSQL index entries
// about 2700.
const maxKeyBytes = 1024

// contactID checks the ContactId, which names the voicemail's row, its
// recording's key and its media link: the rule of media.ValidContactID.
// An id that cannot even key a row (not UTF-8 text, a NUL, too long) is
// left out of the request, so the record is refused rather than stored.
func (x *interp) contactID() {
	id := x.c.ContactID
	switch {
	case media.ValidContactID(id):
	case !utf8.ValidString(id) || strings.ContainsRune(id, 0) || len(id) > maxKeyBytes:
		x.req.ContactID = ""
		x.fail("ContactId %s cannot identify a voicemail: it must be UTF-8 text of at most %d bytes without NUL", quoteLong(id), maxKeyBytes)
	default:
		x.fail("ContactId %s is not a contact ID: want 1 to 128 ASCII letters, digits, '-', '_' or '.' (Amazon Connect's are UUIDs)", quoteLong(id))
	}
}

// quoteLong quotes s, cut to its first 64 bytes when longer.
func quoteLong(s string) string {
	if len(s) <= 64 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:64], len(s))
}

// caller takes the caller's number from *from, else from
// CustomerEndpoint.Address, without the spaces, dashes, dots and
// parentheses people write numbers with. A caller who withheld the number
// ("anonymous") still leaves a voicemail, and so does one whose flow set
// *from to something that is no E.164 number: it is processed with the
// caller unknown, as Voicemail Express delivers it, rather than refused
// (the attribute itself stays among the Attributes).
func (x *interp) caller() {
	from, _ := x.attr("from")
	for _, v := range []string{from, x.c.CustomerEndpoint.Address} {
		if n := phoneLayout.Replace(strings.TrimSpace(v)); isE164(n) {
			x.req.Caller = n
			return
		}
	}
}

// phoneLayout removes what people put between a number's digits.
var phoneLayout = strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "")

func (x *interp) queue() {
	queueARN, src := "", ""
	if v, _ := x.attr("queue_arn"); v != "" {
		queueARN, src = v, x.p+"queue_arn"
	} else if v := strings.TrimSpace(x.c.Queue.ARN); v != "" {
		queueARN, src = v, "Queue.ARN"
	} else if x.cfg.QueueARN != "" {
		queueARN, src = x.cfg.QueueARN, "the default queue ARN"
	}
	queueInstance := ""
	if queueARN != "" {
		if q, ok := arn.ParseQueue(queueARN); ok {
			x.req.QueueARN = queueARN
			x.req.AgentID = q.Agent
			queueInstance = q.Instance
		} else {
			x.fail("%s %q is not an Amazon Connect queue ARN", src, queueARN)
		}
	}
	contactInstance := ""
	if v := strings.TrimSpace(x.c.InstanceARN); v != "" {
		if id, ok := arn.ParseInstance(v); ok {
			contactInstance = id
		} else {
			x.fail("InstanceARN %q is not an Amazon Connect instance ARN", v)
		}
	}
	switch {
	case queueInstance != "" && contactInstance != "" && !strings.EqualFold(queueInstance, contactInstance):
		x.fail("%s is in instance %s but the contact is in instance %s", src, queueInstance, contactInstance)
		x.req.InstanceID = contactInstance
	case queueInstance != "":
		x.req.InstanceID = queueInstance
	case contactInstance != "":
		x.req.InstanceID = contactInstance
	case queueARN == "" && x.c.InstanceARN == "":
		x.fail("no instance: InstanceARN is empty and there is no queue ARN")
	}
}

func (x *interp) language() {
	lang, src := x.cfg.Language, "the default language"
	if v, _ := x.attr("lang"); v != "" {
		lang, src = v, x.p+"lang"
	}
	norm, ok := normLanguage(lang)
	if !ok {
		x.fail("%s %q is not a Transcribe language code like en-US", src, lang)
		return
	}
	x.req.Language = norm
}

func (x *interp) mode() {
	mode, src := x.cfg.Mode, "the default mode"
	if v, ok := x.c.Attributes[x.p+"mode"]; ok {
		mode, src = v, x.p+"mode"
	}
	norm, why, ok := normMode(mode)
	if !ok {
		if strings.TrimSpace(mode) == "" {
			x.fail("%s %s", src, why)
		} else {
			x.fail("%s %q %s", src, mode, why)
		}
		return
	}
	x.req.Mode = norm
}

func (x *interp) target() {
	x.req.Preferred, _ = x.attr("preferred_agent")
	v, _ := x.attr("target")
	switch t := strings.ToLower(v); {
	case x.req.AgentID != "":
		// An agent's personal queue is the agent's, whatever target says.
		x.req.Target = "agent"
	case t == "agent" || t == "queue":
		x.req.Target = t
	case v != "":
		x.fail("%starget %q is not \"agent\" or \"queue\"", x.p, v)
	case x.req.Preferred != "":
		x.req.Target = "agent"
	default:
		x.req.Target = "queue"
	}
}

// audio chooses the recording and returns its start time.
func (x *interp) audio() time.Time {
	recs := x.c.Recordings
	if recs == nil {
		x.fail("no recording: Recordings is null")
		return time.Time{}
	}
	if len(recs) == 0 {
		x.fail("no recording: Recordings is empty")
		return time.Time{}
	}
	kvs := slices.IndexFunc(recs, func(r Recording) bool {
		return r.StorageType == StorageKVS && !deleted(r)
	})
	ivr := slices.IndexFunc(recs, func(r Recording) bool {
		return r.ParticipantType == ParticipantIVR && r.StorageType == StorageS3 && !deleted(r)
	})
	timestamp, _ := x.attr("timestamp")
	switch hasTimestamp := timestamp != ""; {
	case ivr >= 0 && (kvs < 0 || hasTimestamp):
		x.s3(ivr, recs[ivr])
		return recs[ivr].StartTimestamp
	case kvs >= 0:
		x.kvs(kvs, recs[kvs])
		return recs[kvs].StartTimestamp
	}
	var seen []string
	for _, r := range recs {
		s := orUnknown(r.ParticipantType) + "/" + orUnknown(r.StorageType)
		if deleted(r) {
			s += " deleted"
		}
		seen = append(seen, s)
	}
	x.fail("no recording: none of the %d Recordings is a %s stream or an %s recording in %s (%s)",
		len(recs), StorageKVS, ParticipantIVR, StorageS3, strings.Join(seen, ", "))
	return time.Time{}
}

func deleted(r Recording) bool { return r.Status == "DELETED" || r.DeletionReason != "" }

func orUnknown(s string) string {
	if s == "" {
		return "null"
	}
	return s
}

func (x *interp) kvs(i int, r Recording) {
	f := fmt.Sprintf("Recordings[%d]", i)
	a := &x.req.Audio
	a.Kind = voicemail.AudioKVS
	a.StartTime, a.StopTime = r.StartTimestamp, r.StopTimestamp
	if arn.IsKinesisVideoStream(r.Location) {
		a.StreamARN = r.Location
	} else {
		x.fail("%s.Location %q is not a Kinesis video stream ARN", f, r.Location)
	}
	start, stop := r.FragmentStartNumber, r.FragmentStopNumber
	switch {
	case start == "":
		x.fail("%s.FragmentStartNumber is null", f)
	case !isFragmentNumber(start):
		x.fail("%s.FragmentStartNumber %q is not a KVS fragment number (1 to 128 digits)", f, start)
	default:
		a.StartFragment = start
	}
	switch {
	case stop == "": // streaming did not stop cleanly; read to the contact's end
	case !isFragmentNumber(stop):
		x.fail("%s.FragmentStopNumber %q is not a KVS fragment number (1 to 128 digits)", f, stop)
	case a.StartFragment != "" && compareFragments(start, stop) > 0:
		x.fail("%s.FragmentStartNumber %s is after FragmentStopNumber %s", f, start, stop)
	default:
		a.StopFragment = stop
	}
}

func (x *interp) s3(i int, r Recording) {
	f := fmt.Sprintf("Recordings[%d]", i)
	a := &x.req.Audio
	a.Kind = voicemail.AudioS3
	loc := r.Location
	if len(loc) >= 5 && strings.EqualFold(loc[:5], "s3://") {
		loc = loc[5:]
	}
	if bucket, key, ok := strings.Cut(loc, "/"); ok && bucket != "" && key != "" {
		a.Bucket, a.Key = bucket, key
	} else {
		x.fail("%s.Location %q is not \"<bucket>/<key>\"", f, r.Location)
	}
	if r.StartTimestamp.IsZero() {
		x.fail("%s.StartTimestamp is null (it is needed to find the voicemail in the IVR recording)", f)
	} else {
		a.RecordingStart = r.StartTimestamp
	}
	v, ok := x.attr("timestamp")
	if !ok || v == "" {
		x.fail("%stimestamp is missing (it marks where the voicemail starts in the IVR recording)", x.p)
		return
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		x.fail("%stimestamp %q is not a time (want RFC 3339, e.g. 2025-09-12T15:04:12Z)", x.p, v)
		return
	}
	a.VoicemailStart = t
}

func (x *interp) callTime(recStart time.Time) {
	switch {
	case !x.c.InitiationTimestamp.IsZero():
		x.req.CallTime = x.c.InitiationTimestamp
	case !recStart.IsZero():
		x.req.CallTime = recStart
	case !x.c.DisconnectTimestamp.IsZero():
		x.req.CallTime = x.c.DisconnectTimestamp
	default:
		x.fail("no call time: InitiationTimestamp, the recording's StartTimestamp and DisconnectTimestamp are null")
	}
}
