// Package voicemail holds the domain types shared by intake, storage, the
// pipeline and the API: what a contact record asks for (Request) and what
// vmx knows of a voicemail as it is processed (Record).
package voicemail

import (
	"context"
	"io"
	"time"
)

// Request is a voicemail as a contact record describes it: the contact,
// where its audio is, and the attributes that steer delivery.
type Request struct {
	ContactID  string    `json:"contact_id"`
	InstanceID string    `json:"instance_id"`
	Prefix     string    `json:"prefix"`    // attribute prefix the contact used: vm_, vmx_ or vmx3_
	QueueARN   string    `json:"queue_arn"` // the queue, or an agent's personal queue
	AgentID    string    `json:"agent_id,omitempty"`
	Target     string    `json:"target,omitempty"`          // "queue" or "agent" (vmx3_target)
	Preferred  string    `json:"preferred_agent,omitempty"` // agent username (vmx3_preferred_agent)
	Caller     string    `json:"caller"`                    // E.164
	Language   string    `json:"language"`                  // Transcribe language code
	Mode       string    `json:"mode"`                      // delivery modes, comma separated
	CallTime   time.Time `json:"call_time"`                 // when the call began; dates storage keys
	// Attributes are all contact attributes of the record, unchanged.
	Attributes map[string]string `json:"attributes"`
	Audio      AudioSource       `json:"audio"`
}

// Audio source kinds.
const (
	AudioKVS = "kvs" // a KINESIS_VIDEO_STREAM recording
	AudioS3  = "s3"  // an IVR recording in S3 (Voicemail Express 2025)
)

// AudioSource says where a voicemail's audio is.
type AudioSource struct {
	Kind string `json:"kind"`
	// KVS: the stream and the contact's fragment and time range.
	StreamARN     string    `json:"stream_arn,omitempty"`
	StartFragment string    `json:"start_fragment,omitempty"`
	StopFragment  string    `json:"stop_fragment,omitempty"`
	StartTime     time.Time `json:"start_time,omitzero"`
	StopTime      time.Time `json:"stop_time,omitzero"`
	// S3: the IVR recording, when it started, and where the voicemail
	// starts in it (the *_timestamp attribute).
	Bucket         string    `json:"bucket,omitempty"`
	Key            string    `json:"key,omitempty"`
	RecordingStart time.Time `json:"recording_start,omitzero"`
	VoicemailStart time.Time `json:"voicemail_start,omitzero"`
}

// Status is where a voicemail stands.
type Status string

const (
	StatusQueued    Status = "queued"    // accepted; the pipeline has work to do
	StatusDelivered Status = "delivered" // every destination has it and the flag is reset
	StatusFailed    Status = "failed"    // invalid, or a step gave up; Error says why
	StatusEmpty     Status = "empty"     // no speech, and empty voicemails are not delivered
)

// Steps of the pipeline, in order.
const (
	StepAudio      = "audio"
	StepTranscribe = "transcribe"
	// StepPackage looks the queue and agent up, writes the summary, finds
	// a spoken callback number and fans the deliveries out.
	StepPackage  = "package"
	StepDeliver  = "deliver"
	StepFinalize = "finalize"
	// StepRoute is the time vmx packaged a voicemail before packaging was
	// a step of its own (it was part of transcribe): a voicemail with it is
	// packaged. It is read, never written.
	StepRoute = "route"
)

// Record is what vmx stores of a voicemail.
type Record struct {
	Request
	Status     Status `json:"status"`
	Error      string `json:"error,omitempty"` // why it failed
	FailedStep string `json:"failed_step,omitempty"`
	// Run counts the times the pipeline was started for the voicemail:
	// 1, and one more for each replay of a failed voicemail.
	Run   int                  `json:"run"`
	Steps map[string]time.Time `json:"steps"` // completion time of each step
	// StepErrors keep, by step, the last failed attempt of each step
	// ("deliver:<sink>" for each destination): history, kept when a later
	// attempt succeeds. Steps says whether the step is done.
	StepErrors map[string]StepError `json:"step_errors,omitempty"`
	AudioKey   string               `json:"audio_key,omitempty"`
	DurationMS int64                `json:"duration_ms"`
	AudioSHA   string               `json:"audio_sha256,omitempty"`
	Transcript string               `json:"transcript,omitempty"`
	// Empty is set when the recording holds no speech: the caller hung up
	// without speaking.
	Empty bool `json:"empty"`
	// SpeechStartMS and SpeechEndMS bound the speech in the recording,
	// leading and trailing silence left out; both 0 when none was found.
	SpeechStartMS int64 `json:"speech_start_ms"`
	SpeechEndMS   int64 `json:"speech_end_ms"`
	// SpokenNumber is a callback number the caller said, as digits.
	SpokenNumber string `json:"spoken_number,omitempty"`
	// Summary is a generated summary of the transcript, when enabled.
	Summary string `json:"summary,omitempty"`
	// Route is the queue and agent the voicemail is for, as found in
	// Amazon Connect before delivery.
	Route Route `json:"route"`
	// Warnings are problems that did not stop delivery: an agent not
	// found and the voicemail routed to the queue, a summary that failed…
	Warnings  []string  `json:"warnings,omitempty"`
	Receipts  []Receipt `json:"receipts"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// StepError is a failed attempt of a step.
type StepError struct {
	Error   string    `json:"error"`
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
}

// Route is where a voicemail goes in the contact centre. Names and e-mail
// addresses are empty when they could not be looked up.
type Route struct {
	QueueARN      string `json:"queue_arn,omitempty"`
	QueueName     string `json:"queue_name,omitempty"`
	QueueEmail    string `json:"queue_email,omitempty"`
	AgentID       string `json:"agent_id,omitempty"` // set when the voicemail is for one agent
	AgentUsername string `json:"agent_username,omitempty"`
	AgentName     string `json:"agent_name,omitempty"` // first and last name
	AgentEmail    string `json:"agent_email,omitempty"`
}

// Receipt records one delivery to one destination.
type Receipt struct {
	Sink        string    `json:"sink"`
	Key         string    `json:"key"`    // idempotency key the destination saw
	Detail      string    `json:"detail"` // task id, message id, HTTP status…
	DeliveredAt time.Time `json:"delivered_at"`
}

// Delivery is what a destination receives of a voicemail.
type Delivery struct {
	Record Record
	// MediaURL is a link to the recording that keeps working as long as the
	// recording is retained.
	MediaURL string
	// ReceivedAt is the call time in the contact centre's time zone: the
	// time shown to people.
	ReceivedAt time.Time
	// OpenAudio opens the stored WAV, for destinations that attach it.
	OpenAudio func(ctx context.Context) (io.ReadCloser, error)
}
