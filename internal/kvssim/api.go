package kvssim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/big"
	"net/http"
	"sort"
	"time"

	"github.com/vmx-dev/vmx/internal/mkv"
)

// streamRef names a stream by StreamName or StreamARN.
type streamRef struct {
	StreamName *string `json:"StreamName"`
	StreamARN  *string `json:"StreamARN"`
}

// resolve returns the stream's name and its fragments.
func (s *Server) resolve(ref streamRef) (string, []*fragment, error) {
	var name string
	switch {
	case ref.StreamName == nil && ref.StreamARN == nil:
		return "", nil, invalidArgument("either StreamName or StreamARN must be specified")
	case ref.StreamName != nil:
		name = *ref.StreamName
		if !validStreamName(name) {
			return "", nil, invalidArgument("StreamName %q must match [a-zA-Z0-9_.-]+ and have 1 to 256 characters", name)
		}
	}
	if ref.StreamARN != nil {
		if len(*ref.StreamARN) == 0 || len(*ref.StreamARN) > 1024 {
			return "", nil, invalidArgument("StreamARN must have 1 to 1024 characters")
		}
		n, err := StreamNameFromARN(*ref.StreamARN)
		if err != nil {
			return "", nil, invalidArgument("invalid StreamARN %q", *ref.StreamARN)
		}
		if name != "" && n != name {
			return "", nil, invalidArgument("StreamName %q and StreamARN %q name different streams", name, *ref.StreamARN)
		}
		name = n
	}
	frags, ok := s.snapshot(name)
	if !ok {
		return "", nil, notFound("stream %s not found", name)
	}
	return name, frags, nil
}

// decode parses a JSON request body; an empty body is an empty object.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &apiError{typ: "SerializationException", status: http.StatusBadRequest, msg: fmt.Sprintf("cannot parse the request body: %v", err)}
	}
	return nil
}

// epoch is a timestamp in a JSON body: seconds since the epoch as a
// number, with any fraction.
type epoch time.Time

// MarshalJSON writes seconds with millisecond precision, as KVS does.
func (e epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(e).UnixMilli()
	return fmt.Appendf(nil, "%d.%03d", ms/1000, ms%1000), nil
}

// parseEpoch reads epoch seconds exactly, including exponent forms such as
// 1.767225600536E9.
func parseEpoch(n json.Number) (time.Time, error) {
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return time.Time{}, fmt.Errorf("%q is not a number of seconds", n)
	}
	r.Mul(r, big.NewRat(int64(time.Second), 1))
	ns := new(big.Int).Quo(r.Num(), r.Denom())
	if !ns.IsInt64() {
		return time.Time{}, fmt.Errorf("%s seconds is out of range", n)
	}
	return time.Unix(0, ns.Int64()), nil
}

// validAPIName reports whether name is one of GetDataEndpoint's APIName
// values.
func validAPIName(name string) bool {
	switch name {
	case "PUT_MEDIA", "GET_MEDIA", "LIST_FRAGMENTS", "GET_MEDIA_FOR_FRAGMENT_LIST",
		"GET_HLS_STREAMING_SESSION_URL", "GET_DASH_STREAMING_SESSION_URL", "GET_CLIP", "GET_IMAGES":
		return true
	}
	return false
}

