package ctr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"time"
)

// Recording storage types and participant types as Connect emits them.
const (
	StorageKVS = "KINESIS_VIDEO_STREAM"
	StorageS3  = "S3"

	ParticipantIVR      = "IVR"
	ParticipantCustomer = "CUSTOMER"
	ParticipantAgent    = "AGENT"
)

// ChannelVoice is the channel of a phone call.
const ChannelVoice = "VOICE"

// CTR is the part of an Amazon Connect contact record that vmx reads.
//
// JSON null is accepted for every field and leaves it zero; so does a
// missing field. String fields also accept a JSON number or boolean and keep
// its text. Timestamps must be RFC 3339 strings (any fractional precision),
// null or "".
type CTR struct {
	ContactID        string `json:"ContactId"`
	InitialContactID string `json:"InitialContactId"`
	InstanceARN      string `json:"InstanceARN"`
	Channel          string `json:"Channel"` // VOICE, CHAT, TASK…

	InitiationTimestamp time.Time `json:"InitiationTimestamp"`
	DisconnectTimestamp time.Time `json:"DisconnectTimestamp"`
	LastUpdateTimestamp time.Time `json:"LastUpdateTimestamp"`

	// Attributes are the contact's user-defined attributes. An attribute
	// whose value is null is left out; a number or boolean keeps its JSON
	// text.
	Attributes map[string]string `json:"Attributes"`

	// Agent is nil when the record's Agent is null or missing: no agent
	// joined the contact.
	Agent *Agent `json:"Agent"`

	Queue            Queue    `json:"Queue"`
	CustomerEndpoint Endpoint `json:"CustomerEndpoint"`
	SystemEndpoint   Endpoint `json:"SystemEndpoint"`

	// Recordings is nil when the record's Recordings is null or missing, and
	// empty but not nil when it is [].
	Recordings []Recording `json:"Recordings"`
}

// Agent is the agent a contact was connected to.
type Agent struct {
	ARN                       string    `json:"ARN"`
	Username                  string    `json:"Username"`
	ConnectedToAgentTimestamp time.Time `json:"ConnectedToAgentTimestamp"`
}

// Queue is the queue a contact was in.
type Queue struct {
	ARN  string `json:"ARN"`
	Name string `json:"Name"`
}

// Endpoint is a customer or system endpoint, e.g. a phone number.
type Endpoint struct {
	Address string `json:"Address"`
	Type    string `json:"Type"` // TELEPHONE_NUMBER…
}

// Recording is one element of a contact record's Recordings.
type Recording struct {
	// Location is "<bucket>/<key>" for S3 and the stream ARN for KVS.
	Location            string    `json:"Location"`
	StorageType         string    `json:"StorageType"`     // S3 or KINESIS_VIDEO_STREAM
	ParticipantType     string    `json:"ParticipantType"` // IVR, CUSTOMER, AGENT…
	MediaStreamType     string    `json:"MediaStreamType"` // AUDIO, VIDEO…
	Status              string    `json:"Status"`          // AVAILABLE, DELETED or empty
	DeletionReason      string    `json:"DeletionReason"`
	FragmentStartNumber string    `json:"FragmentStartNumber"` // KVS only; decimal
	FragmentStopNumber  string    `json:"FragmentStopNumber"`  // KVS only; decimal
	StartTimestamp      time.Time `json:"StartTimestamp"`
	StopTimestamp       time.Time `json:"StopTimestamp"`
}

