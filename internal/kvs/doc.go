// Package kvs reads Amazon Connect call audio out of Kinesis Video Streams.
//
// The AWS SDK for Go v2 has no usable client for the KVS media APIs in this
// build (the kinesisvideomedia and kinesisvideoarchivedmedia modules are not
// available), so [Client] calls GetMedia, ListFragments and
// GetMediaForFragmentList itself: JSON requests signed with SigV4 for the
// service "kinesisvideo", sent to the data endpoint that the SDK's
// GetDataEndpoint returns. Data endpoints are cached per stream and API and
// fetched again when a call suggests they went stale.
//
// Two readers yield [mkv.Fragment] values one at a time:
//
//   - [Client.ReadRange] reads a finished contact by fragment and time range
//     (ListFragments, then GetMediaForFragmentList in batches).
//   - [Client.ReadLive] follows a stream with GetMedia and survives the end of
//     a GetMedia session: it resumes after the last complete fragment, drops
//     what it already delivered and replaces a fragment cut by the break with
//     its whole re-delivery.
//
// Neither reader filters by ContactId: streams are reused across contacts,
// and that decision belongs to the caller, which sees every tag.
package kvs
