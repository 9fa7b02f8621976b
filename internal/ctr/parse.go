package ctr

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// MaxLineBytes bounds one line of NDJSON input. A longer line becomes an
// error item and is skipped. Kinesis records hold at most 1 MiB and Lambda
// events at most 6 MB, so real input stays well below.
const MaxLineBytes = 16 << 20

// Item is one contact record found in the input: either CTR or Err is set.
type Item struct {
	Pos Pos
	CTR *CTR
	Err error // an *Error when set
}

// Pos says where an item was found. Numbers count from 1; zero means the
// level does not apply.
type Pos struct {
	Line    int // line of NDJSON input
	Value   int // JSON value of a stream of (pretty-printed) documents
	Element int // element of a JSON array
	// Record is the record of a Kinesis event, with the identifiers Lambda
	// and Kinesis give it. SequenceNumber is what a Lambda partial batch
	// response (batchItemFailures) reports.
	Record         int
	EventID        string
	SequenceNumber string
	PartitionKey   string
	DataLine       int // line of NDJSON inside a Kinesis record's data
}

// String describes p as "line 3, record 2 (eventID …)". The first value of
// a document stream, the usual single document, is left out.
func (p Pos) String() string {
	var parts []string
	if p.Line > 0 {
		parts = append(parts, "line "+strconv.Itoa(p.Line))
	}
	if p.Value > 1 {
		parts = append(parts, "value "+strconv.Itoa(p.Value))
	}
	if p.Element > 0 {
		parts = append(parts, "element "+strconv.Itoa(p.Element))
	}
	if p.Record > 0 {
		s := "record " + strconv.Itoa(p.Record)
		switch {
		case p.EventID != "":
			s += " (eventID " + p.EventID + ")"
		case p.SequenceNumber != "":
			s += " (sequenceNumber " + p.SequenceNumber + ")"
		}
		parts = append(parts, s)
	}
	if p.DataLine > 0 {
		parts = append(parts, "data line "+strconv.Itoa(p.DataLine))
	}
	return strings.Join(parts, ", ")
}

// Parse decodes every contact record in data; see [Reader] for the formats.
// It returns an error only when data holds no item at all: it is empty, it
// is not JSON, or its one document cannot be parsed. Items that cannot be
// decoded are returned with their errors.
func Parse(data []byte) ([]Item, error) {
	r := NewReader(bytes.NewReader(data))
	var items []Item
	for {
		it, err := r.Next()
		if err == io.EOF {
			return items, nil
		}
		if err != nil {
			return items, err
		}
		items = append(items, it)
	}
}

// Reader yields the contact records of a stream one at a time. It reads
//
//   - a contact record: a JSON object with a ContactId;
//   - a Kinesis Data Streams Lambda event, {"Records":[{"kinesis":{"data":
//     "<base64>",…},"eventID":…},…]}, whose data holds one contact record
//     or NDJSON of them;
//   - NDJSON whose lines are contact records, events or arrays of either;
//     blank lines are skipped;
//   - a JSON array of contact records or events;
//   - a stream of multi-line (pretty-printed) JSON documents.
//
// NDJSON is read a line at a time, so its size is not bounded by memory; a
// line that is not valid JSON is an error item, and the next line is read
// as usual. In a JSON array or document stream a syntax error cannot be
// skipped: it ends the input with an error item.
type Reader struct {
	src     *bufio.Reader
	mode    mode
	dec     *json.Decoder // documents and array
	line    int           // lines read
	value   int           // documents or array elements read
	pending []Item
	err     error // sticky: io.EOF or a fatal error
	maxLine int
}

type mode int

const (
	modeStart mode = iota
	modeLines
	modeDocs
	modeArray
	modeDone
)

// NewReader returns a Reader of r. It buffers r.
func NewReader(r io.Reader) *Reader {
	return &Reader{src: bufio.NewReaderSize(r, 64<<10), maxLine: MaxLineBytes}
}

// Next returns the next item, or io.EOF after the last one. Other errors
// mean that the input could not be read at all ([ErrEmpty], [ErrNotJSON], a
// first document that is not valid JSON) or reading it failed; they are
// returned again by later calls.
func (r *Reader) Next() (Item, error) {
	for {
		if len(r.pending) > 0 {
			it := r.pending[0]
			r.pending = r.pending[1:]
			if len(r.pending) == 0 {
				r.pending = nil
			}
			return it, nil
		}
		if r.err != nil {
			return Item{}, r.err
		}
		r.err = r.fill()
	}
}

