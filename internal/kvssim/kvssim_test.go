package kvssim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo"
	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"

	"github.com/vmx-dev/vmx/internal/mkv"
	"github.com/vmx-dev/vmx/internal/wav"
)

func sdkClient(base string, creds Credentials) *kinesisvideo.Client {
	return kinesisvideo.New(kinesisvideo.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(base),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey}, nil
		}),
		RetryMaxAttempts: 1,
	})
}

// TestGetDataEndpointSDK drives GetDataEndpoint with the real SDK client,
// whose signatures the server verifies, and checks that the SDK decodes
// the server's errors into its typed exceptions.
func TestGetDataEndpointSDK(t *testing.T) {
	s, _ := pcmServer(t, Options{Credentials: &testCreds}, 1)
	base := serve(t, s)
	arn, err := s.StreamARN("s")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	client := sdkClient(base, testCreds)

	for _, in := range []*kinesisvideo.GetDataEndpointInput{
		{StreamName: aws.String("s"), APIName: types.APINameGetMedia},
		{StreamARN: aws.String(arn), APIName: types.APINameListFragments},
	} {
		out, err := client.GetDataEndpoint(ctx, in)
		if err != nil {
			t.Fatalf("GetDataEndpoint: %v", err)
		}
		if got := aws.ToString(out.DataEndpoint); got != base {
			t.Fatalf("DataEndpoint = %q, want %q", got, base)
		}
	}

	_, err = client.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("nope"), APIName: types.APINameGetMedia})
	var rnf *types.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("unknown stream: err = %v, want ResourceNotFoundException", err)
	}

	_, err = sdkClient(base, Credentials{AccessKeyID: testCreds.AccessKeyID, SecretAccessKey: "wrong"}).
		GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("s"), APIName: types.APINameGetMedia})
	var na *types.NotAuthorizedException
	if !errors.As(err, &na) {
		t.Fatalf("wrong secret: err = %v, want NotAuthorizedException", err)
	}

	s.FailNext(APIGetDataEndpoint, "ClientLimitExceededException", 1)
	_, err = client.GetDataEndpoint(ctx, &kinesisvideo.GetDataEndpointInput{StreamName: aws.String("s"), APIName: types.APINameGetMedia})
	var cle *types.ClientLimitExceededException
	if !errors.As(err, &cle) {
		t.Fatalf("injected fault: err = %v, want ClientLimitExceededException", err)
	}
}

// TestGetMediaCaptureExact serves every capture fixture and requires
// GetMedia from EARLIEST to return exactly the captured bytes.
func TestGetMediaCaptureExact(t *testing.T) {
	for _, name := range []string{
		"synthetic/connect_voicemail_ca_layout.mkv",
		"synthetic/connect_voicemail_nn_layout.mkv",
		"synthetic/connect_stream_reuse.mkv",
		"synthetic/connect_gap_truncated_tail.mkv",
		"synthetic/gmffl_with_error_chunk.mkv",
		"real/test_mixed_tags.mkv",
		"real/output-get-media-equal-timecode.mkv",
	} {
		t.Run(name, func(t *testing.T) {
			data := readFixture(t, name)
			s := New(Options{})
			if err := s.AddStream("cap", FromCapture(data)); err != nil {
				t.Fatal(err)
			}
			base := serve(t, s)
			resp := call(t, base, "getMedia", map[string]any{"StreamName": "cap", "StartSelector": map[string]any{"StartSelectorType": "EARLIEST"}}, &testCreds)
			got := readAll(t, resp)
			if ct := resp.Header.Get("Content-Type"); ct != "video/webm" {
				t.Errorf("Content-Type %q", ct)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("GetMedia returned %d bytes, capture has %d", len(got), len(data))
			}
		})
	}
}

// TestCaptureRejected: captures the server cannot index are errors.
func TestCaptureRejected(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":            nil,
		"not mkv":          []byte("hello, world"),
		"no fragment nums": readFixture(t, "real/test_tags_empty_cluster.mkv"),
	} {
		t.Run(name, func(t *testing.T) {
			if err := New(Options{}).AddStream("x", FromCapture(data)); err == nil {
				t.Fatal("AddStream succeeded")
			}
		})
	}
}

