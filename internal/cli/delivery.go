package cli

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/vmx-dev/vmx/internal/certpool"
	"github.com/vmx-dev/vmx/internal/config"
	"github.com/vmx-dev/vmx/internal/connect"
	"github.com/vmx-dev/vmx/internal/email"
	"github.com/vmx-dev/vmx/internal/media"
	"github.com/vmx-dev/vmx/internal/pipeline"
	"github.com/vmx-dev/vmx/internal/salesforce"
	"github.com/vmx-dev/vmx/internal/summary"
	"github.com/vmx-dev/vmx/internal/webhook"
)

// delivery is what the configuration makes of delivery: the sinks by mode,
// the router, the summarizer, the finalizers and the guided-task presigner.
type delivery struct {
	sinks      map[string]pipeline.Sink
	router     pipeline.Router
	summarizer pipeline.Summarizer
	finalizers []pipeline.Finalizer
	presigner  http.Handler // nil without Amazon Connect
}

// newDelivery builds every destination the configuration sets up. A mode
// whose settings are absent has no sink: a contact asking for it fails with
// a clear error.
func newDelivery(cfg *config.Config, awsCfg aws.Config, signer media.Signer, log *slog.Logger) (*delivery, error) {
	d := &delivery{sinks: map[string]pipeline.Sink{}}
	if cfg.Webhook.URL != "" {
		hook, err := webhook.New(webhook.Config{URL: cfg.Webhook.URL, Secret: cfg.Webhook.Secret, Timeout: cfg.Webhook.Timeout}, nil)
		if err != nil {
			return nil, err
		}
		d.sinks["webhook"] = hook
	}
	if cfg.Connect.Enabled {
		if err := d.addConnect(cfg, awsCfg, signer, log); err != nil {
			return nil, err
		}
	}
	if cfg.Email.From != "" {
		if err := d.addEmail(cfg, awsCfg, log); err != nil {
			return nil, err
		}
	}
	if cfg.Salesforce.LoginURL != "" {
		if err := d.addSalesforce(cfg, log); err != nil {
			return nil, err
		}
	}
	if cfg.Summary.Enabled || cfg.Summary.ModelID != "" {
		sc := summary.Config{Enabled: cfg.Summary.Enabled, ModelID: cfg.Summary.ModelID, Region: cfg.Summary.Region,
			Endpoint: cfg.Summary.Endpoint, MaxTokens: int32(cfg.Summary.MaxTokens)}
		s, err := summary.New(sc, summary.NewClient(awsCfg, sc), log.With("component", "summary"))
		if err != nil {
			return nil, err
		}
		d.summarizer = s
	}
	return d, nil
}

func (d *delivery) addConnect(cfg *config.Config, awsCfg aws.Config, signer media.Signer, log *slog.Logger) error {
	client := connect.NewClient(awsCfg, cfg.Connect.Endpoint)
	cc := connect.Config{
		Endpoint:              cfg.Connect.Endpoint,
		TaskFlowID:            cfg.Connect.TaskFlowID,
		TaskTemplateID:        cfg.Connect.TaskTemplateID,
		GuidedTaskFlowID:      cfg.Connect.GuidedTaskFlowID,
		AgentEmailField:       cfg.Connect.AgentEmailField,
		AgentFallbackQueueARN: cfg.Connect.AgentFallbackQueueARN,
		CacheTTL:              cfg.Connect.CacheTTL,
		GuidedLinkTTL:         cfg.Connect.GuidedLinkTTL,
		Logger:                log.With("component", "connect"),
	}
	if cfg.Connect.CacheTTL == 0 {
		cc.CacheTTL = -1 // off, as documented
	}
	dir, err := connect.NewDirectory(client, cc)
	if err != nil {
		return err
	}
	d.router = dir
	if cc.TaskFlowID != "" || cc.TaskTemplateID != "" {
		if d.sinks["task"], err = connect.NewTaskSink(client, cc); err != nil {
			return err
		}
	}
	if cc.GuidedTaskFlowID != "" {
		if d.sinks["guided_task"], err = connect.NewGuidedTaskSink(client, cc); err != nil {
			return err
		}
	}
	if cfg.Connect.ResetFlag {
		reset, err := connect.NewFlagReset(client, cc)
		if err != nil {
			return err
		}
		d.finalizers = append(d.finalizers, reset)
	}
	presigner, err := connect.NewPresigner(connect.SignedLinks{Signer: signer, TTL: cc.GuidedLinkTTL}, cc)
	if err != nil {
		return err
	}
	d.presigner = presigner
	return nil
}

