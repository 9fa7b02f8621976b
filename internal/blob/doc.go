// Package blob stores recordings and transcripts as named objects: in a
// directory tree (Local) or in an S3 bucket on AWS or any S3-compatible
// server (S3).
//
// Both implement Store, a consumer-sized surface: Put streams an object in,
// Open streams it out, Stat, Delete and List do what their names say. Keys are
// slash-separated paths such as "recordings/2025/09/13/<contactId>.wav"
// (RecordingKey); a missing key is reported as ErrNotFound by every
// implementation.
//
// Capabilities beyond Store are found by type assertion, as io.Copy finds
// io.WriterTo: RangeOpener reads part of an object (S3 with a ranged GET,
// Local by seeking), SeekOpener hands out a seekable file for
// http.ServeContent (Local), and Presigner makes a short-lived URL that a
// browser can fetch directly (S3).
//
// The conformance suite in package blobtest runs against every
// implementation.
package blob