// TestWAVRoundTrip turns WAV files into streams and requires the tracks of
// the GetMedia response to equal the WAV's PCM byte for byte.
func TestWAVRoundTrip(t *testing.T) {
	const frag = 16384 // bytes of one track in a 1,024 ms fragment
	tests := []struct {
		name       string
		channels   int
		samples    int // per channel
		contact    Contact
		wantFrags  int
		lastFromMS int64
	}{
		{"mono exact", 1, 3 * frag / 2, Contact{}, 3, 1024},
		{"mono odd", 1, 2*frag/2 + 3, Contact{ContactID: "c-mono"}, 3, 0},
		{"stereo odd NN", 2, 5*frag/2 + 1001, Contact{Layout: mkv.LayoutNN, FromFirst: true}, 6, 125},
		{"stereo 500ms", 2, 8000, Contact{FragmentDuration: 500 * time.Millisecond}, 2, 500},
		{"single sample", 1, 1, Contact{}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.samples * 2
			from, to := pcm(n, 3), pcm(n, 4)
			data := from
			if tc.channels == 2 {
				data = make([]byte, 0, 2*n)
				for i := 0; i < n; i += 2 {
					data = append(data, from[i:i+2]...)
					data = append(data, to[i:i+2]...)
				}
			} else {
				to = make([]byte, n)
			}
			src, err := FromWAV(bytes.NewReader(makeWAV(t, wav.Format{SampleRate: 8000, Channels: tc.channels, BitsPerSample: 16}, data)), tc.contact)
			if err != nil {
				t.Fatal(err)
			}
			s := New(Options{})
			if err := s.AddStream("w", src); err != nil {
				t.Fatal(err)
			}
			base := serve(t, s)
			frags := parseMedia(t, readAll(t, call(t, base, "getMedia", map[string]any{"StreamName": "w", "StartSelector": map[string]any{"StartSelectorType": "EARLIEST"}}, &testCreds)))
			if len(frags) != tc.wantFrags {
				t.Fatalf("%d fragments, want %d", len(frags), tc.wantFrags)
			}
			var gotFrom, gotTo []byte
			contact := frags[0].contact
			for i, f := range frags {
				gotFrom = append(gotFrom, f.from...)
				gotTo = append(gotTo, f.to...)
				if !f.complete || f.token != f.number {
					t.Errorf("fragment %d: complete %v, token %q, number %q", i, f.complete, f.token, f.number)
				}
				if f.contact != contact || contact == "" {
					t.Errorf("fragment %d: contact %q, first was %q", i, f.contact, contact)
				}
				if f.fromFirst != tc.contact.FromFirst || f.hasEvents != (tc.contact.Layout == mkv.LayoutNN) {
					t.Errorf("fragment %d: fromFirst %v, Events tag %v: layout not applied", i, f.fromFirst, f.hasEvents)
				}
			}
			if tc.contact.ContactID != "" && contact != tc.contact.ContactID {
				t.Errorf("contact %q, want %q", contact, tc.contact.ContactID)
			}
			if !bytes.Equal(gotFrom, from) || !bytes.Equal(gotTo, to) {
				t.Fatalf("round trip differs: FROM %d/%d bytes, TO %d/%d bytes", len(gotFrom), len(from), len(gotTo), len(to))
			}
			infos, _ := s.Fragments("w")
			last := infos[len(infos)-1]
			if got := last.Duration.Milliseconds(); got != tc.lastFromMS && tc.lastFromMS != 0 {
				t.Errorf("last fragment lasts %d ms, want %d", got, tc.lastFromMS)
			}
		})
	}
}

// TestWAVRejected: only 8 kHz 16-bit mono or stereo PCM is accepted.
func TestWAVRejected(t *testing.T) {
	for _, f := range []wav.Format{
		{SampleRate: 16000, Channels: 1, BitsPerSample: 16},
		{SampleRate: 8000, Channels: 1, BitsPerSample: 8},
		{SampleRate: 8000, Channels: 3, BitsPerSample: 16},
	} {
		t.Run(fmt.Sprintf("%dHz_%dbit_%dch", f.SampleRate, f.BitsPerSample, f.Channels), func(t *testing.T) {
			_, err := FromWAV(bytes.NewReader(makeWAV(t, f, make([]byte, 48))), Contact{})
			if err == nil || !strings.Contains(err.Error(), "8000 Hz 16-bit mono or stereo") {
				t.Fatalf("err = %v, want a format error", err)
			}
		})
	}
	if _, err := FromWAV(strings.NewReader("RIFF nope"), Contact{}); err == nil {
		t.Fatal("garbage accepted")
	}
}

// TestFragmentNumbers: numbers have 47 digits and grow by about 2^92, and
// server time trails producer time by about 180 ms.
func TestFragmentNumbers(t *testing.T) {
	_, infos := pcmServer(t, Options{}, 5)
	stride := new(big.Int).Lsh(big.NewInt(1), 92)
	for i, f := range infos {
		if len(f.Number) != 47 {
			t.Errorf("fragment %d: %d digits", i, len(f.Number))
		}
		if lag := f.Server.Sub(f.Producer); lag < 170*time.Millisecond || lag > 210*time.Millisecond {
			t.Errorf("fragment %d: server - producer = %v", i, lag)
		}
		if want := DefaultStart().Add(time.Duration(i) * 1024 * time.Millisecond); !f.Producer.Equal(want) {
			t.Errorf("fragment %d: producer %v, want %v", i, f.Producer, want)
		}
		if i == 0 {
			continue
		}
		a, _ := new(big.Int).SetString(infos[i-1].Number, 10)
		b, _ := new(big.Int).SetString(f.Number, 10)
		d := new(big.Int).Sub(b, a)
		if d.Cmp(stride) < 0 || d.Cmp(new(big.Int).Add(stride, big.NewInt(1<<40))) > 0 {
			t.Errorf("fragment %d: step %s, want 2^92 + noise", i, d)
		}
	}
	_, again := pcmServer(t, Options{}, 5)
	if !slices.Equal(infoNumbers(infos), infoNumbers(again)) {
		t.Error("fragment numbers are not deterministic")
	}
}