// getDataEndpoint answers POST /getDataEndpoint with the server's own
// address: all APIs are served here.
func (s *Server) getDataEndpoint(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in struct {
		streamRef
		APIName string `json:"APIName"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	if !validAPIName(in.APIName) {
		return invalidArgument("APIName %q is not one of GET_MEDIA, LIST_FRAGMENTS, GET_MEDIA_FOR_FRAGMENT_LIST, …", in.APIName)
	}
	if _, _, err := s.resolve(in.streamRef); err != nil {
		return err
	}
	endpoint := s.opts.DataEndpoint
	if endpoint == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		endpoint = scheme + "://" + r.Host
	}
	return writeJSON(w, struct {
		DataEndpoint string `json:"DataEndpoint"`
	}{endpoint})
}

func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	_, err = w.Write(b)
	return err
}

// mediaContentType is the Content-Type of GetMedia responses for Connect
// streams as commonly reported.
const mediaContentType = "video/webm"

type startSelector struct {
	StartSelectorType   string       `json:"StartSelectorType"`
	AfterFragmentNumber *string      `json:"AfterFragmentNumber"`
	StartTimestamp      *json.Number `json:"StartTimestamp"`
	ContinuationToken   *string      `json:"ContinuationToken"`
}

// startIndex returns the index of the first fragment a GetMedia selector
// asks for; len(frags) when it lies past the end.
func (s *Server) startIndex(sel *startSelector, frags []*fragment) (int, error) {
	now := s.clock.Now()
	switch sel.StartSelectorType {
	case "EARLIEST":
		return 0, nil
	case "NOW":
		latest := -1
		for i := range frags {
			if s.available(frags, i, now) {
				latest = i
			}
		}
		return max(latest, 0), nil
	case "FRAGMENT_NUMBER":
		if sel.AfterFragmentNumber == nil || !mkv.ValidFragmentNumber(*sel.AfterFragmentNumber) {
			return 0, invalidArgument("StartSelectorType FRAGMENT_NUMBER needs AfterFragmentNumber of 1 to 128 digits")
		}
		// The first fragment after (or from) the number, whether the stream
		// has that very number or not.
		n := *sel.AfterFragmentNumber
		for i, f := range frags {
			c := mkv.CompareFragmentNumbers(f.number, n)
			if c > 0 || (c == 0 && s.opts.FragmentNumberInclusive) {
				return i, nil
			}
		}
		return len(frags), nil
	case "SERVER_TIMESTAMP", "PRODUCER_TIMESTAMP":
		if sel.StartTimestamp == nil {
			return 0, invalidArgument("StartSelectorType %s needs StartTimestamp", sel.StartSelectorType)
		}
		ts, err := parseEpoch(*sel.StartTimestamp)
		if err != nil {
			return 0, invalidArgument("StartTimestamp: %v", err)
		}
		// The chunk containing the timestamp, or the first one after it.
		for i, f := range frags {
			start := f.producer
			if sel.StartSelectorType == "SERVER_TIMESTAMP" {
				start = f.server
			}
			if start.Add(f.duration).After(ts) {
				return i, nil
			}
		}
		return len(frags), nil
	case "CONTINUATION_TOKEN":
		if sel.ContinuationToken == nil || *sel.ContinuationToken == "" {
			return 0, invalidArgument("StartSelectorType CONTINUATION_TOKEN needs ContinuationToken")
		}
		for i, f := range frags {
			if f.number == *sel.ContinuationToken && !f.errChunk {
				return i + 1, nil
			}
		}
		return 0, invalidArgument("invalid ContinuationToken %q", *sel.ContinuationToken)
	case "":
		return 0, invalidArgument("StartSelector.StartSelectorType must be specified")
	}
	return 0, invalidArgument("StartSelectorType %q is not one of FRAGMENT_NUMBER, SERVER_TIMESTAMP, PRODUCER_TIMESTAMP, NOW, EARLIEST, CONTINUATION_TOKEN", sel.StartSelectorType)
}

// getMedia streams a stream's fragments from the selected one on, each with
// its trailer tags, waiting for fragments of paced streams to become
// available; it ends the body after the stream's last fragment or at the
// session limit.
func (s *Server) getMedia(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in struct {
		streamRef
		StartSelector *startSelector `json:"StartSelector"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	name, frags, err := s.resolve(in.streamRef)
	if err != nil {
		return err
	}
	if in.StartSelector == nil {
		return invalidArgument("StartSelector must be specified")
	}
	i, err := s.startIndex(in.StartSelector, frags)
	if err != nil {
		return err
	}
	release, err := s.acquire(name)
	if err != nil {
		return err
	}
	defer release()

	w.Header().Set("Content-Type", mediaContentType)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	limit := s.opts.SessionLimitBytes
	var sent int64
	var buf []byte
	for ; ; i++ {
		// Re-read the stream: parts may have been appended meanwhile.
		if frags, _ = s.snapshot(name); i >= len(frags) {
			return nil
		}
		if err := s.waitAvailable(r.Context(), frags, i); err != nil {
			return nil // the client went away
		}
		f := frags[i]
		if buf, err = s.mediaBytes(buf[:0], frags, i); err != nil {
			return fmt.Errorf("fragment %s: %w", f.number, err)
		}
		chunk := buf
		cut := limit > 0 && sent+int64(len(chunk)) > limit
		if cut {
			chunk = chunk[:limit-sent]
		}
		if _, err := w.Write(chunk); err != nil {
			return nil // the client went away
		}
		sent += int64(len(chunk))
		if err := rc.Flush(); err != nil {
			return nil
		}
		if cut {
			s.log.Debug("session limit reached", "stream", name, "bytes", sent, "fragment", f.number)
			return nil
		}
	}
}

// mediaBytes appends what GetMedia sends for frags[i]: captured bytes as
// they are, PCM fragments with fresh trailer tags.
func (s *Server) mediaBytes(dst []byte, frags []*fragment, i int) ([]byte, error) {
	f := frags[i]
	if f.connect == nil {
		return append(dst, f.raw...), nil
	}
	behind := s.tip(frags, s.clock.Now()).Sub(f.end())
	cf := *f.connect
	cf.Trailer = &mkv.Trailer{MillisBehindNow: max(behind.Milliseconds(), 0), ContinuationToken: f.number}
	return mkv.AppendConnectFragment(dst, &cf)
}

// acquire counts a GetMedia session against the stream's connection limit.
func (s *Server) acquire(name string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[name]
	if max := s.opts.MaxGetMediaConnections; max > 0 && st.active >= max {
		return nil, &apiError{typ: "ConnectionLimitExceededException", status: http.StatusBadRequest,
			msg: fmt.Sprintf("stream %s already has %d GetMedia connections", name, st.active)}
	}
	st.active++
	return func() {
		s.mu.Lock()
		st.active--
		s.mu.Unlock()
	}, nil
}

// ListFragments limits.
const (
	defaultMaxResults = 100
	maxMaxResults     = 1000
)

// listToken is the content of a ListFragments NextToken: the query, the
// stream as it was at the first page (its length and the time), and the
// offset of the next page.
type listToken struct {
	Stream string `json:"s"`
	Type   string `json:"t"`
	From   int64  `json:"a"` // ns since the epoch
	To     int64  `json:"b"`
	AsOf   int64  `json:"n"`
	Count  int    `json:"c"`
	Offset int    `json:"o"`
}

type listedFragment struct {
	FragmentNumber               string `json:"FragmentNumber"`
	FragmentSizeInBytes          int64  `json:"FragmentSizeInBytes"`
	ProducerTimestamp            epoch  `json:"ProducerTimestamp"`
	ServerTimestamp              epoch  `json:"ServerTimestamp"`
	FragmentLengthInMilliseconds int64  `json:"FragmentLengthInMilliseconds"`
}

// listFragments answers the available fragments whose start time lies in
// the range, in a deterministic order unrelated to their numbers, since
// the real API promises no order.
func (s *Server) listFragments(w http.ResponseWriter, body []byte) error {
	var in struct {
		streamRef
		MaxResults       *int64  `json:"MaxResults"`
		NextToken        *string `json:"NextToken"`
		FragmentSelector *struct {
			FragmentSelectorType string `json:"FragmentSelectorType"`
			TimestampRange       *struct {
				StartTimestamp *json.Number `json:"StartTimestamp"`
				EndTimestamp   *json.Number `json:"EndTimestamp"`
			} `json:"TimestampRange"`
		} `json:"FragmentSelector"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	name, frags, err := s.resolve(in.streamRef)
	if err != nil {
		return err
	}
	maxResults := int64(defaultMaxResults)
	if in.MaxResults != nil {
		maxResults = *in.MaxResults
		if maxResults < 1 || maxResults > maxMaxResults {
			return invalidArgument("MaxResults %d must be between 1 and %d", maxResults, maxMaxResults)
		}
	}

	var tok listToken
	switch {
	case in.NextToken != nil:
		tok, err = decodeToken(*in.NextToken)
		if err != nil || tok.Stream != name || tok.Count > len(frags) || tok.Offset < 0 {
			return invalidArgument("invalid NextToken")
		}
	case in.FragmentSelector == nil:
		return invalidArgument("FragmentSelector must be specified when no NextToken is given")
	default:
		sel := in.FragmentSelector
		if sel.FragmentSelectorType != "PRODUCER_TIMESTAMP" && sel.FragmentSelectorType != "SERVER_TIMESTAMP" {
			return invalidArgument("FragmentSelectorType %q is not one of PRODUCER_TIMESTAMP, SERVER_TIMESTAMP", sel.FragmentSelectorType)
		}
		tr := sel.TimestampRange
		if tr == nil || tr.StartTimestamp == nil || tr.EndTimestamp == nil {
			return invalidArgument("TimestampRange with StartTimestamp and EndTimestamp must be specified")
		}
		from, err := parseEpoch(*tr.StartTimestamp)
		if err != nil {
			return invalidArgument("StartTimestamp: %v", err)
		}
		to, err := parseEpoch(*tr.EndTimestamp)
		if err != nil {
			return invalidArgument("EndTimestamp: %v", err)
		}
		if to.Before(from) {
			return invalidArgument("EndTimestamp must not be before StartTimestamp")
		}
		tok = listToken{Stream: name, Type: sel.FragmentSelectorType, From: from.UnixNano(), To: to.UnixNano(),
			AsOf: s.clock.Now().UnixNano(), Count: len(frags)}
	}

	asOf := time.Unix(0, tok.AsOf)
	from, to := time.Unix(0, tok.From), time.Unix(0, tok.To)
	type keyed struct {
		key uint64
		f   *fragment
	}
	var match []keyed
	for i, f := range frags[:tok.Count] {
		start := f.producer
		if tok.Type == "SERVER_TIMESTAMP" {
			start = f.server
		}
		if f.errChunk || start.Before(from) || start.After(to) || !s.available(frags, i, asOf) {
			continue
		}
		// A deterministic shuffle: order by a hash of stream and number.
		match = append(match, keyed{shuffleKey(name, f.number), f})
	}
	sort.Slice(match, func(a, b int) bool { return match[a].key < match[b].key })

	out := struct {
		Fragments []listedFragment `json:"Fragments"`
		NextToken *string          `json:"NextToken,omitempty"`
	}{Fragments: []listedFragment{}}
	first := min(tok.Offset, len(match))
	last := min(first+int(maxResults), len(match))
	for _, m := range match[first:last] {
		f := m.f
		out.Fragments = append(out.Fragments, listedFragment{
			FragmentNumber:               f.number,
			FragmentSizeInBytes:          int64(len(f.plain)),
			ProducerTimestamp:            epoch(f.producer),
			ServerTimestamp:              epoch(f.server),
			FragmentLengthInMilliseconds: f.duration.Milliseconds(),
		})
	}
	if last < len(match) {
		tok.Offset = last
		next := encodeToken(tok)
		out.NextToken = &next
	}
	return writeJSON(w, out)
}

func encodeToken(t listToken) string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeToken(s string) (listToken, error) {
	var t listToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return t, err
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, err
	}
	if t.Stream == "" || t.Count < 0 {
		return t, errors.New("incomplete token")
	}
	return t, nil
}

// maxFragmentList bounds GetMediaForFragmentList's Fragments.
const maxFragmentList = 1000

// getMediaForFragmentList streams the requested fragments in the requested
// order without trailer tags; a fragment the stream does not have (yet)
// becomes an in-band FRAGMENT_NOT_FOUND error chunk.
func (s *Server) getMediaForFragmentList(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in struct {
		streamRef
		Fragments []string `json:"Fragments"`
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	name, frags, err := s.resolve(in.streamRef)
	if err != nil {
		return err
	}
	if len(in.Fragments) == 0 || len(in.Fragments) > maxFragmentList {
		return invalidArgument("Fragments must list 1 to %d fragment numbers, got %d", maxFragmentList, len(in.Fragments))
	}
	for _, n := range in.Fragments {
		if !mkv.ValidFragmentNumber(n) {
			return invalidArgument("fragment number %q is not 1 to 128 digits", n)
		}
	}
	s.mu.RLock()
	index := make([]int, len(in.Fragments))
	for i, n := range in.Fragments {
		j, ok := s.streams[name].byNumber[n]
		if !ok || j >= len(frags) {
			j = -1
		}
		index[i] = j
	}
	s.mu.RUnlock()

	w.Header().Set("Content-Type", mediaContentType)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	now := s.clock.Now()
	var buf []byte
	for i, j := range index {
		buf = buf[:0]
		if j < 0 || !s.available(frags, j, now) {
			buf = mkv.AppendErrorChunk(buf, in.Fragments[i], "FRAGMENT_NOT_FOUND", "3000")
		} else {
			buf = append(buf, frags[j].plain...)
		}
		if _, err := w.Write(buf); err != nil {
			return nil // the client went away
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
	return nil
}

// shuffleKey orders fragments deterministically but not by number.
func shuffleKey(stream, number string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(stream + "\x00" + number))
	return h.Sum64()
}