func (d *delivery) addEmail(cfg *config.Config, awsCfg aws.Config, log *slog.Logger) error {
	var sender email.Sender
	switch cfg.Email.Transport {
	case "ses":
		ses, err := email.NewSES(awsCfg, email.SESConfig{ConfigurationSet: cfg.SES.ConfigurationSet, Endpoint: cfg.SES.Endpoint})
		if err != nil {
			return err
		}
		sender = ses
	default:
		smtp, err := email.NewSMTP(email.SMTPConfig{Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, TLS: cfg.SMTP.TLS,
			Username: cfg.SMTP.Username, Password: cfg.SMTP.Password, CAFile: cfg.SMTP.CAFile})
		if err != nil {
			return err
		}
		sender = smtp
	}
	sink, err := email.New(email.Config{
		From:               cfg.Email.From,
		To:                 cfg.Email.To,
		AllowedDomains:     cfg.Email.AllowedDomains,
		TemplateDir:        cfg.Email.TemplateDir,
		Attach:             cfg.Email.Attach,
		MaxAttachmentBytes: int64(cfg.Email.MaxAttachmentMB) << 20,
		TempDir:            tempDir(cfg),
	}, sender, log.With("component", "email"))
	if err != nil {
		return err
	}
	d.sinks["email"] = sink
	return nil
}

func (d *delivery) addSalesforce(cfg *config.Config, log *slog.Logger) error {
	base := salesforce.Config{
		LoginURL:     cfg.Salesforce.LoginURL,
		ClientID:     cfg.Salesforce.ClientID,
		ClientSecret: cfg.Salesforce.ClientSecret,
		Username:     cfg.Salesforce.Username,
		OwnerMatch:   cfg.Salesforce.OwnerMatch,
		DedupeField:  cfg.Salesforce.DedupeField,
	}
	if cfg.Salesforce.PrivateKeyFile != "" {
		pem, err := os.ReadFile(cfg.Salesforce.PrivateKeyFile)
		if err != nil {
			return fmt.Errorf("salesforce.private_key_file: %w", err)
		}
		base.PrivateKeyPEM = string(pem)
	}
	var client *http.Client
	if cfg.Salesforce.CAFile != "" {
		roots, err := certpool.WithFile(cfg.Salesforce.CAFile)
		if err != nil {
			return fmt.Errorf("salesforce.ca_file: %w", err)
		}
		client = &http.Client{Timeout: salesforce.DefaultTimeout, Transport: &http.Transport{
			Proxy: http.ProxyFromEnvironment, TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	}
	log = log.With("component", "salesforce")
	caseCfg := base
	caseCfg.Object = salesforce.ObjectCase
	sink, err := salesforce.New(caseCfg, client, log)
	if err != nil {
		return err
	}
	d.sinks["sfcase"] = sink
	if cfg.Salesforce.OtherObject == "" {
		return nil
	}
	other := base
	other.Object = cfg.Salesforce.OtherObject
	if other.Fields, err = salesforceFields(cfg.Salesforce.OtherFields); err != nil {
		return err
	}
	if d.sinks["sfother"], err = salesforce.New(other, client, log); err != nil {
		return err
	}
	return nil
}

// tempDir holds files while vmx works on them; serve clears it at start.
func tempDir(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "tmp") }

// salesforceFields maps salesforce.other_fields' ROLE=Field entries.
func salesforceFields(entries []string) (salesforce.FieldMap, error) {
	var m salesforce.FieldMap
	roles := map[string]*string{
		"subject": &m.Subject, "description": &m.Description, "priority": &m.Priority, "origin": &m.Origin,
		"phone": &m.Phone, "transcript": &m.Transcript, "attributes": &m.Attributes,
		"recording_link": &m.RecordingLink, "contact_id": &m.ContactID,
	}
	for _, e := range entries {
		role, field, _ := strings.Cut(e, "=")
		p, ok := roles[strings.TrimSpace(role)]
		if !ok {
			return m, fmt.Errorf("salesforce.other_fields: unknown role %q (roles: subject, description, priority, origin, phone, transcript, attributes, recording_link, contact_id)", role)
		}
		*p = strings.TrimSpace(field)
	}
	return m, nil
}
