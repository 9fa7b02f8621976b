// Package recording records Amazon Connect calls from their live Kinesis
// video stream: the customer's side (AUDIO_FROM_CUSTOMER), what the
// customer hears (AUDIO_TO_CUSTOMER) and optionally both in one stereo
// file, stored as WAV files in the blob store, with a contact details row
// (contact, customer number, date and time) in the database and, if asked,
// a transcript of each side. It re-implements Amazon Connect's
// "IVR recording" sample (kvsConsumerTrigger and kvsTranscriber).
//
// A recording starts with POST /v1/recordings ([Recorder.Handler]) or a
// Lambda invocation ([Recorder.HandleLambda]) and follows the stream with
// kvs.Client.ReadLive, which survives the end of GetMedia sessions. It
// ends when a fragment of another contact arrives (Connect reuses its
// streams), when the stream stops bringing fragments, on a stop request,
// or at Config.MaxDuration. Fragments go through package extract, which
// keeps only the contact's audio and routes each track by name.
//
// Memory stays flat: each side's PCM goes to a file under Config.TempDir
// as it arrives and is streamed, with a WAV header, into the blob store
// at the end. Transcription cuts each side into utterances with voice
// activity detection as the call goes on and transcribes each utterance
// with the engine; its segments are stored as they come.
//
// Each recording is a goroutine of the Recorder, at most
// Config.MaxConcurrent at once. It is not a River job: River takes a job
// running longer than its rescue time (minutes) for dead and runs it
// again, while a call lasts up to hours. Durability comes instead from a
// checkpoint: every Config.CheckpointInterval the recording syncs its temp
// files and saves in its database row the last fragment whose audio they
// hold, their lengths, and a heartbeat. When vmx stops, running
// recordings save a final checkpoint; when it crashes, the last one
// stands. [Recorder.Run] finds recordings whose temp files are in its
// TempDir and whose heartbeat is older than Config.ResumeAfter, takes
// them over, cuts the files back to the checkpoint and reads on after its
// fragment, so the stored audio has neither a hole nor a repeat (if the
// stream still holds those fragments: KVS must retain data). What is
// lost: the audio arriving while vmx is down is read late, from KVS's
// archive; an utterance being transcribed at the crash is not
// transcribed. A recording whose files are on a machine that never comes
// back is failed after Config.AbandonAfter. A recording whose read ended
// but whose files could not be stored is retried the same way.
//
// A Lambda invocation records within the invocation: its deadline less
// Config.LambdaMargin ends the read, and the files are stored before it
// returns. Its temp files do not outlive it, so it cannot be resumed.
package recording