// fill reads the next value of the input into r.pending.
func (r *Reader) fill() error {
	switch r.mode {
	case modeStart:
		return r.start()
	case modeLines:
		return r.nextLine()
	case modeDocs:
		return r.nextDoc()
	case modeArray:
		return r.nextElement()
	}
	return io.EOF
}

// bom is the UTF-8 byte order mark, skipped at the start of the input.
const bom = "\xEF\xBB\xBF"

// start looks at the beginning of the input to choose the mode.
func (r *Reader) start() error {
	if b, _ := r.src.Peek(len(bom)); string(b) == bom {
		_, _ = r.src.Discard(len(bom))
	}
	var c byte
	for {
		var err error
		c, err = r.src.ReadByte()
		if err == io.EOF {
			return ErrEmpty
		}
		if err != nil {
			return fmt.Errorf("ctr: reading input: %w", err)
		}
		if c == '\n' {
			r.line++
		}
		if !isSpace(c) {
			_ = r.src.UnreadByte()
			break
		}
	}
	switch c {
	case '[':
		r.mode = modeArray
		r.dec = json.NewDecoder(r.src)
		if _, err := r.dec.Token(); err != nil { // the '['
			return fmt.Errorf("ctr: reading input: %w", err)
		}
		return nil
	case '{':
		return r.startObject()
	}
	return fmt.Errorf("%w: it starts with %q", ErrNotJSON, c)
}

// startObject chooses between NDJSON and a stream of multi-line documents
// for input that starts with '{'. A first line that is a complete value
// means NDJSON. A first line that ends inside a value starts a document; if
// that document turns out to be invalid and its first line was more than a
// lone "{", the input is read again as NDJSON with a bad first line.
func (r *Reader) startObject() error {
	first, tooLong, err := r.readLine()
	if err != nil {
		return fmt.Errorf("ctr: reading line %d: %w", r.line+1, err)
	}
	trimmed := bytes.TrimSpace(first)
	if tooLong || json.Valid(trimmed) || !truncated(trimmed) {
		r.mode = modeLines
		r.line++
		r.pending = r.lineItems(first, tooLong)
		return nil
	}
	var seen bytes.Buffer
	tee := &switchWriter{w: &seen}
	r.dec = json.NewDecoder(io.MultiReader(bytes.NewReader(first), io.TeeReader(r.src, tee)))
	var raw json.RawMessage
	err = r.dec.Decode(&raw)
	tee.w = nil
	if err == nil {
		r.mode = modeDocs
		r.value = 1
		r.pending = r.expand(raw, Pos{Value: 1})
		return nil
	}
	if !isSyntax(err) {
		return fmt.Errorf("ctr: reading input: %w", err)
	}
	if bytes.Equal(trimmed, []byte("{")) {
		return fmt.Errorf("%w: %w", ErrNotJSON, jsonError(err))
	}
	r.dec = nil
	r.src = bufio.NewReader(io.MultiReader(bytes.NewReader(first), &seen, r.src))
	r.mode = modeLines
	return nil
}

func (r *Reader) nextLine() error {
	line, tooLong, err := r.readLine()
	if err == io.EOF {
		return io.EOF
	}
	if err != nil {
		return fmt.Errorf("ctr: reading line %d: %w", r.line+1, err)
	}
	r.line++
	r.pending = r.lineItems(line, tooLong)
	return nil
}

func (r *Reader) lineItems(line []byte, tooLong bool) []Item {
	pos := Pos{Line: r.line}
	if tooLong {
		return []Item{errItem(pos, "", fmt.Errorf("line is longer than %d bytes", r.maxLine))}
	}
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil
	}
	return r.expand(line, pos)
}

func (r *Reader) nextDoc() error {
	var raw json.RawMessage
	err := r.dec.Decode(&raw)
	if err == io.EOF {
		return io.EOF
	}
	r.value++
	pos := Pos{Value: r.value}
	if err != nil {
		if !isSyntax(err) {
			return fmt.Errorf("ctr: reading input: %w", err)
		}
		r.mode = modeDone
		r.pending = []Item{errItem(pos, "", fmt.Errorf("%w; the rest of the input is skipped", jsonError(err)))}
		return nil
	}
	r.pending = r.expand(raw, pos)
	return nil
}