// TestStartSelectors checks every GetMedia start selector and its errors.
func TestStartSelectors(t *testing.T) {
	s, f := pcmServer(t, Options{}, 5)
	inclusive, _ := pcmServer(t, Options{FragmentNumberInclusive: true}, 5)
	base, baseIncl := serve(t, s), serve(t, inclusive)
	sec := func(tm time.Time) json.Number {
		return json.Number(fmt.Sprintf("%d.%03d", tm.Unix(), tm.Nanosecond()/1e6))
	}
	arn, _ := s.StreamARN("s")

	tests := []struct {
		name string
		base string
		sel  map[string]any
		ref  map[string]any
		want []int // fragment indexes
	}{
		{"EARLIEST", base, map[string]any{"StartSelectorType": "EARLIEST"}, nil, []int{0, 1, 2, 3, 4}},
		{"EARLIEST by ARN", base, map[string]any{"StartSelectorType": "EARLIEST"}, map[string]any{"StreamARN": arn}, []int{0, 1, 2, 3, 4}},
		{"NOW archived", base, map[string]any{"StartSelectorType": "NOW"}, nil, []int{4}},
		{"FRAGMENT_NUMBER after", base, map[string]any{"StartSelectorType": "FRAGMENT_NUMBER", "AfterFragmentNumber": f[1].Number}, nil, []int{2, 3, 4}},
		{"FRAGMENT_NUMBER inclusive", baseIncl, map[string]any{"StartSelectorType": "FRAGMENT_NUMBER", "AfterFragmentNumber": f[1].Number}, nil, []int{1, 2, 3, 4}},
		{"FRAGMENT_NUMBER last", base, map[string]any{"StartSelectorType": "FRAGMENT_NUMBER", "AfterFragmentNumber": f[4].Number}, nil, nil},
		{"PRODUCER_TIMESTAMP inside", base, map[string]any{"StartSelectorType": "PRODUCER_TIMESTAMP", "StartTimestamp": sec(f[2].Producer.Add(500 * time.Millisecond))}, nil, []int{2, 3, 4}},
		{"PRODUCER_TIMESTAMP before all", base, map[string]any{"StartSelectorType": "PRODUCER_TIMESTAMP", "StartTimestamp": 1}, nil, []int{0, 1, 2, 3, 4}},
		{"PRODUCER_TIMESTAMP exponent", base, map[string]any{"StartSelectorType": "PRODUCER_TIMESTAMP", "StartTimestamp": json.Number(fmt.Sprintf("%.12E", float64(f[3].Producer.UnixMilli())/1000))}, nil, []int{3, 4}},
		{"SERVER_TIMESTAMP", base, map[string]any{"StartSelectorType": "SERVER_TIMESTAMP", "StartTimestamp": sec(f[3].Server.Add(50 * time.Millisecond))}, nil, []int{3, 4}},
		{"CONTINUATION_TOKEN", base, map[string]any{"StartSelectorType": "CONTINUATION_TOKEN", "ContinuationToken": f[0].Number}, nil, []int{1, 2, 3, 4}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := map[string]any{"StreamName": "s", "StartSelector": tc.sel}
			if tc.ref != nil {
				req = map[string]any{"StartSelector": tc.sel}
				for k, v := range tc.ref {
					req[k] = v
				}
			}
			got := numbers(parseMedia(t, readAll(t, call(t, tc.base, "getMedia", req, &testCreds))))
			var want []string
			for _, i := range tc.want {
				want = append(want, f[i].Number)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("got fragments %v\nwant %v", got, want)
			}
		})
	}

	for _, tc := range []struct {
		name string
		req  map[string]any
	}{
		{"no selector", map[string]any{"StreamName": "s"}},
		{"no type", map[string]any{"StreamName": "s", "StartSelector": map[string]any{}}},
		{"bad type", map[string]any{"StreamName": "s", "StartSelector": map[string]any{"StartSelectorType": "LATEST"}}},
		{"no number", map[string]any{"StreamName": "s", "StartSelector": map[string]any{"StartSelectorType": "FRAGMENT_NUMBER"}}},
		{"bad number", map[string]any{"StreamName": "s", "StartSelector": map[string]any{"StartSelectorType": "FRAGMENT_NUMBER", "AfterFragmentNumber": "12x"}}},
		{"no timestamp", map[string]any{"StreamName": "s", "StartSelector": map[string]any{"StartSelectorType": "SERVER_TIMESTAMP"}}},
		{"unknown token", map[string]any{"StreamName": "s", "StartSelector": map[string]any{"StartSelectorType": "CONTINUATION_TOKEN", "ContinuationToken": "123"}}},
		{"no stream", map[string]any{"StartSelector": map[string]any{"StartSelectorType": "EARLIEST"}}},
		{"bad stream name", map[string]any{"StreamName": "a b", "StartSelector": map[string]any{"StartSelectorType": "EARLIEST"}}},
		{"bad ARN", map[string]any{"StreamARN": "s", "StartSelector": map[string]any{"StartSelectorType": "EARLIEST"}}},
		{"name and ARN differ", map[string]any{"StreamName": "t", "StreamARN": arn, "StartSelector": map[string]any{"StartSelectorType": "EARLIEST"}}},
	} {
		t.Run("error "+tc.name, func(t *testing.T) {
			wantError(t, call(t, base, "getMedia", tc.req, &testCreds), http.StatusBadRequest, "InvalidArgumentException")
		})
	}
}

