package lambdafn

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/retry"
)

// Runner runs one attempt of a pipeline step; *pipeline.Pipeline is one.
type Runner interface {
	Run(ctx context.Context, job pipeline.Job, attempt, maxAttempts int) (gaveUp bool, err error)
}

// Delayer makes a received message visible again after d, for its next
// attempt; *awsstate.State is one.
type Delayer interface {
	RetryAfter(ctx context.Context, receiptHandle string, d time.Duration) error
}

// Retry back-off of a step that asked for no delay: as under vmx serve,
// a second doubling per attempt up to ten minutes.
const (
	backoffBase = time.Second
	backoffMax  = 10 * time.Minute
)

// Step is the step function: an event source mapping on the step queue
// invokes it with messages, each one pipeline step.
type Step struct {
	Runner Runner
	// Decode reads a message body (awsstate.DecodeMessage).
	Decode func(body string) (pipeline.Job, error)
	// Delayer postpones retried messages.
	Delayer     Delayer
	MaxAttempts int
	Logger      *slog.Logger
}

// Handle runs each message's step, its attempt being the message's
// receive count. A step that is done, or that gave up (the voicemail is
// then marked failed), is deleted from the queue; one to retry is
// reported in BatchItemFailures after its visibility is set to the delay
// the step asked for, or to the back-off of its attempt. A body that is
// not a step is dropped: retrying cannot make it one. On the FIFO queue,
// the messages of a group (a contact) after one to retry are not run but
// reported too, so that the contact's steps keep their order.
func (h *Step) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	log := logger(h.Logger)
	var resp events.SQSEventResponse
	held := map[string]bool{} // message groups with a message to retry
	for _, m := range ev.Records {
		group := m.Attributes["MessageGroupId"]
		if (group != "" && held[group]) || h.retry(ctx, log, m) {
			held[group] = group != ""
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
		}
	}
	return resp, nil
}

// retry runs one message's step and reports whether it is to be retried.
func (h *Step) retry(ctx context.Context, log *slog.Logger, m events.SQSMessage) bool {
	log = log.With("message_id", m.MessageId)
	job, err := h.Decode(m.Body)
	if err != nil {
		log.Error("message is not a pipeline step; dropped", "err", err)
		return false
	}
	attempt := receiveCount(m)
	gaveUp, err := h.Runner.Run(ctx, job, attempt, h.MaxAttempts)
	if err == nil || gaveUp {
		return false
	}
	d, ok := retry.Delay(err)
	if !ok {
		d = backoff(attempt)
	}
	if err := h.Delayer.RetryAfter(ctx, m.ReceiptHandle, d); err != nil {
		// The message still comes back, after the queue's visibility timeout.
		log.Warn("retry delay not set", "kind", job.Kind(), "delay", d, "err", err)
	}
	return true
}

// receiveCount is the message's ApproximateReceiveCount: 1 on its first
// delivery.
func receiveCount(m events.SQSMessage) int {
	n, err := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// backoff is the delay before the next attempt of a step whose attempt-th
// attempt failed without asking for a delay.
func backoff(attempt int) time.Duration {
	return min(backoffBase<<min(max(attempt-1, 0), 20), backoffMax)
}
