package kvs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesisvideo/types"
	"github.com/vmx-dev/vmx/internal/mkv"
)

// Operation names, as in AWS error messages and APIError.Op.
const (
	opGetMedia                = "GetMedia"
	opListFragments           = "ListFragments"
	opGetMediaForFragmentList = "GetMediaForFragmentList"
)

// MaxFragmentList is the most fragments one GetMediaForFragmentList call
// accepts.
const MaxFragmentList = 1000

// StartType is GetMedia's StartSelectorType.
type StartType string

// GetMedia start selector types.
const (
	StartNow               StartType = "NOW"
	StartEarliest          StartType = "EARLIEST"
	StartFragmentNumber    StartType = "FRAGMENT_NUMBER"
	StartServerTimestamp   StartType = "SERVER_TIMESTAMP"
	StartProducerTimestamp StartType = "PRODUCER_TIMESTAMP"
	StartContinuationToken StartType = "CONTINUATION_TOKEN"
)

// StartSelector says where GetMedia starts.
type StartSelector struct {
	Type StartType
	// FragmentNumber is AfterFragmentNumber for StartFragmentNumber. The
	// service documentation has said both "after" and "containing" this
	// fragment; Live.IncludeStartFragment gives a defined answer.
	FragmentNumber string
	// Timestamp is the StartTimestamp of the *_TIMESTAMP types: the read
	// starts with the fragment containing it.
	Timestamp time.Time
	// ContinuationToken is the AWS_KINESISVIDEO_CONTINUATION_TOKEN tag of a
	// fragment, for StartContinuationToken: the read continues after it.
	ContinuationToken string
}

// tokenPattern matches a continuation token: 1 to 128 of [a-zA-Z0-9_.-].
// It is no regexp: the counted repetition compiles into a program of about
// 120 kB, which every vmx command would build at start.
var tokenPattern tokenSyntax

type tokenSyntax struct{}

func (tokenSyntax) MatchString(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

func (s StartSelector) validate() error {
	switch s.Type {
	case StartNow, StartEarliest:
	case StartFragmentNumber:
		if !mkv.ValidFragmentNumber(s.FragmentNumber) {
			return fmt.Errorf("invalid start fragment number %q", s.FragmentNumber)
		}
	case StartServerTimestamp, StartProducerTimestamp:
		if s.Timestamp.IsZero() {
			return fmt.Errorf("start selector %s needs a timestamp", s.Type)
		}
	case StartContinuationToken:
		if !tokenPattern.MatchString(s.ContinuationToken) {
			return fmt.Errorf("invalid continuation token %q", s.ContinuationToken)
		}
	default:
		return fmt.Errorf("unknown start selector type %q", s.Type)
	}
	return nil
}

type startSelectorJSON struct {
	StartSelectorType   StartType
	AfterFragmentNumber string     `json:",omitempty"`
	StartTimestamp      *epochTime `json:",omitempty"`
	ContinuationToken   string     `json:",omitempty"`
}

func (s StartSelector) wire() startSelectorJSON {
	w := startSelectorJSON{StartSelectorType: s.Type}
	switch s.Type {
	case StartFragmentNumber:
		w.AfterFragmentNumber = s.FragmentNumber
	case StartServerTimestamp, StartProducerTimestamp:
		t := epochTime(s.Timestamp)
		w.StartTimestamp = &t
	case StartContinuationToken:
		w.ContinuationToken = s.ContinuationToken
	}
	return w
}

// GetMedia opens a GetMedia stream: concatenated MKV fragments, to be read
// with mkv.NewFragmentReader until the service ends the session. The caller
// must close it. ReadLive adds reconnection and de-duplication.
func (c *Client) GetMedia(ctx context.Context, s Stream, sel StartSelector) (io.ReadCloser, error) {
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("kvs: %s: %w", opGetMedia, err)
	}
	if err := sel.validate(); err != nil {
		return nil, fmt.Errorf("kvs: %s: %w", opGetMedia, err)
	}
	body := struct {
		streamRef
		StartSelector startSelectorJSON
	}{s.ref(), sel.wire()}
	resp, err := c.post(ctx, opGetMedia, types.APINameGetMedia, s, "/getMedia", body)
	if err != nil {
		return nil, fmt.Errorf("kvs: %s: %w", opGetMedia, err)
	}
	return resp.Body, nil
}

// GetMediaForFragmentList opens the media of up to MaxFragmentList
// fragments, served in the order given. A fragment the service cannot serve
// appears in-band as an error chunk (mkv.Fragment.ErrorChunk). The caller
// must close the body.
func (c *Client) GetMediaForFragmentList(ctx context.Context, s Stream, fragments []string) (io.ReadCloser, error) {
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("kvs: %s: %w", opGetMediaForFragmentList, err)
	}
	if len(fragments) == 0 || len(fragments) > MaxFragmentList {
		return nil, fmt.Errorf("kvs: %s: %d fragments, want 1 to %d", opGetMediaForFragmentList, len(fragments), MaxFragmentList)
	}
	for _, n := range fragments {
		if !mkv.ValidFragmentNumber(n) {
			return nil, fmt.Errorf("kvs: %s: invalid fragment number %q", opGetMediaForFragmentList, n)
		}
	}
	body := struct {
		streamRef
		Fragments []string
	}{s.ref(), fragments}
	resp, err := c.post(ctx, opGetMediaForFragmentList, types.APINameGetMediaForFragmentList, s, "/getMediaForFragmentList", body)
	if err != nil {
		return nil, fmt.Errorf("kvs: %s: %w", opGetMediaForFragmentList, err)
	}
	return resp.Body, nil
}