// TestListFragments checks filtering, pagination and the unordered,
// deterministic order.
func TestListFragments(t *testing.T) {
	s, f := pcmServer(t, Options{}, 25)
	base := serve(t, s)
	sec := func(tm time.Time) float64 { return float64(tm.UnixMilli()) / 1000 }

	type listed struct {
		Fragments []struct {
			FragmentNumber               string
			FragmentSizeInBytes          int64
			ProducerTimestamp            float64
			ServerTimestamp              float64
			FragmentLengthInMilliseconds int64
		}
		NextToken *string
	}
	list := func(t *testing.T, req map[string]any) listed {
		t.Helper()
		var out listed
		if err := json.Unmarshal(readAll(t, call(t, base, "listFragments", req, &testCreds)), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	all := func(t *testing.T, typ string, from, to time.Time, max int) (pages int, got []string) {
		t.Helper()
		req := map[string]any{"StreamName": "s", "MaxResults": max, "FragmentSelector": map[string]any{
			"FragmentSelectorType": typ,
			"TimestampRange":       map[string]any{"StartTimestamp": sec(from), "EndTimestamp": sec(to)},
		}}
		for {
			out := list(t, req)
			pages++
			if len(out.Fragments) > max {
				t.Fatalf("page of %d > MaxResults %d", len(out.Fragments), max)
			}
			for _, fr := range out.Fragments {
				got = append(got, fr.FragmentNumber)
			}
			if out.NextToken == nil {
				return pages, got
			}
			req = map[string]any{"StreamName": "s", "MaxResults": max, "NextToken": *out.NextToken}
		}
	}

	pages, got := all(t, "PRODUCER_TIMESTAMP", f[0].Producer, f[24].Producer, 10)
	if pages != 3 {
		t.Errorf("%d pages, want 3", pages)
	}
	want := infoNumbers(f)
	if slices.Equal(got, want) {
		t.Error("fragments listed in stream order; the simulator should shuffle them")
	}
	sorted := slices.Clone(got)
	slices.SortFunc(sorted, mkv.CompareFragmentNumbers)
	if !slices.Equal(sorted, want) {
		t.Fatalf("listed %d fragments (with duplicates or gaps), want the %d of the stream", len(got), len(want))
	}
	if _, again := all(t, "PRODUCER_TIMESTAMP", f[0].Producer, f[24].Producer, 10); !slices.Equal(again, got) {
		t.Error("order is not deterministic")
	}

	// Range on start times, both ends inclusive.
	_, got = all(t, "PRODUCER_TIMESTAMP", f[3].Producer, f[6].Producer, 1000)
	slices.SortFunc(got, mkv.CompareFragmentNumbers)
	if !slices.Equal(got, want[3:7]) {
		t.Errorf("producer range: got %v, want %v", got, want[3:7])
	}
	_, got = all(t, "SERVER_TIMESTAMP", f[3].Producer, f[6].Producer, 1000)
	slices.SortFunc(got, mkv.CompareFragmentNumbers)
	if !slices.Equal(got, want[3:6]) {
		t.Errorf("server range (server trails producer): got %v, want %v", got, want[3:6])
	}

	// Fields and the default page size of 100.
	out := list(t, map[string]any{"StreamName": "s", "FragmentSelector": map[string]any{
		"FragmentSelectorType": "PRODUCER_TIMESTAMP",
		"TimestampRange":       map[string]any{"StartTimestamp": sec(f[5].Producer), "EndTimestamp": sec(f[5].Producer)},
	}})
	if len(out.Fragments) != 1 || out.NextToken != nil {
		t.Fatalf("got %+v", out)
	}
	fr := out.Fragments[0]
	if fr.FragmentNumber != f[5].Number || fr.FragmentSizeInBytes != f[5].SizeBytes || fr.FragmentLengthInMilliseconds != 1024 ||
		fr.ProducerTimestamp != sec(f[5].Producer) || fr.ServerTimestamp != sec(f[5].Server) {
		t.Errorf("fragment %+v, want %+v", fr, f[5])
	}

	for _, tc := range []struct {
		name string
		req  map[string]any
	}{
		{"MaxResults 0", map[string]any{"StreamName": "s", "MaxResults": 0, "FragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP", "TimestampRange": map[string]any{"StartTimestamp": 0, "EndTimestamp": 1}}}},
		{"MaxResults 1001", map[string]any{"StreamName": "s", "MaxResults": 1001, "FragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP", "TimestampRange": map[string]any{"StartTimestamp": 0, "EndTimestamp": 1}}}},
		{"no selector", map[string]any{"StreamName": "s"}},
		{"bad selector type", map[string]any{"StreamName": "s", "FragmentSelector": map[string]any{"FragmentSelectorType": "NOW", "TimestampRange": map[string]any{"StartTimestamp": 0, "EndTimestamp": 1}}}},
		{"no range", map[string]any{"StreamName": "s", "FragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP"}}},
		{"no end", map[string]any{"StreamName": "s", "FragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP", "TimestampRange": map[string]any{"StartTimestamp": 0}}}},
		{"end before start", map[string]any{"StreamName": "s", "FragmentSelector": map[string]any{"FragmentSelectorType": "SERVER_TIMESTAMP", "TimestampRange": map[string]any{"StartTimestamp": 2, "EndTimestamp": 1}}}},
		{"bad token", map[string]any{"StreamName": "s", "NextToken": "garbage"}},
	} {
		t.Run("error "+tc.name, func(t *testing.T) {
			wantError(t, call(t, base, "listFragments", tc.req, &testCreds), http.StatusBadRequest, "InvalidArgumentException")
		})
	}
}

