// Package ctr reads Amazon Connect contact records (CTRs) and decides which
// of them are voicemails.
//
// Intake is two steps:
//
//   - [Parse] and [Reader] decode what arrives: a single contact record, a
//     Kinesis Data Streams Lambda event whose base64 records hold contact
//     records (one JSON object or NDJSON each), NDJSON of contact records or
//     of events, a JSON array of them, or a stream of pretty-printed JSON
//     documents. Every contact record found becomes an [Item]; an item that
//     cannot be decoded carries an [*Error] naming where it was (line, array
//     element, Kinesis record and event ID) and does not stop the others.
//   - [Interpret] turns one [CTR] into a [Result]: a [voicemail.Request] to
//     process, a record to ignore (no voicemail flag, a flag other than "1",
//     a contact an agent answered, a channel other than voice), or an invalid
//     voicemail whose flag is "1" but which cannot be processed, with a
//     specific reason for each problem and the request fields that could be
//     filled, so it can be stored as failed.
//
// Three generations of Voicemail Express attributes are understood: vm_
// (VMX1), vmx_ (VMX2) and vmx3_ (VMX3). [Config.Prefixes] says which are
// accepted and, when a record carries flags of several, which wins.
//
// Unlike Voicemail Express, Interpret never assumes that Recordings[0] is the
// voicemail's recording, falls back to documented defaults where VMX raised
// KeyErrors (language, mode, queue), and reports an empty mode attribute
// instead of crashing on it.
package ctr