// TimestampType says which clock a fragment selector uses.
type TimestampType string

// ListFragments selector types.
const (
	ServerTimestamp   TimestampType = "SERVER_TIMESTAMP"
	ProducerTimestamp TimestampType = "PRODUCER_TIMESTAMP"
)

// FragmentSelector selects fragments whose start time lies in
// [Start, End] by the given clock.
type FragmentSelector struct {
	Type       TimestampType
	Start, End time.Time
}

// FragmentInfo describes one fragment in a ListFragments result.
type FragmentInfo struct {
	Number    string
	SizeBytes int64
	Producer  time.Time
	Server    time.Time
	Length    time.Duration
}

// listPageSize is ListFragments' MaxResults, the largest the API allows.
const listPageSize = 1000

// ListFragments lists the fragments sel selects, following NextToken over
// all pages. The order is the service's, which is none in particular.
func (c *Client) ListFragments(ctx context.Context, s Stream, sel FragmentSelector) ([]FragmentInfo, error) {
	infos, err := c.listFragments(ctx, s, sel)
	if err != nil {
		return nil, fmt.Errorf("kvs: %s: %w", opListFragments, err)
	}
	return infos, nil
}

func (c *Client) listFragments(ctx context.Context, s Stream, sel FragmentSelector) ([]FragmentInfo, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	if sel.Type != ServerTimestamp && sel.Type != ProducerTimestamp {
		return nil, fmt.Errorf("unknown fragment selector type %q", sel.Type)
	}
	if sel.Start.IsZero() || sel.End.Before(sel.Start) {
		return nil, fmt.Errorf("invalid time range %s to %s", rfc3339(sel.Start), rfc3339(sel.End))
	}
	type timestampRange struct{ StartTimestamp, EndTimestamp epochTime }
	type fragmentSelector struct {
		FragmentSelectorType TimestampType
		TimestampRange       timestampRange
	}
	req := struct {
		streamRef
		MaxResults       int
		NextToken        string `json:",omitempty"`
		FragmentSelector fragmentSelector
	}{
		streamRef:        s.ref(),
		MaxResults:       listPageSize,
		FragmentSelector: fragmentSelector{sel.Type, timestampRange{epochTime(sel.Start), epochTime(sel.End)}},
	}
	var infos []FragmentInfo
	for {
		page, err := c.listPage(ctx, s, req)
		if err != nil {
			return nil, err
		}
		for _, f := range page.Fragments {
			infos = append(infos, FragmentInfo{
				Number:    f.FragmentNumber,
				SizeBytes: f.FragmentSizeInBytes,
				Producer:  time.Time(f.ProducerTimestamp),
				Server:    time.Time(f.ServerTimestamp),
				Length:    time.Duration(f.FragmentLengthInMilliseconds) * time.Millisecond,
			})
		}
		if page.NextToken == "" {
			return infos, nil
		}
		if page.NextToken == req.NextToken {
			return nil, errors.New("service repeated its NextToken")
		}
		req.NextToken = page.NextToken
	}
}

type listFragmentsPage struct {
	Fragments []struct {
		FragmentNumber               string
		FragmentSizeInBytes          int64
		ProducerTimestamp            epochTime
		ServerTimestamp              epochTime
		FragmentLengthInMilliseconds int64
	}
	NextToken string
}

func (c *Client) listPage(ctx context.Context, s Stream, req any) (*listFragmentsPage, error) {
	resp, err := c.post(ctx, opListFragments, types.APINameListFragments, s, "/listFragments", req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var page listFragmentsPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	return &page, nil
}

// epochTime is a timestamp in a KVS JSON body: seconds since the epoch as a
// JSON number. It is written with millisecond precision, which KVS
// timestamps have; botocore sends whole seconds and loses it.
type epochTime time.Time

func (t epochTime) MarshalJSON() ([]byte, error) {
	ms := time.Time(t).UnixMilli()
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	return fmt.Appendf(nil, "%s%d.%03d", sign, ms/1000, ms%1000), nil
}

func (t *epochTime) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	// Plain float parsing covers the exponent form the service uses
	// (1.767225600536E9); float64 holds epoch milliseconds exactly enough.
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("timestamp %s: %w", b, err)
	}
	*t = epochTime(time.UnixMilli(int64(math.Round(f * 1000))))
	return nil
}

// rfc3339 formats a time for messages: UTC, RFC 3339, no monotonic reading.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