func (r *Reader) nextElement() error {
	pos := Pos{Element: r.value + 1}
	if !r.dec.More() {
		r.mode = modeDone
		tok, err := r.dec.Token()
		if err == nil && tok == json.Delim(']') {
			if _, err := r.dec.Token(); err == io.EOF {
				return io.EOF
			}
			r.pending = []Item{errItem(Pos{}, "", errors.New("unexpected data after the JSON array"))}
			return nil
		}
		if err != nil && !isSyntax(err) && err != io.EOF {
			return fmt.Errorf("ctr: reading input: %w", err)
		}
		r.pending = []Item{errItem(pos, "", errors.New("invalid JSON: the array is not closed"))}
		return nil
	}
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err != nil {
		if err == io.EOF { // after a comma
			r.mode = modeDone
			r.pending = []Item{errItem(pos, "", errors.New("invalid JSON: the array is not closed"))}
			return nil
		}
		if !isSyntax(err) {
			return fmt.Errorf("ctr: reading input: %w", err)
		}
		r.mode = modeDone
		r.pending = []Item{errItem(pos, "", fmt.Errorf("%w; the rest of the input is skipped", jsonError(err)))}
		return nil
	}
	r.value++
	r.pending = r.expand(raw, pos)
	return nil
}

// readLine returns the next line including its newline. A line longer than
// r.maxLine is consumed and reported as tooLong without its bytes. At the
// end of the input it returns io.EOF with no line.
func (r *Reader) readLine() (line []byte, tooLong bool, err error) {
	for {
		chunk, err := r.src.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > r.maxLine {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && (len(line) > 0 || tooLong):
			return line, tooLong, nil
		}
		return line, tooLong, err
	}
}

// expand turns one JSON value of the input into items: a contact record, a
// Kinesis event's records, or an array's elements.
func (r *Reader) expand(raw []byte, pos Pos) []Item {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return []Item{errItem(pos, "", errors.New("empty value"))}
	}
	switch raw[0] {
	case '{':
		return r.expandObject(raw, pos)
	case '[':
		if pos.Element > 0 {
			return []Item{errItem(pos, "", errors.New("a JSON array inside an array, not a contact record"))}
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return []Item{errItem(pos, "", jsonError(err))}
		}
		var items []Item
		for i, e := range elems {
			p := pos
			p.Element = i + 1
			items = append(items, r.expand(e, p)...)
		}
		return items
	}
	return []Item{errItem(pos, "", notObject(raw))}
}

