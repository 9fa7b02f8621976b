package connect

import "strings"

// queueRef is a parsed queue ARN.
type queueRef struct {
	instance string
	queue    string // the queue ID; empty for an agent's personal queue
	agent    string // the agent ID of a personal queue …/queue/agent/<agentId>
}

// parseQueueARN parses
//
//	arn:<partition>:connect:<region>:<account>:instance/<instanceId>/queue/<queueId>
//	arn:<partition>:connect:<region>:<account>:instance/<instanceId>/queue/agent/<agentId>
func parseQueueARN(s string) (queueRef, bool) {
	res, ok := connectResource(s)
	if !ok {
		return queueRef{}, false
	}
	p := strings.Split(res, "/")
	switch {
	case len(p) == 4 && p[0] == "instance" && isID(p[1]) && p[2] == "queue" && p[3] != "agent" && isID(p[3]):
		return queueRef{instance: p[1], queue: p[3]}, true
	case len(p) == 5 && p[0] == "instance" && isID(p[1]) && p[2] == "queue" && p[3] == "agent" && isID(p[4]):
		return queueRef{instance: p[1], agent: p[4]}, true
	}
	return queueRef{}, false
}

// parseFlowID returns the contact flow ID s names: an ID, or a flow ARN
// (…:instance/<instanceId>/contact-flow/<flowId>), which the Connect
// console shows more readily than the ID.
func parseFlowID(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "arn:") {
		return s, isID(s)
	}
	res, ok := connectResource(s)
	if !ok {
		return "", false
	}
	p := strings.Split(res, "/")
	if len(p) == 4 && p[0] == "instance" && isID(p[1]) && p[2] == "contact-flow" && isID(p[3]) {
		return p[3], true
	}
	return "", false
}

// connectResource returns the resource part of an Amazon Connect ARN.
func connectResource(s string) (string, bool) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") || parts[2] != "connect" ||
		parts[3] == "" || parts[4] == "" {
		return "", false
	}
	return parts[5], true
}

// isID accepts an Amazon Connect resource ID: a UUID in practice; any 1 to
// 256 ASCII letters, digits, '-' and '_' here.
func isID(s string) bool {
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