// UnmarshalJSON decodes a contact record as Connect emits it; see [CTR].
// It does not require a ContactId (the intake readers do).
func (c *CTR) UnmarshalJSON(data []byte) error {
	var w wireCTR
	if err := json.Unmarshal(data, &w); err != nil {
		return fieldError(err)
	}
	var errs []error
	ts := func(field string, s text) time.Time {
		t, err := parseTime(string(s))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", field, err))
		}
		return t
	}
	out := CTR{
		ContactID:           string(w.ContactID),
		InitialContactID:    string(w.InitialContactID),
		InstanceARN:         string(w.InstanceARN),
		Channel:             string(w.Channel),
		InitiationTimestamp: ts("InitiationTimestamp", w.InitiationTimestamp),
		DisconnectTimestamp: ts("DisconnectTimestamp", w.DisconnectTimestamp),
		LastUpdateTimestamp: ts("LastUpdateTimestamp", w.LastUpdateTimestamp),
	}
	if w.Attributes != nil {
		out.Attributes = make(map[string]string, len(w.Attributes))
		for _, k := range slices.Sorted(maps.Keys(w.Attributes)) { // sorted: errors in a stable order
			var v *text
			if err := json.Unmarshal(w.Attributes[k], &v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", "Attributes."+k, fieldError(err))) // field names are capitalized
			} else if v != nil {
				out.Attributes[k] = string(*v)
			}
		}
	}
	if w.Agent != nil {
		out.Agent = &Agent{
			ARN:                       string(w.Agent.ARN),
			Username:                  string(w.Agent.Username),
			ConnectedToAgentTimestamp: ts("Agent.ConnectedToAgentTimestamp", w.Agent.ConnectedToAgentTimestamp),
		}
	}
	if w.Queue != nil {
		out.Queue = Queue{ARN: string(w.Queue.ARN), Name: string(w.Queue.Name)}
	}
	if w.CustomerEndpoint != nil {
		out.CustomerEndpoint = Endpoint{Address: string(w.CustomerEndpoint.Address), Type: string(w.CustomerEndpoint.Type)}
	}
	if w.SystemEndpoint != nil {
		out.SystemEndpoint = Endpoint{Address: string(w.SystemEndpoint.Address), Type: string(w.SystemEndpoint.Type)}
	}
	if w.Recordings != nil {
		out.Recordings = make([]Recording, len(w.Recordings))
		for i, r := range w.Recordings {
			if r == nil {
				continue // a null element stays a zero Recording
			}
			p := fmt.Sprintf("Recordings[%d].", i)
			out.Recordings[i] = Recording{
				Location:            string(r.Location),
				StorageType:         string(r.StorageType),
				ParticipantType:     string(r.ParticipantType),
				MediaStreamType:     string(r.MediaStreamType),
				Status:              string(r.Status),
				DeletionReason:      string(r.DeletionReason),
				FragmentStartNumber: string(r.FragmentStartNumber),
				FragmentStopNumber:  string(r.FragmentStopNumber),
				StartTimestamp:      ts(p+"StartTimestamp", r.StartTimestamp),
				StopTimestamp:       ts(p+"StopTimestamp", r.StopTimestamp),
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	*c = out
	return nil
}

// wireCTR mirrors the JSON of a contact record. Objects are pointers so
// that null and a missing field decode alike.
type wireCTR struct {
	ContactID           text                       `json:"ContactId"`
	InitialContactID    text                       `json:"InitialContactId"`
	InstanceARN         text                       `json:"InstanceARN"`
	Channel             text                       `json:"Channel"`
	InitiationTimestamp text                       `json:"InitiationTimestamp"`
	DisconnectTimestamp text                       `json:"DisconnectTimestamp"`
	LastUpdateTimestamp text                       `json:"LastUpdateTimestamp"`
	Attributes          map[string]json.RawMessage `json:"Attributes"`
	Agent               *struct {
		ARN                       text `json:"ARN"`
		Username                  text `json:"Username"`
		ConnectedToAgentTimestamp text `json:"ConnectedToAgentTimestamp"`
	} `json:"Agent"`
	Queue *struct {
		ARN  text `json:"ARN"`
		Name text `json:"Name"`
	} `json:"Queue"`
	CustomerEndpoint *wireEndpoint    `json:"CustomerEndpoint"`
	SystemEndpoint   *wireEndpoint    `json:"SystemEndpoint"`
	Recordings       []*wireRecording `json:"Recordings"`
}

type wireEndpoint struct {
	Address text `json:"Address"`
	Type    text `json:"Type"`
}

type wireRecording struct {
	Location            text `json:"Location"`
	StorageType         text `json:"StorageType"`
	ParticipantType     text `json:"ParticipantType"`
	MediaStreamType     text `json:"MediaStreamType"`
	Status              text `json:"Status"`
	DeletionReason      text `json:"DeletionReason"`
	FragmentStartNumber text `json:"FragmentStartNumber"`
	FragmentStopNumber  text `json:"FragmentStopNumber"`
	StartTimestamp      text `json:"StartTimestamp"`
	StopTimestamp       text `json:"StopTimestamp"`
}

// text is a JSON string, or the text of a number or boolean; null leaves it
// unchanged. Objects and arrays are type errors.
type text string

func (t *text) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*t = text(s)
	case 'n': // null
	case '{':
		return &json.UnmarshalTypeError{Value: "object", Type: reflect.TypeFor[string]()}
	case '[':
		return &json.UnmarshalTypeError{Value: "array", Type: reflect.TypeFor[string]()}
	default: // number, true, false
		*t = text(data)
	}
	return nil
}

// fieldError rewords encoding/json's type errors, which name the
// unexported wire structs, as "Field: cannot be a JSON object" (without
// "Field: " for the value itself).
func fieldError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Errorf("cannot be a JSON %s", te.Value)
		}
		return fmt.Errorf("%s: cannot be a JSON %s", te.Field, te.Value)
	}
	return err
}

// parseTime parses a Connect timestamp; "" is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s is not an RFC 3339 time", strconv.Quote(s))
	}
	return t, nil
}
