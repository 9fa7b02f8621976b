package kvs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/vmx-dev/vmx/internal/mkv"
)

func TestNewValidates(t *testing.T) {
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return testCreds, nil })
	for name, cfg := range map[string]aws.Config{
		"no region":      {Credentials: creds},
		"no credentials": {Region: testRegion},
	} {
		if _, err := New(cfg, Options{}); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestListFragmentsAllPagesUnordered(t *testing.T) {
	frags := makeStream(t, 50)
	fk := newFakeKVS(t, frags)
	fk.pageSize = 7
	c := fk.client(t, nil)
	start := frags[0].server.Add(-time.Millisecond)
	end := frags[len(frags)-1].server
	infos, err := c.ListFragments(context.Background(), Stream{ARN: testARN}, FragmentSelector{Type: ServerTimestamp, Start: start, End: end})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fk.callCount("listFragments"), 8; got != want {
		t.Errorf("ListFragments calls = %d, want %d (50 fragments, pages of 7)", got, want)
	}
	var got, want []string
	ordered := true
	for i, f := range infos {
		got = append(got, f.Number)
		if i > 0 && mkv.CompareFragmentNumbers(infos[i-1].Number, f.Number) > 0 {
			ordered = false
		}
		if fr := frags[fk.index(f.Number)]; !f.Server.Equal(fr.server) || f.Length != 1024*time.Millisecond {
			t.Errorf("fragment %s: server time %v length %v, want %v 1.024s", f.Number, f.Server, f.Length, fr.server)
		}
	}
	if ordered {
		t.Error("the fake returned fragments in order; the test proves nothing")
	}
	for _, f := range frags {
		want = append(want, f.number)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("listed %d fragments, want the %d of the stream", len(got), len(want))
	}
	// Timestamps go out as epoch seconds with milliseconds.
	ts := fk.listReqs[0]["FragmentSelector"].(map[string]any)["TimestampRange"].(map[string]any)["StartTimestamp"]
	if ts != epoch(start) {
		t.Errorf("StartTimestamp sent as %v, want %v", ts, epoch(start))
	}
}

func TestEpochTimeJSON(t *testing.T) {
	for _, tc := range []struct {
		in   time.Time
		json string
	}{
		{time.UnixMilli(1767225600536), "1767225600.536"},
		{time.UnixMilli(1767225600000), "1767225600.000"},
		{time.UnixMilli(-1500), "-1.500"},
	} {
		b, err := json.Marshal(epochTime(tc.in))
		if err != nil || string(b) != tc.json {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.in, b, err, tc.json)
		}
		var back epochTime
		if err := json.Unmarshal(b, &back); err != nil || !time.Time(back).Equal(tc.in) {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", b, time.Time(back), err, tc.in)
		}
	}
	var e epochTime
	if err := json.Unmarshal([]byte("1.767225600536E9"), &e); err != nil || time.Time(e).UnixMilli() != 1767225600536 {
		t.Errorf("exponent form: %v, %v", time.Time(e), err)
	}
}

func TestSelectFragments(t *testing.T) {
	infos := func(ns ...string) []FragmentInfo {
		var out []FragmentInfo
		for _, n := range ns {
			out = append(out, FragmentInfo{Number: n})
		}
		return out
	}
	for _, tc := range []struct {
		name        string
		listed      []string
		start, stop string
		want        []string
	}{
		{"numeric not lexicographic", []string{"100", "99", "1000", "98"}, "", "", []string{"98", "99", "100", "1000"}},
		{"bounds filter", []string{"5", "1", "9", "3", "7"}, "3", "7", []string{"3", "5", "7"}},
		{"bounds added", []string{"5", "6"}, "3", "8", []string{"3", "5", "6", "8"}},
		{"duplicates across pages", []string{"5", "6", "5", "06"}, "5", "", []string{"5", "6"}},
		{"invalid numbers dropped", []string{"5", "x1", ""}, "", "", []string{"5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := selectFragments(infos(tc.listed...), tc.start, tc.stop); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAPIError(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		header     string
		body       string
		wantType   string
		wantMsg    string
		wantCalls  int // attempts made, MaxAttempts being 4
		wantStatus int
	}{
		{"header type with detail", 404, "ResourceNotFoundException:http://internal/", `{"message":"gone"}`, ErrTypeResourceNotFound, "gone", 1, 404},
		{"body __type and Message", 400, "", `{"__type":"com.amazonaws.kinesisvideo#InvalidArgumentException","Message":"bad"}`, ErrTypeInvalidArgument, "bad", 1, 400},
		{"throttled until attempts run out", 400, ErrTypeClientLimitExceeded, `{"message":"slow down"}`, ErrTypeClientLimitExceeded, "slow down", 4, 400},
		{"5xx retried", 503, "", ``, "Service Unavailable", "", 4, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/getDataEndpoint" {
					writeJSON(w, map[string]string{"DataEndpoint": "http://" + r.Host})
					return
				}
				calls++
				if tc.header != "" {
					w.Header().Set("x-amzn-ErrorType", tc.header)
				}
				w.Header().Set("x-amzn-RequestId", "rid-1")
				w.WriteHeader(tc.status)
				io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			fk := &fakeKVS{srv: srv, tr: &http.Transport{}}
			c := fk.client(t, nil)
			_, err := c.GetMedia(context.Background(), Stream{Name: "vmx-stream"}, StartSelector{Type: StartEarliest})
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *APIError", err)
			}
			want := APIError{Op: "GetMedia", StatusCode: tc.wantStatus, Type: tc.wantType, Message: tc.wantMsg, RequestID: "rid-1"}
			if *ae != want {
				t.Errorf("got %+v, want %+v", *ae, want)
			}
			if calls != tc.wantCalls {
				t.Errorf("%d attempts, want %d", calls, tc.wantCalls)
			}
		})
	}
}