// TestGetMediaForFragmentList: requested order, no trailer tags, and an
// in-band error chunk for a fragment the stream does not have.
func TestGetMediaForFragmentList(t *testing.T) {
	s, f := pcmServer(t, Options{}, 4)
	base := serve(t, s)
	missing := f[3].Number[:46] + "9"
	if missing == f[3].Number {
		missing = f[3].Number[:46] + "8"
	}
	body := readAll(t, call(t, base, "getMediaForFragmentList", map[string]any{"StreamName": "s", "Fragments": []string{f[3].Number, missing, f[1].Number}}, &testCreds))
	got := parseMedia(t, body)
	if len(got) != 3 {
		t.Fatalf("%d chunks, want 3", len(got))
	}
	if got[0].number != f[3].Number || got[2].number != f[1].Number {
		t.Errorf("order %v, want %s, missing, %s", numbers(got), f[3].Number, f[1].Number)
	}
	if got[1].number != missing || got[1].errCode != "FRAGMENT_NOT_FOUND" || got[1].errID != "3000" {
		t.Errorf("missing fragment chunk: %+v", got[1])
	}
	for _, i := range []int{0, 2} {
		if got[i].behind != "" || got[i].token != "" || got[i].errCode != "" {
			t.Errorf("chunk %d carries GetMedia trailer or error tags: %+v", i, got[i])
		}
	}
	if got[0].size != f[3].SizeBytes {
		t.Errorf("fragment size %d, ListFragments size %d", got[0].size, f[3].SizeBytes)
	}

	for _, tc := range []struct {
		name  string
		frags []string
	}{
		{"empty", []string{}},
		{"too many", slices.Repeat([]string{f[0].Number}, 1001)},
		{"not a number", []string{"abc"}},
	} {
		t.Run("error "+tc.name, func(t *testing.T) {
			wantError(t, call(t, base, "getMediaForFragmentList", map[string]any{"StreamName": "s", "Fragments": tc.frags}, &testCreds), http.StatusBadRequest, "InvalidArgumentException")
		})
	}
}

// TestGetMediaForFragmentListCapture: captured fragments lose their
// GetMedia trailer and keep everything else.
func TestGetMediaForFragmentListCapture(t *testing.T) {
	data := readFixture(t, "synthetic/connect_voicemail_ca_layout.mkv")
	s := New(Options{})
	if err := s.AddStream("cap", FromCapture(data)); err != nil {
		t.Fatal(err)
	}
	infos, _ := s.Fragments("cap")
	base := serve(t, s)
	got := parseMedia(t, readAll(t, call(t, base, "getMediaForFragmentList", map[string]any{"StreamName": "cap", "Fragments": []string{infos[2].Number}}, &testCreds)))
	full := parseMedia(t, data)
	if len(got) != 1 || got[0].number != infos[2].Number || got[0].token != "" || got[0].behind != "" {
		t.Fatalf("got %+v", got)
	}
	if !bytes.Equal(got[0].from, full[2].from) || !bytes.Equal(got[0].to, full[2].to) || got[0].contact != full[2].contact {
		t.Error("GetMediaForFragmentList lost audio or tags of the capture")
	}
}

// trailerLen is the size of the MILLIS_BEHIND_NOW/CONTINUATION_TOKEN tags
// GetMedia appends to a PCM fragment.
func trailerLen(t *testing.T, behind int64, token string) int64 {
	t.Helper()
	cf := mkv.ConnectFragment{FragmentNumber: token, From: []byte{0, 0}, To: []byte{0, 0}}
	plain, err := mkv.AppendConnectFragment(nil, &cf)
	if err != nil {
		t.Fatal(err)
	}
	cf.Trailer = &mkv.Trailer{MillisBehindNow: behind, ContinuationToken: token}
	full, err := mkv.AppendConnectFragment(nil, &cf)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(full) - len(plain))
}

// TestPaced plays a stream at twice real time on a fake clock: the server
// waits for each fragment until exactly its availability time.
func TestPaced(t *testing.T) {
	t0 := time.Date(2030, 5, 1, 12, 0, 0, 0, time.UTC)
	// At pace 2, fragment i (1,024 ms each) is available once its end has
	// been played: after (i+1) × 512 ms.
	avail := func(i int) time.Time { return t0.Add(time.Duration(i+1) * 512 * time.Millisecond) }
	getNow := map[string]any{"StreamName": "s", "StartSelector": map[string]any{"StartSelectorType": "NOW"}}

	t.Run("live from the start", func(t *testing.T) {
		clock := newFakeClock(t0)
		s, f := pcmServer(t, Options{Pace: 2, Clock: clock}, 3)
		base := serve(t, s)

		// Nothing is available yet: ListFragments finds nothing, NOW
		// starts with the first fragment.
		var out struct{ Fragments []any }
		json.Unmarshal(readAll(t, call(t, base, "listFragments", map[string]any{"StreamName": "s", "FragmentSelector": map[string]any{
			"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": map[string]any{"StartTimestamp": 0, "EndTimestamp": 4e9}}}, &testCreds)), &out)
		if len(out.Fragments) != 0 {
			t.Fatalf("listed %d fragments before any is available", len(out.Fragments))
		}

		resp := call(t, base, "getMedia", getNow, &testCreds)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		var got []byte
		for i := range f {
			// The server waits for exactly this fragment's time.
			clock.waitFor(t, avail(i))
			clock.Set(avail(i))
			chunk := make([]byte, f[i].SizeBytes+trailerLen(t, 0, f[i].Number))
			if _, err := io.ReadFull(resp.Body, chunk); err != nil {
				t.Fatalf("fragment %d: %v", i, err)
			}
			got = append(got, chunk...)
		}
		if rest, _ := io.ReadAll(resp.Body); len(rest) != 0 {
			t.Fatalf("%d bytes after the last fragment", len(rest))
		}
		frags := parseMedia(t, got)
		if !slices.Equal(numbers(frags), infoNumbers(f)) {
			t.Fatalf("fragments %v", numbers(frags))
		}
		for i, p := range frags {
			if !p.complete || p.behind != "0" {
				t.Errorf("fragment %d: complete %v, MILLIS_BEHIND_NOW %q, want 0 when served live", i, p.complete, p.behind)
			}
		}
	})

	t.Run("joining late", func(t *testing.T) {
		// Between the second and third fragment: NOW is the second;
		// listing and GetMediaForFragmentList know only the first two.
		clock := newFakeClock(t0)
		s, f := pcmServer(t, Options{Pace: 2, Clock: clock}, 3)
		base := serve(t, s)
		clock.Set(avail(1).Add(100 * time.Millisecond))

		resp := call(t, base, "getMedia", getNow, &testCreds)
		// 100 ms of wall time at pace 2 put the stream 200 ms past the end
		// of fragment 1.
		first := make([]byte, f[1].SizeBytes+trailerLen(t, 200, f[1].Number))
		if _, err := io.ReadFull(resp.Body, first); err != nil {
			t.Fatal(err)
		}
		if p := parseMedia(t, first); p[0].number != f[1].Number || p[0].behind != "200" {
			t.Errorf("NOW started with %s (behind %s), want %s (behind 200)", p[0].number, p[0].behind, f[1].Number)
		}
		clock.waitFor(t, avail(2))
		resp.Body.Close()

		var out struct {
			Fragments []struct{ FragmentNumber string }
		}
		json.Unmarshal(readAll(t, call(t, base, "listFragments", map[string]any{"StreamName": "s", "FragmentSelector": map[string]any{
			"FragmentSelectorType": "PRODUCER_TIMESTAMP", "TimestampRange": map[string]any{"StartTimestamp": 0, "EndTimestamp": 4e9}}}, &testCreds)), &out)
		if len(out.Fragments) != 2 {
			t.Errorf("listed %d fragments, want the 2 available", len(out.Fragments))
		}
		chunks := parseMedia(t, readAll(t, call(t, base, "getMediaForFragmentList", map[string]any{"StreamName": "s", "Fragments": []string{f[1].Number, f[2].Number}}, &testCreds)))
		if chunks[0].errCode != "" || chunks[1].errCode != "FRAGMENT_NOT_FOUND" {
			t.Errorf("GetMediaForFragmentList before availability: %+v", chunks)
		}
	})
}

