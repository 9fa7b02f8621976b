package live

import (
	"time"

	"github.com/vmx-dev/vmx/internal/store"
)

// Roles of a conversation's participants.
const (
	RoleCustomer = "customer" // AUDIO_FROM_CUSTOMER
	RoleAgent    = "agent"    // AUDIO_TO_CUSTOMER
)

// Message is a transcript message: one utterance of one participant, as
// POSTed to targets and returned after the call.
type Message struct {
	Type                   string     `json:"type"` // "transcript"
	ExternalConversationID string     `json:"externalConversationId"`
	StreamID               string     `json:"streamId"`
	Sender                 Sender     `json:"sender"`
	Response               Transcript `json:"autotranscribeResponse"`
	// Timestamp is when the utterance was transcribed; the after-call API
	// and the export set it, webhook POSTs leave it out.
	Timestamp *time.Time `json:"timestamp,omitempty"`
}

// Sender is the participant who spoke.
type Sender struct {
	ExternalID string `json:"externalId"`
	Role       string `json:"role"`
}

// Transcript is the utterance.
type Transcript struct {
	Message string `json:"message"` // "transcript"
	// StartMS and EndMS are the utterance's start and end in milliseconds
	// from the start of the participant's stream.
	StartMS   int64  `json:"start"`
	EndMS     int64  `json:"end"`
	Utterance []Text `json:"utterance"`
}

// Text is the transcribed text of an utterance.
type Text struct {
	Text string `json:"text"`
}

// messageOf turns a stored message into its JSON form, with its Timestamp.
func messageOf(m *store.LiveMessage) Message {
	ts := m.CreatedAt
	return Message{
		Type:                   "transcript",
		ExternalConversationID: m.GUID,
		StreamID:               m.StreamID,
		Sender:                 Sender{ExternalID: m.ExternalID, Role: m.Role},
		Response: Transcript{
			Message:   "transcript",
			StartMS:   m.StartMS,
			EndMS:     m.EndMS,
			Utterance: []Text{{Text: m.Text}},
		},
		Timestamp: &ts,
	}
}
