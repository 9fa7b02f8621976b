package email

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/smithy-go"

	"github.com/vmx-dev/vmx/internal/retry"
)

// SESMaxMessageBytes is Amazon SES's limit on a raw message.
const SESMaxMessageBytes = 40 << 20

// Delays asked for when Amazon SES pushes back. The SDK has already
// retried a throttled call a few times by then.
const (
	SESThrottleDelay = 30 * time.Second // TooManyRequests: sending rate exceeded
	SESQuotaDelay    = 15 * time.Minute // LimitExceeded (daily quota), sending paused
)

// SESConfig is Amazon SES v2.
type SESConfig struct {
	// ConfigurationSet is the configuration set messages are sent with
	// (event publishing, IP pools); empty means none.
	ConfigurationSet string
	// Endpoint overrides the service endpoint, e.g. a local SES emulator;
	// empty means the region's.
	Endpoint string
}

// Validate checks the configuration.
func (c SESConfig) Validate() error {
	if c.Endpoint == "" {
		return nil
	}
	if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("email: ses: endpoint %q must be an http or https URL", c.Endpoint)
	}
	return nil
}

// sesAPI is the part of the SES client SES uses.
type sesAPI interface {
	SendEmail(ctx context.Context, in *sesv2.SendEmailInput, opts ...func(*sesv2.Options)) (*sesv2.SendEmailOutput, error)
}

// SES sends messages through Amazon SES v2 as raw MIME.
type SES struct {
	api sesAPI
	cfg SESConfig
}

// NewSES returns a sender using awsCfg's region and credentials.
func NewSES(awsCfg aws.Config, cfg SESConfig) (*SES, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	client := sesv2.NewFromConfig(awsCfg, func(o *sesv2.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return &SES{api: client, cfg: cfg}, nil
}

// Send sends msg with SendEmail and returns "ses-message-id=<id>". SES
// takes the message whole, so it is built in memory here. Rejections
// (MessageRejected, BadRequest, unverified sender and other 4xx) are
// permanent; throttling, an exhausted quota and paused sending ask for a
// delay.
func (s *SES) Send(ctx context.Context, from string, to []string, msg io.WriterTo) (string, error) {
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("ses: build message: %w", err)
	}
	if buf.Len() > SESMaxMessageBytes {
		return "", retry.Permanent(fmt.Errorf("ses: message of %s is over the %s limit", humanBytes(int64(buf.Len())), humanBytes(SESMaxMessageBytes)))
	}
	in := &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(from),
		Destination:      &types.Destination{ToAddresses: to},
		Content:          &types.EmailContent{Raw: &types.RawMessage{Data: buf.Bytes()}},
	}
	if s.cfg.ConfigurationSet != "" {
		in.ConfigurationSetName = aws.String(s.cfg.ConfigurationSet)
	}
	out, err := s.api.SendEmail(ctx, in)
	if err != nil {
		return "", sesError(err)
	}
	return "ses-message-id=" + aws.ToString(out.MessageId), nil
}

// sesError classifies a SendEmail error.
func sesError(err error) error {
	err = fmt.Errorf("ses: send email: %w", err)
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "TooManyRequestsException", "Throttling", "ThrottlingException":
			return retry.After(SESThrottleDelay, err)
		case "LimitExceededException", "SendingPausedException", "AccountSuspendedException":
			// Sending resumes once the quota resets or an operator acts:
			// retry slowly instead of failing every voicemail meanwhile.
			return retry.After(SESQuotaDelay, err)
		case "MessageRejected", "BadRequestException", "MailFromDomainNotVerifiedException", "NotFoundException":
			return retry.Permanent(err)
		}
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		if code := status.HTTPStatusCode(); code >= 400 && code < 500 && code != 408 && code != 429 {
			return retry.Permanent(err)
		}
	}
	return err
}

var _ Sender = (*SES)(nil)