// TestSessionLimit cuts a GetMedia response mid-fragment and resumes it
// with the continuation token of the last complete fragment.
func TestSessionLimit(t *testing.T) {
	s, f := pcmServer(t, Options{SessionLimitBytes: 50000}, 3)
	base := serve(t, s)
	body := readAll(t, call(t, base, "getMedia", map[string]any{"StreamName": "s", "StartSelector": map[string]any{"StartSelectorType": "EARLIEST"}}, &testCreds))
	if len(body) != 50000 {
		t.Fatalf("body of %d bytes, want the limit 50000", len(body))
	}
	p := parseMedia(t, body)
	if len(p) != 2 || !p[0].complete || p[1].complete || !p[1].truncated {
		t.Fatalf("want one complete and one cut fragment, got %+v", p)
	}
	body = readAll(t, call(t, base, "getMedia", map[string]any{"StreamName": "s", "StartSelector": map[string]any{"StartSelectorType": "CONTINUATION_TOKEN", "ContinuationToken": p[0].token}}, &testCreds))
	if got := numbers(parseMedia(t, body)); !slices.Equal(got, infoNumbers(f)[1:]) {
		t.Fatalf("resumed with %v", got)
	}
}

// TestSignatures: with credentials the server verifies signatures; without
// it only requires a SigV4 Authorization header for kinesisvideo.
func TestSignatures(t *testing.T) {
	req := map[string]any{"StreamName": "s", "APIName": "GET_MEDIA"}
	tests := []struct {
		name   string
		verify bool
		mutate func(t *testing.T, r *http.Request)
		ok     bool
	}{
		{"valid", true, func(*testing.T, *http.Request) {}, true},
		{"tampered body", true, func(t *testing.T, r *http.Request) {
			b := []byte(`{"StreamName":"s","APIName":"GET_CLIP"}`)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(b)), int64(len(b))
		}, false},
		{"wrong secret", true, func(t *testing.T, r *http.Request) {
			sign(t, r, []byte(`{"APIName":"GET_MEDIA","StreamName":"s"}`), Credentials{AccessKeyID: testCreds.AccessKeyID, SecretAccessKey: "nope"}, "kinesisvideo", "us-east-1")
		}, false},
		{"unknown key", true, func(t *testing.T, r *http.Request) {
			sign(t, r, []byte(`{"APIName":"GET_MEDIA","StreamName":"s"}`), Credentials{AccessKeyID: "OTHER", SecretAccessKey: testCreds.SecretAccessKey}, "kinesisvideo", "us-east-1")
		}, false},
		{"wrong region", true, func(t *testing.T, r *http.Request) {
			sign(t, r, []byte(`{"APIName":"GET_MEDIA","StreamName":"s"}`), testCreds, "kinesisvideo", "eu-west-1")
		}, false},
		{"tampered header", true, func(t *testing.T, r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, false},
		{"no authorization", true, func(t *testing.T, r *http.Request) { r.Header.Del("Authorization") }, false},
		{"unchecked any signature", false, func(t *testing.T, r *http.Request) {
			sign(t, r, []byte(`{"APIName":"GET_MEDIA","StreamName":"s"}`), Credentials{AccessKeyID: "ANY", SecretAccessKey: "any"}, "kinesisvideo", "ap-south-1")
		}, true},
		{"unchecked wrong service", false, func(t *testing.T, r *http.Request) {
			sign(t, r, []byte(`{"APIName":"GET_MEDIA","StreamName":"s"}`), testCreds, "s3", "us-east-1")
		}, false},
		{"unchecked unsigned", false, func(t *testing.T, r *http.Request) { r.Header.Del("Authorization") }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{}
			if tc.verify {
				opts.Credentials = &testCreds
			}
			s, _ := pcmServer(t, opts, 1)
			base := serve(t, s)
			r := signedRequest(t, base, "getDataEndpoint", req, &testCreds)
			tc.mutate(t, r)
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if tc.ok {
				readAll(t, resp)
				return
			}
			wantError(t, resp, http.StatusForbidden, "NotAuthorizedException")
		})
	}
}

