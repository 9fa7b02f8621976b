// Package mkv reads and writes the Matroska (EBML) byte streams that Kinesis
// Video Streams returns from GetMedia and GetMediaForFragmentList.
//
// Such a stream is a concatenation of chunks, one per KVS fragment, each a
// complete EBML header followed by a Segment. [FragmentReader] walks the stream
// element by element, driven only by declared sizes (it never searches for magic
// bytes), and yields one [Fragment] at a time: its tracks, every SimpleTag
// wherever it stands, its cluster timecode and its blocks. Memory is bounded by
// one fragment whatever the length of the stream.
//
// [WriteConnectFragment] writes fragments in the exact byte layout Amazon
// Connect produces, for the KVS simulator and for tests.
package mkv