func (r *Reader) expandObject(raw []byte, pos Pos) []Item {
	var probe struct {
		Records   json.RawMessage `json:"Records"`
		ContactID json.RawMessage `json:"ContactId"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return []Item{errItem(pos, "", jsonError(err))}
	}
	if isPresent(probe.Records) && !isPresent(probe.ContactID) {
		if pos.Record > 0 {
			return []Item{errItem(pos, "", errors.New("a Kinesis event inside a Kinesis record, not a contact record"))}
		}
		return r.expandEvent(probe.Records, pos)
	}
	return []Item{decodeItem(raw, pos)}
}

func (r *Reader) expandEvent(records json.RawMessage, pos Pos) []Item {
	var recs []json.RawMessage
	if err := json.Unmarshal(records, &recs); err != nil {
		return []Item{errItem(pos, "", errors.New("the event's Records is not an array"))}
	}
	var items []Item
	for i, rec := range recs {
		p := pos
		p.Record = i + 1
		items = append(items, r.expandRecord(rec, p)...)
	}
	return items
}

// expandRecord decodes one record of a Kinesis event.
func (r *Reader) expandRecord(rec json.RawMessage, pos Pos) []Item {
	var w struct {
		EventID     text `json:"eventID"`
		EventSource text `json:"eventSource"`
		Kinesis     *struct {
			Data           text `json:"data"`
			SequenceNumber text `json:"sequenceNumber"`
			PartitionKey   text `json:"partitionKey"`
		} `json:"kinesis"`
	}
	if err := json.Unmarshal(rec, &w); err != nil {
		return []Item{errItem(pos, "", fmt.Errorf("not a Kinesis record: %w", fieldError(err)))}
	}
	pos.EventID = string(w.EventID)
	if w.Kinesis == nil {
		if w.EventSource != "" {
			return []Item{errItem(pos, "", fmt.Errorf("not a Kinesis record: eventSource %s and no kinesis field", w.EventSource))}
		}
		return []Item{errItem(pos, "", errors.New("not a Kinesis record: no kinesis field"))}
	}
	pos.SequenceNumber = string(w.Kinesis.SequenceNumber)
	pos.PartitionKey = string(w.Kinesis.PartitionKey)
	if w.Kinesis.Data == "" {
		return []Item{errItem(pos, "", errors.New("kinesis.data is empty"))}
	}
	data, err := decodeBase64(string(w.Kinesis.Data))
	if err != nil {
		return []Item{errItem(pos, "", fmt.Errorf("kinesis.data is not base64: %w", err))}
	}
	return r.expandData(data, pos)
}

// expandData decodes a Kinesis record's data: one contact record, or NDJSON
// of them.
func (r *Reader) expandData(data []byte, pos Pos) []Item {
	data = bytes.TrimSpace(bytes.TrimPrefix(data, []byte(bom)))
	if len(data) == 0 {
		return []Item{errItem(pos, "", errors.New("kinesis.data decodes to nothing"))}
	}
	if json.Valid(data) {
		return r.dataItems(data, pos)
	}
	lines := bytes.Split(data, []byte("\n"))
	n := 0
	for _, l := range lines {
		if len(bytes.TrimSpace(l)) > 0 {
			n++
		}
	}
	if n < 2 {
		var v any
		return []Item{errItem(pos, "", fmt.Errorf("kinesis.data: %w", jsonError(json.Unmarshal(data, &v))))}
	}
	var items []Item
	for i, l := range lines {
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		p := pos
		p.DataLine = i + 1
		items = append(items, r.dataItems(l, p)...)
	}
	return items
}

func (r *Reader) dataItems(raw []byte, pos Pos) []Item {
	if raw[0] != '{' {
		return []Item{errItem(pos, "", fmt.Errorf("kinesis.data: %w", notObject(raw)))}
	}
	return r.expandObject(raw, pos)
}

// decodeItem decodes one contact record.
func decodeItem(raw []byte, pos Pos) Item {
	var c CTR
	if err := json.Unmarshal(raw, &c); err != nil {
		var id struct {
			ContactID text `json:"ContactId"`
		}
		_ = json.Unmarshal(raw, &id) // best effort, for the message
		var se *json.SyntaxError
		if errors.As(err, &se) {
			err = jsonError(err)
		}
		return errItem(pos, string(id.ContactID), err)
	}
	if c.ContactID == "" {
		return errItem(pos, "", errors.New("not a contact record: ContactId is missing"))
	}
	return Item{Pos: pos, CTR: &c}
}

func errItem(pos Pos, contactID string, err error) Item {
	return Item{Pos: pos, Err: &Error{Pos: pos, ContactID: contactID, Err: err}}
}

// decodeBase64 accepts standard base64 with or without padding.
func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err == nil {
		return b, nil
	}
	if b, err2 := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err2 == nil {
		return b, nil
	}
	return nil, err
}

// jsonError words a syntax error of encoding/json.
func jsonError(err error) error {
	if err == io.ErrUnexpectedEOF {
		return errors.New("invalid JSON: unexpected end of input")
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

// notObject explains why a value that does not start with '{' is not a
// contact record.
func notObject(raw []byte) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return jsonError(err)
	}
	kind := "value"
	switch v.(type) {
	case string:
		kind = "string"
	case float64:
		kind = "number"
	case bool:
		kind = "boolean"
	case nil:
		kind = "null"
	case []any:
		kind = "array"
	}
	return fmt.Errorf("a JSON %s, not a contact record", kind)
}

// truncated reports whether b is the start of a JSON value cut short, as
// the first line of a pretty-printed document is.
func truncated(b []byte) bool {
	var v any
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	return errors.As(err, &se) && se.Offset >= int64(len(b))
}

func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se) || err == io.ErrUnexpectedEOF
}

func isPresent(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// switchWriter writes to w until w is set to nil.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) {
	if s.w != nil {
		return s.w.Write(p)
	}
	return len(p), nil
}