// TestErrorShapes checks status, x-amzn-ErrorType and body of errors, and
// that injected faults run out.
func TestErrorShapes(t *testing.T) {
	s, _ := pcmServer(t, Options{MaxGetMediaConnections: 1}, 2)
	base := serve(t, s)
	earliest := map[string]any{"StreamName": "s", "StartSelector": map[string]any{"StartSelectorType": "EARLIEST"}}

	msg := wantError(t, call(t, base, "getMedia", map[string]any{"StreamName": "gone", "StartSelector": map[string]any{"StartSelectorType": "EARLIEST"}}, &testCreds), http.StatusNotFound, "ResourceNotFoundException")
	if !strings.Contains(msg, "gone") {
		t.Errorf("message %q does not name the stream", msg)
	}
	wantError(t, call(t, base, "getDataEndpoint", map[string]any{"StreamName": "s", "APIName": "FETCH"}, &testCreds), http.StatusBadRequest, "InvalidArgumentException")
	wantError(t, call(t, base, "describeStream", map[string]any{}, &testCreds), http.StatusNotFound, "UnknownOperationException")

	bad, _ := http.NewRequest(http.MethodPost, base+"/listFragments", strings.NewReader("{not json"))
	sign(t, bad, []byte("{not json"), testCreds, "kinesisvideo", "us-east-1")
	resp, err := http.DefaultClient.Do(bad)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, resp, http.StatusBadRequest, "SerializationException")
	resp.Body.Close()

	s.FailNext(APIGetMedia, "ClientLimitExceededException", 2)
	s.FailNext(APIGetMedia, "ConnectionLimitExceededException", 1)
	wantError(t, call(t, base, "getMedia", earliest, &testCreds), http.StatusBadRequest, "ClientLimitExceededException")
	wantError(t, call(t, base, "getMedia", earliest, &testCreds), http.StatusBadRequest, "ClientLimitExceededException")
	wantError(t, call(t, base, "getMedia", earliest, &testCreds), http.StatusBadRequest, "ConnectionLimitExceededException")
	readAll(t, call(t, base, "getMedia", earliest, &testCreds))

	// A second concurrent GetMedia session exceeds the connection limit.
	s.FailNext(APIListFragments, "InternalFailure", 1)
	wantError(t, call(t, base, "listFragments", map[string]any{"StreamName": "s"}, &testCreds), http.StatusInternalServerError, "InternalFailure")
	clockPaced := newFakeClock(time.Unix(0, 0))
	paced, _ := pcmServer(t, Options{Pace: 1, Clock: clockPaced, MaxGetMediaConnections: 1}, 2)
	pbase := serve(t, paced)
	held := call(t, pbase, "getMedia", earliest, &testCreds)
	if held.StatusCode != http.StatusOK {
		t.Fatalf("first session: status %d", held.StatusCode)
	}
	clockPaced.waitFor(t, time.Unix(0, 0).Add(1024*time.Millisecond))
	wantError(t, call(t, pbase, "getMedia", earliest, &testCreds), http.StatusBadRequest, "ConnectionLimitExceededException")
	held.Body.Close()
}

// TestStreamReuse appends a second contact to a stream: the contacts
// follow each other with growing fragment numbers.
func TestStreamReuse(t *testing.T) {
	s := New(Options{})
	a := FromPCM(pcm(2*16384, 5), nil, Contact{ContactID: "contact-a"})
	b := FromPCM(pcm(16384+100, 6), pcm(16384+100, 7), Contact{ContactID: "contact-b", Layout: mkv.LayoutNN, Start: DefaultStart().Add(time.Hour)})
	if err := s.AddStream("reused", a); err != nil {
		t.Fatal(err)
	}
	if err := s.Append("reused", b); err != nil {
		t.Fatal(err)
	}
	c := FromPCM(pcm(320, 8), nil, Contact{ContactID: "contact-c"})
	if err := s.Append("reused", c); err != nil {
		t.Fatal(err)
	}
	early := FromPCM(pcm(320, 9), nil, Contact{Start: DefaultStart()})
	if err := s.Append("reused", early); err == nil {
		t.Error("a part starting before the stream's end was accepted")
	}
	if err := s.Append("missing", c); err == nil {
		t.Error("append to a missing stream succeeded")
	}
	if err := s.AddStream("reused", c); err == nil {
		t.Error("a second stream with the same name was accepted")
	}
	infos, _ := s.Fragments("reused")
	var contacts []string
	for i, f := range infos {
		contacts = append(contacts, f.ContactID)
		if i > 0 && mkv.CompareFragmentNumbers(infos[i-1].Number, f.Number) >= 0 {
			t.Errorf("fragment %d: number does not grow", i)
		}
	}
	if want := []string{"contact-a", "contact-a", "contact-b", "contact-b", "contact-c"}; !slices.Equal(contacts, want) {
		t.Fatalf("contacts %v, want %v", contacts, want)
	}
	if !infos[2].Producer.Equal(DefaultStart().Add(time.Hour)) {
		t.Errorf("contact b starts at %v", infos[2].Producer)
	}
	// Contact c follows b directly, rounded up to the millisecond.
	if want := infos[3].Producer.Add(7 * time.Millisecond); !infos[4].Producer.Equal(want) {
		t.Errorf("contact c starts at %v, want %v", infos[4].Producer, want)
	}
	base := serve(t, s)
	p := parseMedia(t, readAll(t, call(t, base, "getMedia", map[string]any{"StreamName": "reused", "StartSelector": map[string]any{"StartSelectorType": "EARLIEST"}}, &testCreds)))
	if len(p) != 5 || p[1].contact != "contact-a" || p[2].contact != "contact-b" || !p[2].hasEvents || p[4].contact != "contact-c" {
		t.Fatalf("served %+v", numbers(p))
	}
}

