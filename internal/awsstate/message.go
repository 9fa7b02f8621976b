package awsstate

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vmx-dev/vmx/internal/pipeline"
)

// message is a step as an SQS message body carries it.
type message struct {
	Kind string          `json:"kind"`
	Args json.RawMessage `json:"args"`
}

// EncodeJob returns the SQS message body of job: {"kind":…,"args":{…}}.
func EncodeJob(job pipeline.Job) (string, error) {
	if job == nil {
		return "", errors.New("awsstate: encode: no job")
	}
	args, err := json.Marshal(job)
	if err != nil {
		return "", fmt.Errorf("awsstate: encode %s: %w", job.Kind(), err)
	}
	b, err := json.Marshal(message{Kind: job.Kind(), Args: args})
	if err != nil {
		return "", fmt.Errorf("awsstate: encode %s: %w", job.Kind(), err)
	}
	return string(b), nil
}

// DecodeMessage reads a step from an SQS message body. The body comes
// from outside vmx's control (anyone allowed to send to the queue), so
// anything but a well-formed step is refused.
func DecodeMessage(body string) (pipeline.Job, error) {
	var m message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return nil, fmt.Errorf("awsstate: message is not a step: %w", err)
	}
	if m.Kind == "" {
		return nil, errors.New(`awsstate: message is not a step: no "kind"`)
	}
	if len(m.Args) == 0 || string(m.Args) == "null" {
		return nil, fmt.Errorf(`awsstate: %s message has no "args"`, m.Kind)
	}
	job, err := pipeline.DecodeJob(m.Kind, m.Args)
	if err != nil {
		return nil, fmt.Errorf("awsstate: %w", err)
	}
	return job, nil
}
