package awsstatetest

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// QueueName is the fake's one queue, a FIFO queue as vmx's template
// makes; QueueURL gives its URL.
const QueueName = "vmx-steps.fifo"

// dedupWindow is how long SQS FIFO remembers a deduplication id.
const dedupWindow = 5 * time.Minute

// maxMessageSize is SQS's limit on a message body.
const maxMessageSize = 1024 * 1024

// maxVisibility is SQS's longest visibility timeout, in seconds.
const maxVisibility = 43200

// SQS is a fake SQS endpoint with one FIFO queue and the operations
// SendMessage and ChangeMessageVisibility. A message needs a group and a
// deduplication id, and a repeat of a deduplication id within five
// minutes is accepted but not queued, as SQS does. Tests receive its
// messages with Receive, as Lambda's event source mapping does; the fake
// does not hold back a group's later messages while one is in flight.
type SQS struct {
	srv   *httptest.Server
	hooks hooks
	ids   atomic.Int64 // request ids

	mu      sync.Mutex
	sent    []Message
	waiting []int // indexes into sent not yet received
	handles map[string]int
	changes []VisibilityChange
	calls   map[string]int
	dedup   map[string]dedupEntry
}

type dedupEntry struct {
	id string
	at time.Time
}

// Message is a message sent to the queue.
type Message struct {
	ID      string
	Body    string
	GroupID string
	// ReceiptHandle is set once the message is received, and changes with
	// each receipt.
	ReceiptHandle string
	Receives      int
}

// VisibilityChange is one ChangeMessageVisibility the fake accepted.
type VisibilityChange struct {
	MessageID string
	Seconds   int
}

// NewSQS starts a fake SQS, stopped when tb ends.
func NewSQS(tb testing.TB) *SQS {
	q := &SQS{handles: map[string]int{}, calls: map[string]int{}, dedup: map[string]dedupEntry{}}
	q.srv = httptest.NewServer(q)
	tb.Cleanup(q.srv.Close)
	return q
}

// QueueURL is the URL of the fake's queue.
func (q *SQS) QueueURL() string { return q.srv.URL + "/000000000000/" + QueueName }

// Client returns a real SQS client aimed at the fake.
func (q *SQS) Client() *sqs.Client { return sqs.NewFromConfig(config(q.srv.URL)) }

// Sent returns every message sent so far, oldest first.
func (q *SQS) Sent() []Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]Message(nil), q.sent...)
}

// Receive takes the messages waiting in the queue, oldest first, each
// with a new receipt handle: what one poll of a consumer gets.
func (q *SQS) Receive() []Message {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Message, 0, len(q.waiting))
	for _, i := range q.waiting {
		m := &q.sent[i]
		m.Receives++
		m.ReceiptHandle = fmt.Sprintf("AQEB%s-%d", m.ID, m.Receives)
		q.handles[m.ReceiptHandle] = i
		out = append(out, *m)
	}
	q.waiting = q.waiting[:0]
	return out
}

// Changes returns the visibility changes accepted so far.
func (q *SQS) Changes() []VisibilityChange {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]VisibilityChange(nil), q.changes...)
}

// Calls counts the requests of operation op answered so far.
func (q *SQS) Calls(op string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.calls[op]
}

// BeforeNext runs fn once, just before the fake handles the next request
// of operation op ("SendMessage"…). fn may call the fake.
func (q *SQS) BeforeNext(op string, fn func()) { q.hooks.add(op, fn) }

func (q *SQS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, body, aerr := readRequest(r, "AmazonSQS.", "sqs")
	var out any
	if aerr == nil {
		q.hooks.run(op)
		q.mu.Lock()
		q.calls[op]++
		switch op {
		case "SendMessage":
			out, aerr = q.sendMessage(body)
		case "ChangeMessageVisibility":
			out, aerr = q.changeVisibility(body)
		default:
			aerr = &apiError{status: http.StatusBadRequest, typ: "com.amazonaws.sqs#UnsupportedOperation",
				msg: "awsstatetest: not implemented by the fake: " + op, queryError: "AWS.SimpleQueueService.UnsupportedOperation;Sender"}
		}
		q.mu.Unlock()
	}
	writeReply(w, q.ids.Add(1), out, aerr, nil)
}

