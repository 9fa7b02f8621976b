package ctr

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

const (
	ivrContact = "8f0c2d3e-5b1a-4c7e-9d21-3a7c1e6f0b42"
	kvsContact = "d16c84ac-b26c-4175-881d-e75142397d56"
	offContact = "0f0f0f0f-0000-4000-8000-000000000001" // vmx3_flag "0"
	anyContact = "0f0f0f0f-0000-4000-8000-000000000002" // no flag
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// compact returns a testdata JSON file on one line.
func compact(t testing.TB, name string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, readFile(t, name)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func event(datas ...string) string {
	var recs []string
	for i, d := range datas {
		recs = append(recs, fmt.Sprintf(`{"kinesis":{"data":%q,"sequenceNumber":"seq-%d","partitionKey":"pk"},"eventID":"shardId-000000000000:seq-%d","eventSource":"aws:kinesis"}`, d, i+1, i+1))
	}
	return `{"Records":[` + strings.Join(recs, ",") + `]}`
}

// want is one expected item: a contact ID, or a piece of the error.
type want struct {
	pos     string // Pos.String()
	contact string
	err     string
}

// summary describes items as wants, for comparing.
func summary(items []Item) []want {
	var out []want
	for _, it := range items {
		w := want{pos: it.Pos.String()}
		if it.CTR != nil {
			w.contact = it.CTR.ContactID
		} else {
			w.err = it.Err.Error()
		}
		out = append(out, w)
	}
	return out
}

func checkItems(t *testing.T, items []Item, wants []want) {
	t.Helper()
	got := summary(items)
	if len(got) != len(wants) {
		t.Fatalf("got %d items, want %d:\n%v", len(got), len(wants), got)
	}
	for i, w := range wants {
		g := got[i]
		if g.pos != w.pos || g.contact != w.contact || (w.err == "") != (g.err == "") || !strings.Contains(g.err, w.err) {
			t.Errorf("item %d = %+v, want %+v", i, g, w)
		}
		if (items[i].CTR == nil) == (items[i].Err == nil) {
			t.Errorf("item %d: CTR %v and Err %v: want exactly one", i, items[i].CTR != nil, items[i].Err)
		}
	}
}

func TestParseFormats(t *testing.T) {
	ivr, kvs := compact(t, "ivr.json"), compact(t, "kvs.json")
	seq := func(n int) string { return fmt.Sprintf("(eventID shardId-000000000000:seq-%d)", n) }
	tests := []struct {
		name  string
		input string
		want  []want
	}{
		{"raw pretty", string(readFile(t, "ivr.json")), []want{{contact: ivrContact}}},
		{"raw one line", ivr, []want{{pos: "line 1", contact: ivrContact}}},
		{"raw with BOM and CRLF", "\xEF\xBB\xBF\r\n" + ivr + "\r\n", []want{{pos: "line 2", contact: ivrContact}}},
		{"kinesis event", string(readFile(t, "event.json")), []want{
			{pos: "record 1 (eventID shardId-000000000000:49654012345678901234567890123456789012345678901234567891)", contact: ivrContact},
			{pos: "record 2 (eventID shardId-000000000000:49654012345678901234567890123456789012345678901234567892)", err: "kinesis.data is not base64"},
			{pos: "record 3 (eventID shardId-000000000000:49654012345678901234567890123456789012345678901234567893)", err: "invalid JSON"},
			{pos: "record 4 (eventID shardId-000000000000:49654012345678901234567890123456789012345678901234567894)", contact: kvsContact},
			{pos: "record 5 (eventID shardId-000000000000:49654012345678901234567890123456789012345678901234567895), data line 1", contact: offContact},
			{pos: "record 5 (eventID shardId-000000000000:49654012345678901234567890123456789012345678901234567895), data line 2", contact: anyContact},
		}},
		{"kinesis event one line", event(b64(ivr), "!!", b64(`{"ContactId": 1`), b64(kvs)), []want{
			{pos: "line 1, record 1 " + seq(1), contact: ivrContact},
			{pos: "line 1, record 2 " + seq(2), err: "not base64"},
			{pos: "line 1, record 3 " + seq(3), err: "kinesis.data: invalid JSON: unexpected end of JSON input"},
			{pos: "line 1, record 4 " + seq(4), contact: kvsContact},
		}},
		{"kinesis data without padding", event(strings.TrimRight(b64(ivr+" "), "=")), []want{{pos: "line 1, record 1 " + seq(1), contact: ivrContact}}},
		{"kinesis data pretty", event(b64(string(readFile(t, "kvs.json")))), []want{{pos: "line 1, record 1 " + seq(1), contact: kvsContact}}},
		{"kinesis data NDJSON with a bad line", event(b64(ivr + "\n\nnope\n" + kvs)), []want{
			{pos: "line 1, record 1 " + seq(1) + ", data line 1", contact: ivrContact},
			{pos: "line 1, record 1 " + seq(1) + ", data line 3", err: "invalid JSON"},
			{pos: "line 1, record 1 " + seq(1) + ", data line 4", contact: kvsContact},
		}},
		{"kinesis empty data", event(""), []want{{pos: "line 1, record 1 " + seq(1), err: "kinesis.data is empty"}}},
		{"kinesis data of spaces", event(b64("  \n")), []want{{pos: "line 1, record 1 " + seq(1), err: "decodes to nothing"}}},
		{"kinesis data array", event(b64("[" + ivr + "]")), []want{{pos: "line 1, record 1 " + seq(1), err: "a JSON array, not a contact record"}}},
		{"kinesis data event", event(b64(event(b64(ivr)))), []want{{pos: "line 1, record 1 " + seq(1), err: "a Kinesis event inside a Kinesis record"}}},
		{"kinesis no records", `{"Records":[]}`, nil},
		{"kinesis Records not array", `{"Records":{"a":1}}`, []want{{pos: "line 1", err: "Records is not an array"}}},
		{"not a kinesis record", `{"Records":[{"eventSource":"aws:s3","s3":{}}, null]}`, []want{
			{pos: "line 1, record 1", err: "not a Kinesis record: eventSource aws:s3"},
			{pos: "line 1, record 2", err: "not a Kinesis record: no kinesis field"},
		}},
		{"kinesis data wrong type", `{"Records":[{"kinesis":{"data":{"x":1}},"eventID":"e1"}]}`, []want{
			{pos: "line 1, record 1", err: "kinesis.data: cannot be a JSON object"},
		}},
		{"ndjson file", string(readFile(t, "batch.ndjson")), []want{
			{pos: "line 1", contact: ivrContact},
			{pos: "line 3", err: "ctr: line 3: invalid JSON: unexpected end of JSON input"},
			{pos: "line 4", contact: kvsContact},
			{pos: "line 6", contact: anyContact},
		}},
		{"ndjson bad first line", `{"ContactId":"a",` + "\n" + ivr + "\n", []want{
			{pos: "line 1", err: "invalid JSON"},
			{pos: "line 2", contact: ivrContact},
		}},
		{"ndjson invalid first line", `{"ContactId":}` + "\n" + ivr, []want{
			{pos: "line 1", err: "invalid JSON"},
			{pos: "line 2", contact: ivrContact},
		}},
		{"ndjson of events and arrays", event(b64(ivr)) + "\n[" + kvs + "," + ivr + "]\n42\n", []want{
			{pos: "line 1, record 1 " + seq(1), contact: ivrContact},
			{pos: "line 2, element 1", contact: kvsContact},
			{pos: "line 2, element 2", contact: ivrContact},
			{pos: "line 3", err: "a JSON number, not a contact record"},
		}},
		{"json array", "[\n" + string(readFile(t, "ivr.json")) + ",\n" + kvs + ", \"x\", [1], " + event(b64(kvs)) + "\n]\n", []want{
			{pos: "element 1", contact: ivrContact},
			{pos: "element 2", contact: kvsContact},
			{pos: "element 3", err: "a JSON string, not a contact record"},
			{pos: "element 4", err: "a JSON array inside an array"},
			{pos: "element 5, record 1 " + seq(1), contact: kvsContact},
		}},
		{"json array empty", "[]", nil},
		{"json array not closed", "[" + ivr + ",", []want{
			{pos: "element 1", contact: ivrContact},
			{pos: "element 2", err: "invalid JSON"},
		}},
		{"json array bad element", "[" + ivr + ", {\"ContactId\": x}, " + kvs + "]", []want{
			{pos: "element 1", contact: ivrContact},
			{pos: "element 2", err: "the rest of the input is skipped"},
		}},
		{"json array then data", "[" + ivr + "] {}", []want{
			{pos: "element 1", contact: ivrContact},
			{err: "ctr: unexpected data after the JSON array"},
		}},
		{"document stream", string(readFile(t, "ivr.json")) + string(readFile(t, "kvs.json")) + "\n" + ivr, []want{
			{contact: ivrContact},
			{pos: "value 2", contact: kvsContact},
			{pos: "value 3", contact: ivrContact},
		}},
		{"pretty event", "{\n  \"Records\": [\n" + fmt.Sprintf(`{"kinesis":{"data":%q}}`, b64(kvs)) + "\n]}\n", []want{
			{pos: "record 1", contact: kvsContact},
		}},
		{"document then garbage", string(readFile(t, "ivr.json")) + "\n}{", []want{
			{contact: ivrContact},
			{pos: "value 2", err: "the rest of the input is skipped"},
		}},
		{"leading blank lines", "\n\n  \n" + ivr + "\n\n" + kvs, []want{
			{pos: "line 4", contact: ivrContact},
			{pos: "line 6", contact: kvsContact},
		}},
		{"no ContactId", `{"Channel":"VOICE"}` + "\n" + `{"ContactId":null}`, []want{
			{pos: "line 1", err: "not a contact record: ContactId is missing"},
			{pos: "line 2", err: "ContactId is missing"},
		}},
		{"bad timestamp", `{"ContactId":"c1","InitiationTimestamp":"yesterday","Recordings":[{"StartTimestamp":"12:00"}]}`, []want{
			{pos: "line 1", err: `ctr: line 1: contact c1: InitiationTimestamp: "yesterday" is not an RFC 3339 time` + "\n" + `Recordings[0].StartTimestamp: "12:00" is not an RFC 3339 time`},
		}},
		{"wrong types", `{"ContactId":"c2","Channel":{"a":1}}` + "\n" + `{"ContactId":"c3","Recordings":{}}` + "\n" + `{"ContactId":"c4","Attributes":{"vmx3_flag":["1"]}}`, []want{
			{pos: "line 1", err: "contact c2: Channel: cannot be a JSON object"},
			{pos: "line 2", err: "contact c3: Recordings: cannot be a JSON object"},
			{pos: "line 3", err: "contact c4: Attributes.vmx3_flag: cannot be a JSON array"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items, err := Parse([]byte(tt.input))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkItems(t, items, tt.want)
		})
	}
}

func TestParseUnparseable(t *testing.T) {
	tests := []struct {
		input string
		want  error
		msg   string
	}{
		{"", ErrEmpty, "ctr: no input"},
		{" \n\t\r\n", ErrEmpty, "ctr: no input"},
		{"\xEF\xBB\xBF", ErrEmpty, "ctr: no input"},
		{"hello", ErrNotJSON, `ctr: input is not JSON: it starts with 'h'`},
		{"42", ErrNotJSON, `it starts with '4'`},
		{"{\n  \"ContactId\": \"x\",\n", ErrNotJSON, "unexpected end of input"},
		{"{\n  garbage\n}", ErrNotJSON, "invalid character 'g'"},
	}
	for _, tt := range tests {
		items, err := Parse([]byte(tt.input))
		if !errors.Is(err, tt.want) || !strings.Contains(fmt.Sprint(err), tt.msg) || len(items) != 0 {
			t.Errorf("Parse(%q) = %d items, %v; want %v containing %q", tt.input, len(items), err, tt.want, tt.msg)
		}
	}
}

func TestErrorMessages(t *testing.T) {
	items, err := Parse(readFile(t, "event.json"))
	if err != nil {
		t.Fatal(err)
	}
	const want = "ctr: record 2 (eventID shardId-000000000000:49654012345678901234567890123456789012345678901234567892): kinesis.data is not base64: illegal base64 data at input byte 0"
	if got := items[1].Err.Error(); got != want {
		t.Errorf("error\n%s\nwant\n%s", got, want)
	}
	var e *Error
	if !errors.As(items[1].Err, &e) || e.Pos.Record != 2 || e.Pos.SequenceNumber != "49654012345678901234567890123456789012345678901234567892" || e.Pos.PartitionKey != "pk-2" {
		t.Errorf("Error %+v", e)
	}
	// The record ID for a Lambda partial batch response.
	if got := items[4].Pos.SequenceNumber; got != "49654012345678901234567890123456789012345678901234567895" {
		t.Errorf("sequence number of record 5: %s", got)
	}
}

// NDJSON is read a line at a time: a long stream goes through in pieces of
// any size, and a line over the limit is one error item.
func TestReaderStreaming(t *testing.T) {
	ivr := compact(t, "ivr.json")
	var b strings.Builder
	const n = 300
	for i := range n {
		if i == 150 {
			b.WriteString(`{"ContactId":"x"` + strings.Repeat(" ", 10000) + "}\n")
			continue
		}
		b.WriteString(strings.Replace(ivr, ivrContact, fmt.Sprintf("contact-%d", i), 1))
		b.WriteString("\n")
	}
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	} {
		t.Run(name, func(t *testing.T) {
			r := NewReader(wrap(strings.NewReader(b.String())))
			r.maxLine = 8000
			count := 0
			for {
				it, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				count++
				if it.Pos.Line == 151 {
					if it.Err == nil || !strings.Contains(it.Err.Error(), "line 151: line is longer than 8000 bytes") {
						t.Errorf("line 151: %v", it.Err)
					}
					continue
				}
				if it.Err != nil || it.CTR.ContactID != fmt.Sprintf("contact-%d", it.Pos.Line-1) {
					t.Fatalf("line %d: %+v", it.Pos.Line, it)
				}
			}
			if count != n {
				t.Errorf("%d items, want %d", count, n)
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("Next after the end: %v", err)
			}
		})
	}
}

func TestReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(io.MultiReader(strings.NewReader(compact(t, "ivr.json")+"\n"), iotest.ErrReader(boom)))
	if it, err := r.Next(); err != nil || it.CTR == nil {
		t.Fatalf("first item: %+v, %v", it, err)
	}
	for range 2 {
		if _, err := r.Next(); !errors.Is(err, boom) || !strings.Contains(err.Error(), "ctr: reading line 2") {
			t.Fatalf("Next = %v, want boom", err)
		}
	}
}

func TestDecodeCTR(t *testing.T) {
	in := `{"ContactId":"c","InitialContactId":null,"InstanceARN":null,"Channel":null,
		"InitiationTimestamp":"2025-09-12T15:03:39.123Z","DisconnectTimestamp":null,"LastUpdateTimestamp":"",
		"Attributes":{"a":"x","gone":null,"n":1,"b":true},
		"Agent":{"ARN":"arn:aws:connect:us-east-1:123456789012:instance/i/agent/a","Username":"jdoe","ConnectedToAgentTimestamp":"2025-09-12T15:04:00Z"},
		"Queue":null,"CustomerEndpoint":null,"SystemEndpoint":{"Address":"+18005550100","Type":"TELEPHONE_NUMBER"},
		"Recordings":[null,{"FragmentStartNumber":12345,"StartTimestamp":null,"Status":null}]}`
	var c CTR
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if c.ContactID != "c" || c.InitialContactID != "" || c.Channel != "" ||
		!c.InitiationTimestamp.Equal(time.Date(2025, 9, 12, 15, 3, 39, 123e6, time.UTC)) ||
		!c.DisconnectTimestamp.IsZero() || !c.LastUpdateTimestamp.IsZero() {
		t.Errorf("scalars: %+v", c)
	}
	if len(c.Attributes) != 3 || c.Attributes["a"] != "x" || c.Attributes["n"] != "1" || c.Attributes["b"] != "true" {
		t.Errorf("attributes %v", c.Attributes)
	}
	if _, ok := c.Attributes["gone"]; ok {
		t.Error("a null attribute is kept")
	}
	if c.Agent == nil || c.Agent.Username != "jdoe" || c.Agent.ConnectedToAgentTimestamp.IsZero() {
		t.Errorf("agent %+v", c.Agent)
	}
	if c.Queue != (Queue{}) || c.CustomerEndpoint != (Endpoint{}) || c.SystemEndpoint.Address != "+18005550100" {
		t.Errorf("queue %+v customer %+v system %+v", c.Queue, c.CustomerEndpoint, c.SystemEndpoint)
	}
	if len(c.Recordings) != 2 || c.Recordings[0] != (Recording{}) || c.Recordings[1].FragmentStartNumber != "12345" {
		t.Errorf("recordings %+v", c.Recordings)
	}

	for in, wantNil := range map[string]bool{
		`{"ContactId":"c"}`:                   true,
		`{"ContactId":"c","Recordings":null}`: true,
		`{"ContactId":"c","Recordings":[]}`:   false,
		`{"ContactId":"c","Agent":null}`:      true,
	} {
		var c CTR
		if err := json.Unmarshal([]byte(in), &c); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(in, "Agent") {
			if (c.Agent == nil) != wantNil {
				t.Errorf("%s: Agent %+v", in, c.Agent)
			}
		} else if (c.Recordings == nil) != wantNil {
			t.Errorf("%s: Recordings %#v", in, c.Recordings)
		}
	}
}

// BenchmarkReader reads NDJSON of contact records.
func BenchmarkReader(b *testing.B) {
	line := compact(b, "ivr.json") + "\n"
	data := []byte(strings.Repeat(line, 1000))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(data))
		for {
			if _, err := r.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
}
