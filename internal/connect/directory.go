package connect

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/connect"
	"github.com/aws/aws-sdk-go-v2/service/connect/types"

	"github.com/vmx-dev/vmx/internal/arn"
	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// QueueEmailTag is the queue tag that holds the queue's e-mail address
// (Voicemail Express 3).
const QueueEmailTag = "vmx3_queue_email"

// qvmbMarker precedes the queue's e-mail address in a queue description
// (Voicemail Express 2): "Sales team. QVMB::sales@example.com".
const qvmbMarker = "QVMB::"

// DirectoryAPI is the part of the Amazon Connect API that routing uses;
// *connect.Client is one.
type DirectoryAPI interface {
	DescribeQueue(ctx context.Context, in *connect.DescribeQueueInput, optFns ...func(*connect.Options)) (*connect.DescribeQueueOutput, error)
	DescribeUser(ctx context.Context, in *connect.DescribeUserInput, optFns ...func(*connect.Options)) (*connect.DescribeUserOutput, error)
	SearchUsers(ctx context.Context, in *connect.SearchUsersInput, optFns ...func(*connect.Options)) (*connect.SearchUsersOutput, error)
}

// Directory finds the queue and agent a voicemail is for. Lookups are
// cached (Config.CacheTTL); a Directory is safe for concurrent use.
type Directory struct {
	api    DirectoryAPI
	cfg    Config
	queues *cache[queueInfo]
	users  *cache[userInfo] // by instance and user ID
	names  *cache[string]   // user ID by instance and username
}

type queueInfo struct {
	name    string
	email   string
	problem string // why the queue's e-mail address was not usable
}

type userInfo struct {
	id, username, name, email string
}

// errNoSuchUser reports a username that SearchUsers does not know.
var errNoSuchUser = errors.New("no user has this username")

