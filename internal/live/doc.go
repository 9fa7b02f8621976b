// Package live transcribes Amazon Connect calls while they happen: vmx's
// live transcription API, shaped after the AutoTranscribe start/stop API for
// Amazon Connect.
//
// POST /mg-autotranscribe/v1/start-streaming names a call (guid, the
// Connect contact ID) and its Kinesis video stream. The [Service] follows the
// stream live (kvs.Client.ReadLive, resuming across GetMedia sessions),
// splits each fragment into the customer's audio (AUDIO_FROM_CUSTOMER) and
// the agent's (AUDIO_TO_CUSTOMER), finds utterances in each with voice
// activity detection, decodes each utterance whole with the configured
// speech engine, masks digit runs (on by default) and POSTs one transcript
// message per utterance to every configured target. POST
// /mg-autotranscribe/v1/stop-streaming ends the transcription and returns
// what was streamed.
//
// Replicas sharing the store share the conversations through their rows:
// the replica transcribing a call keeps a heartbeat on its row (the row's
// version, UpdatedAt, with the counts so far) and stops when a
// stop-streaming that reached another replica marks the row stopping; that
// replica answers with the summary stored. A start on another replica
// returns the same streams. A row whose heartbeat went stale belongs to a
// dead replica: a stop marks it stopped, a start takes it over.
//
// Every message is also stored: GET /conversation/v1/conversation/messages
// returns a conversation's messages after the call, and the export returns
// all messages of a time interval as JSON lines, also written once a day to
// the blob store as a file feed.
//
// Delivery to targets is at most once, as the seed API promises: each target
// has a bounded queue; when the target is too slow the oldest pending
// messages are dropped first, and a failed POST is recorded and counted,
// never retried.
package live