// TestThrottlingRetried: each API answers ClientLimitExceededException (or
// ConnectionLimitExceededException) twice, then serves; the caller sees only
// the success.
func TestThrottlingRetried(t *testing.T) {
	frags := makeStream(t, 6)
	for _, tc := range []struct {
		op, errType string
	}{
		{"getDataEndpoint", ErrTypeClientLimitExceeded},
		{"listFragments", ErrTypeClientLimitExceeded},
		{"getMediaForFragmentList", ErrTypeClientLimitExceeded},
		{"getMedia", ErrTypeConnectionLimitExceeded},
	} {
		t.Run(tc.op, func(t *testing.T) {
			fk := newFakeKVS(t, frags)
			fk.addFault(tc.op, 2, fault{http.StatusBadRequest, tc.errType, "slow down"})
			c := fk.client(t, nil)
			var got digest
			var err error
			var want digest
			if tc.op == "getMedia" {
				want = expect(t, mediaOf(frags)...)
				got, err = readLiveAll(t, c, Live{Stream: Stream{ARN: testARN}, Start: StartSelector{Type: StartEarliest}})
			} else {
				want = expect(t, listOf(frags)...)
				got, err = readRangeAll(t, c, Range{Stream: Stream{ARN: testARN}, StartTime: frags[0].server, StopTime: frags[5].server})
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := got.diff(want); d != "" {
				t.Error(d)
			}
			fk.mu.Lock()
			calls := 0
			for k, n := range fk.calls {
				if strings.HasPrefix(k, tc.op) { // getDataEndpoint counts per API name
					calls += n
				}
			}
			fk.mu.Unlock()
			if calls < 3 {
				t.Errorf("%s called %d times, want the 2 throttled calls and a retry", tc.op, calls)
			}
		})
	}
}

// TestEndpointRefresh: a data endpoint that fails with a connection error,
// InvalidEndpointException or NotAuthorizedException is fetched again once,
// and the call retried on the fresh one; a working endpoint is cached.
func TestEndpointRefresh(t *testing.T) {
	frags := makeStream(t, 5)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // connection refused from now on
	for _, tc := range []struct {
		name      string
		setup     func(*fakeKVS)
		wantEPGet int // GetDataEndpoint calls for LIST_FRAGMENTS over two ListFragments calls
	}{
		{"cached", func(*fakeKVS) {}, 1},
		{"connection refused", func(f *fakeKVS) { f.endpoints = []string{deadURL} }, 2},
		{"InvalidEndpointException", func(f *fakeKVS) { f.endpoints = []string{f.srv.URL + "/stale"} }, 2},
		{"NotAuthorizedException", func(f *fakeKVS) {
			f.addFault("listFragments", 1, fault{http.StatusUnauthorized, ErrTypeNotAuthorized, "token expired"})
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fk := newFakeKVS(t, frags)
			tc.setup(fk)
			c := fk.client(t, nil)
			sel := FragmentSelector{Type: ServerTimestamp, Start: frags[0].server, End: frags[4].server}
			for range 2 {
				infos, err := c.ListFragments(context.Background(), Stream{ARN: testARN}, sel)
				if err != nil {
					t.Fatal(err)
				}
				if len(infos) != 5 {
					t.Fatalf("listed %d fragments, want 5", len(infos))
				}
			}
			if got := fk.callCount("getDataEndpoint:LIST_FRAGMENTS"); got != tc.wantEPGet {
				t.Errorf("GetDataEndpoint(LIST_FRAGMENTS) called %d times, want %d", got, tc.wantEPGet)
			}
		})
	}
}

func TestEndpointRefreshedOnlyOnce(t *testing.T) {
	fk := newFakeKVS(t, makeStream(t, 3))
	fk.endpoints = []string{fk.srv.URL + "/stale", fk.srv.URL + "/stale", fk.srv.URL + "/stale"}
	c := fk.client(t, nil)
	_, err := c.GetMediaForFragmentList(context.Background(), Stream{ARN: testARN}, []string{fk.frags[0].number})
	var ae *APIError
	if !errors.As(err, &ae) || ae.Type != ErrTypeInvalidEndpoint {
		t.Fatalf("got %v, want InvalidEndpointException", err)
	}
	if got := fk.callCount("getDataEndpoint:GET_MEDIA_FOR_FRAGMENT_LIST"); got != 2 {
		t.Errorf("GetDataEndpoint called %d times, want 2 (one refresh)", got)
	}
}

func readRangeAll(t *testing.T, c *Client, r Range) (digest, error) {
	t.Helper()
	rr, err := c.ReadRange(context.Background(), r)
	if err != nil {
		return digest{}, err
	}
	defer rr.Close()
	return drain(rr)
}

func readLiveAll(t *testing.T, c *Client, l Live) (digest, error) {
	t.Helper()
	lr, err := c.ReadLive(context.Background(), l)
	if err != nil {
		return digest{}, err
	}
	defer lr.Close()
	return drain(lr)
}

// tokenPattern accepts what the API's ContinuationToken pattern does.
func TestTokenPattern(t *testing.T) {
	api := regexp.MustCompile(`^[a-zA-Z0-9_.\-]{1,128}$`)
	for _, s := range []string{
		"", "9", "91343852333181553735538879356468155603100391038", "a-b_c.D", strings.Repeat("x", 128), strings.Repeat("x", 129),
		"a b", "a/b", "a+b", "é", "a\x00", "-", "[", "`", "{",
	} {
		if got, want := tokenPattern.MatchString(s), api.MatchString(s); got != want {
			t.Errorf("%q: %v, want %v", s, got, want)
		}
	}
}