// NewDirectory returns a Directory that looks up queues and agents with api.
func NewDirectory(api DirectoryAPI, cfg Config) (*Directory, error) {
	if api == nil {
		return nil, errors.New("connect: directory: no Amazon Connect client")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Directory{
		api:    api,
		cfg:    cfg,
		queues: newCache[queueInfo](cfg.CacheTTL, cfg.CacheSize, cfg.Now),
		users:  newCache[userInfo](cfg.CacheTTL, cfg.CacheSize, cfg.Now),
		names:  newCache[string](cfg.CacheTTL, cfg.CacheSize, cfg.Now),
	}, nil
}

// Route finds where req's voicemail goes: its queue (name and e-mail
// address) and, for a voicemail left for one agent, the agent (ID,
// username, name, e-mail address from Config.AgentEmailField).
//
// Problems that do not stop delivery come back as warnings: an agent that
// cannot be found, or whose lookup fails, sends the voicemail to the queue;
// a queue that cannot be looked up is routed by its ARN without a name.
// Throttling is returned as an error marked retry.After, and a request
// without an instance as a permanent one.
func (d *Directory) Route(ctx context.Context, req *voicemail.Request) (voicemail.Route, []string, error) {
	var warn []string
	r := voicemail.Route{QueueARN: req.QueueARN}
	q, ok := arn.ParseQueue(req.QueueARN)
	if req.QueueARN != "" && !ok {
		warn = append(warn, fmt.Sprintf("queue ARN %q is not an Amazon Connect queue ARN; routed by ARN without a name", req.QueueARN))
	}
	instance := req.InstanceID
	if instance == "" {
		instance = q.Instance
	}
	if instance == "" {
		return r, warn, retry.Permanent(fmt.Errorf("connect: route contact %s: no instance ID and no queue ARN", req.ContactID))
	}
	if q.Queue != "" {
		w, err := d.fillQueue(ctx, instance, q.Queue, &r)
		if err != nil {
			return r, warn, err
		}
		warn = append(warn, w...)
	}
	agentID := req.AgentID
	if agentID == "" {
		agentID = q.Agent
	}

	switch {
	case agentID != "":
		// The voicemail was left in the agent's personal queue.
		u, err := d.user(ctx, instance, agentID)
		if err == nil {
			setAgent(&r, u)
			break
		}
		if isThrottle(err) || isCanceled(err) {
			return r, warn, mark(fmt.Errorf("connect: route contact %s: agent %s: %w", req.ContactID, agentID, err))
		}
		what := fmt.Sprintf("agent %s %s", agentID, failure(err))
		if d.cfg.AgentFallbackQueueARN == "" {
			warn = append(warn, what+"; left in the agent's personal queue (no agent fallback queue is configured)")
			break
		}
		fb, _ := arn.ParseQueue(d.cfg.AgentFallbackQueueARN)
		r = voicemail.Route{QueueARN: d.cfg.AgentFallbackQueueARN}
		w, err := d.fillQueue(ctx, fb.Instance, fb.Queue, &r)
		if err != nil {
			return r, warn, err
		}
		warn = append(warn, w...)
		warn = append(warn, what+"; routed to "+queueLabel(r))

	case req.Target == "agent" && req.Preferred != "":
		u, err := d.userByName(ctx, instance, req.Preferred)
		if err == nil {
			setAgent(&r, u)
			break
		}
		if isThrottle(err) || isCanceled(err) {
			return r, warn, mark(fmt.Errorf("connect: route contact %s: agent %q: %w", req.ContactID, req.Preferred, err))
		}
		warn = append(warn, fmt.Sprintf("agent %q %s; routed to %s", req.Preferred, failure(err), queueLabel(r)))

	case req.Target == "agent":
		warn = append(warn, "target is agent but no preferred agent is named; routed to "+queueLabel(r))
	}
	return r, warn, nil
}

// failure says why an agent was not found, for a warning.
func failure(err error) string {
	if errors.Is(err, errNoSuchUser) || isNotFound(err) {
		return "not found"
	}
	return fmt.Sprintf("could not be looked up (%v)", err)
}

func queueLabel(r voicemail.Route) string {
	switch {
	case r.QueueName != "":
		return "queue " + r.QueueName
	case r.QueueARN != "":
		return "queue " + r.QueueARN
	}
	return "no queue (the voicemail names none)"
}

func setAgent(r *voicemail.Route, u userInfo) {
	r.AgentID, r.AgentUsername, r.AgentName, r.AgentEmail = u.id, u.username, u.name, u.email
}

// fillQueue names the queue in r. A failed lookup is a warning, unless it
// was throttled.
func (d *Directory) fillQueue(ctx context.Context, instance, queueID string, r *voicemail.Route) ([]string, error) {
	q, err := d.queue(ctx, instance, queueID)
	switch {
	case err == nil:
		r.QueueName, r.QueueEmail = q.name, q.email
		if q.problem != "" {
			return []string{q.problem}, nil
		}
		return nil, nil
	case isThrottle(err) || isCanceled(err):
		return nil, mark(fmt.Errorf("connect: route: queue %s: %w", queueID, err))
	case isNotFound(err):
		return []string{fmt.Sprintf("queue %s not found in instance %s; routed by ARN without a name", queueID, instance)}, nil
	}
	return []string{fmt.Sprintf("queue %s could not be looked up (%v); routed by ARN without a name", queueID, err)}, nil
}

func (d *Directory) queue(ctx context.Context, instance, queueID string) (queueInfo, error) {
	key := instance + "/" + queueID
	if q, ok := d.queues.get(key); ok {
		return q, nil
	}
	out, err := d.api.DescribeQueue(ctx, &connect.DescribeQueueInput{InstanceId: aws.String(instance), QueueId: aws.String(queueID)})
	if err != nil {
		return queueInfo{}, err
	}
	if out.Queue == nil {
		return queueInfo{}, errors.New("DescribeQueue returned no queue")
	}
	q := queueInfo{name: aws.ToString(out.Queue.Name)}
	label := q.name
	if label == "" {
		label = queueID
	}
	// The tag wins over the description, as in Voicemail Express 3.
	if tag, ok := out.Queue.Tags[QueueEmailTag]; ok && strings.TrimSpace(tag) != "" {
		if q.email, ok = emailAddress(tag); !ok {
			q.problem = fmt.Sprintf("queue %s: tag %s %q is not an e-mail address", label, QueueEmailTag, tag)
		}
	} else if addr, raw, found := qvmbAddress(aws.ToString(out.Queue.Description)); found {
		q.email = addr
		if addr == "" {
			q.problem = fmt.Sprintf("queue %s: %s%s in the description is not an e-mail address", label, qvmbMarker, raw)
		}
	}
	d.queues.put(key, q)
	return q, nil
}

func (d *Directory) user(ctx context.Context, instance, userID string) (userInfo, error) {
	key := instance + "/" + userID
	if u, ok := d.users.get(key); ok {
		return u, nil
	}
	out, err := d.api.DescribeUser(ctx, &connect.DescribeUserInput{InstanceId: aws.String(instance), UserId: aws.String(userID)})
	if err != nil {
		return userInfo{}, err
	}
	if out.User == nil {
		return userInfo{}, errors.New("DescribeUser returned no user")
	}
	u := userInfo{id: userID, username: aws.ToString(out.User.Username)}
	var email string
	if id := out.User.IdentityInfo; id != nil {
		u.name = strings.TrimSpace(aws.ToString(id.FirstName) + " " + aws.ToString(id.LastName))
		switch d.cfg.AgentEmailField {
		case EmailField:
			email = aws.ToString(id.Email)
		case SecondaryEmailField:
			email = aws.ToString(id.SecondaryEmail)
		}
	}
	if d.cfg.AgentEmailField == UsernameField {
		email = u.username
	}
	u.email, _ = emailAddress(email)
	d.users.put(key, u)
	return u, nil
}

// userByName finds a user by exact username, as Voicemail Express 3 does.
func (d *Directory) userByName(ctx context.Context, instance, username string) (userInfo, error) {
	key := instance + "/" + username
	id, ok := d.names.get(key)
	if !ok {
		out, err := d.api.SearchUsers(ctx, &connect.SearchUsersInput{
			InstanceId: aws.String(instance),
			MaxResults: aws.Int32(1),
			SearchCriteria: &types.UserSearchCriteria{StringCondition: &types.StringCondition{
				FieldName:      aws.String("Username"),
				Value:          aws.String(username),
				ComparisonType: types.StringComparisonTypeExact,
			}},
		})
		if err != nil {
			return userInfo{}, err
		}
		if len(out.Users) == 0 || !strings.EqualFold(aws.ToString(out.Users[0].Username), username) || aws.ToString(out.Users[0].Id) == "" {
			return userInfo{}, errNoSuchUser
		}
		id = aws.ToString(out.Users[0].Id)
		d.names.put(key, id)
	}
	return d.user(ctx, instance, id)
}

// emailAddress returns the bare address in s ("a@example.com" or
// "Team <a@example.com>"), and whether there is one.
func emailAddress(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "", false
	}
	return a.Address, true
}

// qvmbAddress finds Voicemail Express 2's queue e-mail address in a queue
// description: the word after "QVMB::" (space after the marker allowed,
// surrounding punctuation such as a closing period or angle brackets
// ignored). found reports the marker; addr is empty when the word is not
// an e-mail address, and raw is the word as written.
func qvmbAddress(desc string) (addr, raw string, found bool) {
	_, after, found := strings.Cut(desc, qvmbMarker)
	if !found {
		return "", "", false
	}
	fields := strings.Fields(after)
	if len(fields) == 0 {
		return "", "", true
	}
	raw = fields[0]
	word := strings.TrimRight(strings.TrimLeft(raw, `<("'[`), `>)"'].,;:!?`)
	if !strings.Contains(word, "@") {
		return "", raw, true
	}
	addr, _ = emailAddress(word)
	if addr != word {
		return "", raw, true
	}
	return addr, raw, true
}
