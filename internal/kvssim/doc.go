// Package kvssim is a local HTTP server that behaves like Amazon Kinesis
// Video Streams for the four APIs vmx uses: GetDataEndpoint, GetMedia,
// ListFragments and GetMediaForFragmentList.
//
// A [Server] holds named streams. A stream is built from parts ([Source]):
// a raw GetMedia capture (an .mkv file, served byte for byte), or the PCM of
// one Amazon Connect contact, cut into fragments in Connect's byte layout
// with deterministic fragment numbers and timestamps. Several parts may
// follow each other on one stream, as Connect reuses its streams.
//
// The wire format is AWS rest-json: POST requests with JSON bodies, signed
// with SigV4 for the service "kinesisvideo". Errors carry the status code,
// the x-amzn-ErrorType header and a {"message": …} body as KVS sends them;
// media responses are streamed chunk by chunk. With [Options.Pace] the
// server plays a stream in (scaled) real time, and fault injection
// ([Server.FailNext]) and a session byte limit let client tests exercise
// retries and reconnection.
//
// The server is for tests, demos and local runs; it keeps everything in
// memory.
package kvssim
