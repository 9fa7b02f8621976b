package connect

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/connect"

	"github.com/vmx-dev/vmx/internal/arn"
)

// Defaults of [Config].
const (
	DefaultCacheTTL      = 5 * time.Minute
	DefaultCacheSize     = 1000
	DefaultGuidedLinkTTL = 10 * time.Minute
)

// Agent e-mail fields: where an agent's e-mail address is read from.
const (
	EmailField          = "Email"          // IdentityInfo.Email
	SecondaryEmailField = "SecondaryEmail" // IdentityInfo.SecondaryEmail, for SAML users without Email
	UsernameField       = "Username"       // the login name, where logins are e-mail addresses
)

// Config configures the Amazon Connect integration. Every field is
// optional, except that task delivery needs a flow or template (see
// NewTaskSink and NewGuidedTaskSink).
type Config struct {
	// Endpoint overrides the Amazon Connect endpoint (a VPC endpoint, a
	// test server). Empty means the region's endpoint.
	Endpoint string
	// TaskFlowID is the contact flow that runs "task" mode tasks when the
	// contact sets no <prefix>task_flow attribute (Voicemail Express's
	// VMX3_Basic_Task_Flow). A flow ARN is accepted for its ID.
	TaskFlowID string
	// TaskTemplateID is a task template for "task" mode, used instead of
	// TaskFlowID (the template names the flow). At most one of the two.
	TaskTemplateID string
	// GuidedTaskFlowID is the contact flow of "guided_task" mode tasks when
	// the contact sets no <prefix>guided_task_flow attribute (Voicemail
	// Express's VMX3_Guided_Task_Flow, which sets the agent's view).
	GuidedTaskFlowID string
	// AgentEmailField is where an agent's e-mail address is read: Email
	// (default), SecondaryEmail or Username.
	AgentEmailField string
	// AgentFallbackQueueARN is the queue a voicemail left in an agent's
	// personal queue goes to when that agent cannot be found. Empty leaves
	// it in the personal queue, with a warning.
	AgentFallbackQueueARN string
	// CacheTTL is how long queue and agent lookups are kept; default
	// DefaultCacheTTL; negative turns the cache off.
	CacheTTL time.Duration
	// CacheSize bounds each cache (queues, agents, usernames); default
	// DefaultCacheSize.
	CacheSize int
	// GuidedLinkTTL is the lifetime of the links the guided-task presigner
	// hands to an agent's view (build its Linker with SignedLinks); default
	// DefaultGuidedLinkTTL. Voicemail Express ignored its setting and used
	// 10 minutes.
	GuidedLinkTTL time.Duration

	// Logger receives warnings; nil discards them.
	Logger *slog.Logger `json:"-"`
	// Now is the clock of the caches; nil means time.Now.
	Now func() time.Time `json:"-"`
}

func (c Config) withDefaults() Config {
	if c.CacheTTL == 0 {
		c.CacheTTL = DefaultCacheTTL
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.GuidedLinkTTL == 0 {
		c.GuidedLinkTTL = DefaultGuidedLinkTTL
	}
	if c.AgentEmailField == "" {
		c.AgentEmailField = EmailField
	}
	if f, ok := normEmailField(c.AgentEmailField); ok {
		c.AgentEmailField = f
	}
	if id, ok := arn.FlowID(c.TaskFlowID); ok {
		c.TaskFlowID = id
	}
	if id, ok := arn.FlowID(c.GuidedTaskFlowID); ok {
		c.GuidedTaskFlowID = id
	}
	c.TaskTemplateID = strings.TrimSpace(c.TaskTemplateID)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate checks the configuration and returns every problem found.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("connect: config: "+format, args...))
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("endpoint %q must be an http or https URL", c.Endpoint)
		}
	}
	if c.TaskFlowID != "" {
		if _, ok := arn.FlowID(c.TaskFlowID); !ok {
			bad("task flow ID %q is not a contact flow ID or ARN", c.TaskFlowID)
		}
	}
	if c.GuidedTaskFlowID != "" {
		if _, ok := arn.FlowID(c.GuidedTaskFlowID); !ok {
			bad("guided task flow ID %q is not a contact flow ID or ARN", c.GuidedTaskFlowID)
		}
	}
	if c.TaskTemplateID != "" && !arn.IsResourceID(strings.TrimSpace(c.TaskTemplateID)) {
		bad("task template ID %q is not an Amazon Connect ID", c.TaskTemplateID)
	}
	if c.TaskFlowID != "" && c.TaskTemplateID != "" {
		bad("task flow ID and task template ID are both set; StartTaskContact accepts only one (a template names its own flow)")
	}
	if c.AgentEmailField != "" {
		if _, ok := normEmailField(c.AgentEmailField); !ok {
			bad("agent e-mail field %q is not %s, %s or %s", c.AgentEmailField, EmailField, SecondaryEmailField, UsernameField)
		}
	}
	if c.AgentFallbackQueueARN != "" {
		if q, ok := arn.ParseQueue(c.AgentFallbackQueueARN); !ok || q.Agent != "" {
			bad("agent fallback queue ARN %q is not the ARN of a standard Amazon Connect queue", c.AgentFallbackQueueARN)
		}
	}
	if c.CacheSize < 0 {
		bad("cache size %d is negative", c.CacheSize)
	}
	if c.GuidedLinkTTL < 0 || c.GuidedLinkTTL > 0 && c.GuidedLinkTTL < time.Minute {
		bad("guided link TTL %s must be at least 1m: an agent needs time to press play", c.GuidedLinkTTL)
	}
	return errors.Join(errs...)
}

func normEmailField(s string) (string, bool) {
	for _, f := range []string{EmailField, SecondaryEmailField, UsernameField} {
		if strings.EqualFold(strings.TrimSpace(s), f) {
			return f, true
		}
	}
	return "", false
}

// NewClient returns an Amazon Connect client for awsCfg, sending to
// endpoint instead of the region's endpoint when it is not empty.
func NewClient(awsCfg aws.Config, endpoint string) *connect.Client {
	return connect.NewFromConfig(awsCfg, func(o *connect.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}
