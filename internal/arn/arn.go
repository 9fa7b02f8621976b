// Package arn parses the Amazon Connect and Kinesis ARNs as vmx reads them:
// queues (including an agent's personal queue), instances, contact flows
// and Kinesis video streams. It checks shapes only; whether a resource
// exists is for Amazon Connect to say.
package arn

import "strings"

// Connect is a parsed Amazon Connect ARN of an instance or of a resource
// in one:
//
//	arn:<partition>:connect:<region>:<account>:instance/<instanceId>[/<resource>]
type Connect struct {
	Partition string // aws, aws-cn, aws-us-gov…
	Region    string
	Account   string // 12 digits
	Instance  string // the instance ID
	// Resource is what follows instance/<instanceId>/, e.g. queue/<queueId>
	// or contact-flow/<flowId>; empty for an instance ARN.
	Resource string
}

// ParseConnect parses an Amazon Connect ARN under an instance. The
// resource, if any, is not checked beyond being non-empty.
func ParseConnect(s string) (Connect, bool) {
	parts, ok := split(s, "connect")
	if !ok {
		return Connect{}, false
	}
	rest, ok := strings.CutPrefix(parts[5], "instance/")
	if !ok {
		return Connect{}, false
	}
	inst, res, hasRes := strings.Cut(rest, "/")
	if !IsResourceID(inst) || hasRes && res == "" {
		return Connect{}, false
	}
	return Connect{Partition: parts[1], Region: parts[3], Account: parts[4], Instance: inst, Resource: res}, true
}

// Queue is a parsed queue ARN. Exactly one of Queue and Agent is set.
type Queue struct {
	Instance string
	Queue    string // the queue ID; empty for an agent's personal queue
	Agent    string // the agent ID of a personal queue …/queue/agent/<agentId>
}

// ParseQueue parses the ARN of a queue or of an agent's personal queue:
//
//	arn:<partition>:connect:<region>:<account>:instance/<instanceId>/queue/<queueId>
//	arn:<partition>:connect:<region>:<account>:instance/<instanceId>/queue/agent/<agentId>
func ParseQueue(s string) (Queue, bool) {
	a, ok := ParseConnect(s)
	if !ok {
		return Queue{}, false
	}
	p := strings.Split(a.Resource, "/")
	switch {
	case len(p) == 2 && p[0] == "queue" && p[1] != "agent" && IsResourceID(p[1]):
		return Queue{Instance: a.Instance, Queue: p[1]}, true
	case len(p) == 3 && p[0] == "queue" && p[1] == "agent" && IsResourceID(p[2]):
		return Queue{Instance: a.Instance, Agent: p[2]}, true
	}
	return Queue{}, false
}

// ParseInstance returns the instance ID of an Amazon Connect instance ARN,
// arn:<partition>:connect:<region>:<account>:instance/<instanceId>.
func ParseInstance(s string) (string, bool) {
	a, ok := ParseConnect(s)
	if !ok || a.Resource != "" {
		return "", false
	}
	return a.Instance, true
}

// FlowID returns the contact flow ID s names: an ID, or a flow ARN
// (…:instance/<instanceId>/contact-flow/<flowId>), which the Connect
// console shows more readily than the ID. Space around s is ignored.
func FlowID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "arn:") {
		return s, IsResourceID(s)
	}
	a, ok := ParseConnect(s)
	if !ok {
		return "", false
	}
	id, ok := strings.CutPrefix(a.Resource, "contact-flow/")
	if !ok || !IsResourceID(id) {
		return "", false
	}
	return id, true
}

// IsKinesisVideoStream reports whether s looks like a Kinesis video stream
// ARN, arn:<partition>:kinesisvideo:<region>:<account>:stream/<name>/<creation
// time>, as Amazon Connect puts in a contact's recording location.
func IsKinesisVideoStream(s string) bool {
	res, ok := Resource(s, "kinesisvideo")
	return ok && strings.HasPrefix(res, "stream/") && len(res) > len("stream/")
}

// Resource returns the resource part of
// arn:<partition>:<service>:<region>:<account>:<resource>, checking the
// parts before it.
func Resource(s, service string) (string, bool) {
	parts, ok := split(s, service)
	if !ok {
		return "", false
	}
	return parts[5], true
}

// split splits an ARN of service into its six parts and checks the first
// five.
func split(s, service string) ([]string, bool) {
	parts := strings.SplitN(s, ":", 6)
	ok := len(parts) == 6 && parts[0] == "arn" && isPartition(parts[1]) && parts[2] == service &&
		IsRegion(parts[3]) && isAccount(parts[4])
	return parts, ok
}

// IsResourceID accepts an Amazon Connect resource ID: a UUID in practice;
// any 1 to 256 ASCII letters, digits, '-' and '_' here.
func IsResourceID(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// isPartition accepts aws and aws-<suffix>: aws-cn, aws-us-gov, aws-iso-b…
func isPartition(s string) bool {
	if s == "aws" {
		return true
	}
	rest, ok := strings.CutPrefix(s, "aws-")
	return ok && isLowerDash(rest)
}

// IsRegion accepts region names: lower-case words and a number joined by
// '-', at least three parts, such as us-east-1, us-gov-west-1 and
// us-isob-east-1.
func IsRegion(s string) bool {
	p := strings.Split(s, "-")
	if len(p) < 3 || !allDigits(p[len(p)-1]) {
		return false
	}
	for _, w := range p[:len(p)-1] {
		if !allLower(w) {
			return false
		}
	}
	return true
}

// isAccount accepts an AWS account ID: 12 digits.
func isAccount(s string) bool { return len(s) == 12 && allDigits(s) }

// isLowerDash accepts lower-case letters and digits joined by single
// dashes.
func isLowerDash(s string) bool {
	for _, w := range strings.Split(s, "-") {
		if w == "" || strings.IndexFunc(w, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') }) >= 0 {
			return false
		}
	}
	return true
}

func allLower(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return r < 'a' || r > 'z' }) < 0
}

func allDigits(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) < 0
}