func (q *SQS) sendMessage(body []byte) (any, *apiError) {
	var in struct {
		QueueUrl               string
		MessageBody            *string
		MessageGroupId         string
		MessageDeduplicationId string
	}
	if err := decodeInput(body, &in, "QueueUrl", "MessageBody", "MessageGroupId", "MessageDeduplicationId"); err != nil {
		return nil, err
	}
	if err := q.checkQueue(in.QueueUrl); err != nil {
		return nil, err
	}
	switch {
	case in.MessageBody == nil || *in.MessageBody == "":
		return nil, sqsError("MissingParameter", "MissingParameter", "The request must contain the parameter MessageBody.")
	case len(*in.MessageBody) > maxMessageSize:
		return nil, sqsError("InvalidParameterValue", "InvalidParameterValue",
			fmt.Sprintf("One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", maxMessageSize))
	case !validMessage(*in.MessageBody):
		return nil, sqsError("com.amazonaws.sqs#InvalidMessageContents", "InvalidMessageContents", "Invalid characters found.")
	}
	// In a fixed order, as SQS checks them: the group first.
	for _, p := range [][2]string{{"MessageGroupId", in.MessageGroupId}, {"MessageDeduplicationId", in.MessageDeduplicationId}} {
		if !validFIFOID(p[1]) {
			return nil, sqsError("MissingParameter", "MissingParameter",
				fmt.Sprintf("The request must contain the parameter %s: 1 to 128 characters of a-z, A-Z, 0-9 and punctuation (a FIFO queue without content-based deduplication).", p[0]))
		}
	}
	sum := md5.Sum([]byte(*in.MessageBody))
	out := map[string]string{"MD5OfMessageBody": hex.EncodeToString(sum[:])}
	if d, ok := q.dedup[in.MessageDeduplicationId]; ok && time.Since(d.at) < dedupWindow {
		out["MessageId"] = d.id // accepted, not queued again
		return out, nil
	}
	id := fmt.Sprintf("6f1c2b1e-0000-4000-8000-%012d", len(q.sent)+1)
	q.dedup[in.MessageDeduplicationId] = dedupEntry{id: id, at: time.Now()}
	q.waiting = append(q.waiting, len(q.sent))
	q.sent = append(q.sent, Message{ID: id, Body: *in.MessageBody, GroupID: in.MessageGroupId})
	out["MessageId"] = id
	return out, nil
}

func (q *SQS) changeVisibility(body []byte) (any, *apiError) {
	var in struct {
		QueueUrl          string
		ReceiptHandle     string
		VisibilityTimeout *int
	}
	if err := decodeInput(body, &in, "QueueUrl", "ReceiptHandle", "VisibilityTimeout"); err != nil {
		return nil, err
	}
	if err := q.checkQueue(in.QueueUrl); err != nil {
		return nil, err
	}
	i, ok := q.handles[in.ReceiptHandle]
	if !ok {
		return nil, sqsError("com.amazonaws.sqs#ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid",
			fmt.Sprintf("The input receipt handle %q is not a valid receipt handle.", in.ReceiptHandle))
	}
	if in.VisibilityTimeout == nil || *in.VisibilityTimeout < 0 || *in.VisibilityTimeout > maxVisibility {
		return nil, sqsError("InvalidParameterValue", "InvalidParameterValue",
			fmt.Sprintf("Value %v for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and %d.", in.VisibilityTimeout, maxVisibility))
	}
	q.changes = append(q.changes, VisibilityChange{MessageID: q.sent[i].ID, Seconds: *in.VisibilityTimeout})
	return struct{}{}, nil
}

func (q *SQS) checkQueue(url string) *apiError {
	if url != q.QueueURL() {
		return sqsError("com.amazonaws.sqs#QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
	}
	return nil
}

// validFIFOID reports whether v is a valid MessageGroupId or
// MessageDeduplicationId: 1 to 128 alphanumeric or punctuation characters.
func validFIFOID(v string) bool {
	if len(v) == 0 || len(v) > 128 {
		return false
	}
	for _, r := range v {
		if r < '!' || r > '~' {
			return false
		}
	}
	return true
}

// validMessage reports whether SQS accepts body: #x9, #xA, #xD and
// #x20 to #x10FFFF less the surrogates and #xFFFE, #xFFFF.
func validMessage(body string) bool {
	if !utf8.ValidString(body) {
		return false
	}
	for _, r := range body {
		if r < 0x20 && r != 0x9 && r != 0xA && r != 0xD || r == 0xFFFE || r == 0xFFFF {
			return false
		}
	}
	return true
}

func sqsError(typ, code, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: typ, msg: msg, queryError: code + ";Sender"}
}