// TestLoadDir loads captures and WAVs with and without sidecars.
func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	capture := readFixture(t, "synthetic/connect_voicemail_nn_layout.mkv")
	write("cap.mkv", capture)
	mono := pcm(3000, 1)
	write("plain.wav", makeWAV(t, wav.Telephone, mono))
	write("side.wav", makeWAV(t, wav.Telephone, mono))
	write("side.json", []byte(`{"contact_id":"cid-1","instance_id":"iid-1","layout":"nn","start":"2026-03-04T05:06:07.5Z","fragment_ms":100}`))
	write("notes.txt", []byte("ignored"))

	s := New(Options{})
	if err := s.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	if got := s.Streams(); !slices.Equal(got, []string{"cap", "plain", "side"}) {
		t.Fatalf("streams %v", got)
	}
	side, _ := s.Fragments("side")
	if len(side) != 2 || side[0].ContactID != "cid-1" || !side[0].Producer.Equal(time.Date(2026, 3, 4, 5, 6, 7, 500e6, time.UTC)) || side[0].Duration != 100*time.Millisecond {
		t.Errorf("sidecar not applied: %+v", side)
	}
	plain, _ := s.Fragments("plain")
	if len(plain) != 1 || !plain[0].Producer.Equal(DefaultStart()) || plain[0].ContactID == "" {
		t.Errorf("defaults not applied: %+v", plain)
	}

	base := serve(t, s)
	p := parseMedia(t, readAll(t, call(t, base, "getMedia", map[string]any{"StreamName": "side", "StartSelector": map[string]any{"StartSelectorType": "EARLIEST"}}, &testCreds)))
	if !p[0].hasEvents || !p[0].fromFirst {
		t.Error("sidecar layout nn not applied")
	}
	if got := readAll(t, call(t, base, "getMedia", map[string]any{"StreamName": "cap", "StartSelector": map[string]any{"StartSelectorType": "EARLIEST"}}, &testCreds)); !bytes.Equal(got, capture) {
		t.Error("capture not served as captured")
	}

	write("side.json", []byte(`{"layout":"xx"}`))
	if err := New(Options{}).LoadDir(dir); err == nil || !strings.Contains(err.Error(), "side") {
		t.Errorf("bad sidecar: err = %v", err)
	}
	if err := New(Options{}).LoadDir(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing directory loaded")
	}
}

// TestARN checks the ARN format and parsing.
func TestARN(t *testing.T) {
	created := time.UnixMilli(1736282293468)
	arn := ARN("us-east-1", "111122223333", "inst-contact-7c0e3a52", created)
	if want := "arn:aws:kinesisvideo:us-east-1:111122223333:stream/inst-contact-7c0e3a52/1736282293468"; arn != want {
		t.Fatalf("ARN = %q, want %q", arn, want)
	}
	for in, want := range map[string]string{
		arn: "inst-contact-7c0e3a52",
		"arn:aws:kinesisvideo:eu-west-2:1:stream/a.b_c-d/1": "a.b_c-d",
		"arn:aws:kinesisvideo:eu-west-2:1:stream/noslash":   "",
		"stream/x/1":                           "",
		"arn:aws:kinesisvideo:eu-west-2:1:x/1": "",
	} {
		got, err := StreamNameFromARN(in)
		if got != want || (err == nil) != (want != "") {
			t.Errorf("StreamNameFromARN(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	s, f := pcmServer(t, Options{Region: "eu-central-1", Account: "999"}, 1)
	got, err := s.StreamARN("s")
	if want := ARN("eu-central-1", "999", "s", f[0].Producer); err != nil || got != want {
		t.Errorf("StreamARN = %q, %v; want %q", got, err, want)
	}
	if _, err := s.StreamARN("x"); err == nil {
		t.Error("ARN of a missing stream")
	}
}

// TestStart runs the server on a real listener as the CLI does.
func TestStart(t *testing.T) {
	s, _ := pcmServer(t, Options{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, stop, err := s.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ DataEndpoint string }
	if err := json.Unmarshal(readAll(t, call(t, url, "getDataEndpoint", map[string]any{"StreamName": "s", "APIName": "GET_MEDIA_FOR_FRAGMENT_LIST"}, &testCreds)), &out); err != nil {
		t.Fatal(err)
	}
	if out.DataEndpoint != url {
		t.Errorf("DataEndpoint %q, want %q", out.DataEndpoint, url)
	}
	stop()
	stop()
	if _, err := http.Post(url+"/getDataEndpoint", "application/json", nil); err == nil {
		t.Error("server still answers after stop")
	}
}
