package connect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/connect"

	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

// AttributesAPI is the part of the Amazon Connect API that the flag reset
// uses; *connect.Client is one.
type AttributesAPI interface {
	UpdateContactAttributes(ctx context.Context, in *connect.UpdateContactAttributesInput, optFns ...func(*connect.Options)) (*connect.UpdateContactAttributesOutput, error)
}

// FlagReset sets the contact's <prefix>flag attribute to "0" once every
// destination has the voicemail, as Voicemail Express does, so that flows
// and other tools see the voicemail as handled.
type FlagReset struct {
	api AttributesAPI
	log *slog.Logger
}

// NewFlagReset returns the finalizer that resets the flag with api.
func NewFlagReset(api AttributesAPI, cfg Config) (*FlagReset, error) {
	if api == nil {
		return nil, errors.New("connect: flag reset: no Amazon Connect client")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &FlagReset{api: api, log: cfg.Logger.With("component", "connect")}, nil
}

// Finalize sets <rec.Prefix>flag = "0" on the voice contact.
//
// A contact Connect no longer knows (ResourceNotFoundException: too old to
// update, or deleted) is not an error: the voicemail is delivered, and a
// flag on a contact that cannot change any more triggers nothing. The
// problem is logged and added to rec.Warnings. Validation errors are
// permanent, throttling asks for a delay, and anything else is returned
// for the job to retry; a retry never delivers twice, since delivery
// receipts are kept apart from this step.
func (f *FlagReset) Finalize(ctx context.Context, rec *voicemail.Record) error {
	if rec.ContactID == "" || rec.InstanceID == "" || rec.Prefix == "" {
		return retry.Permanent(fmt.Errorf("connect: reset flag: voicemail lacks contact ID %q, instance ID %q or prefix %q", rec.ContactID, rec.InstanceID, rec.Prefix))
	}
	attr := rec.Prefix + "flag"
	_, err := f.api.UpdateContactAttributes(ctx, &connect.UpdateContactAttributesInput{
		InstanceId:       aws.String(rec.InstanceID),
		InitialContactId: aws.String(rec.ContactID),
		Attributes:       map[string]string{attr: "0"},
	})
	switch {
	case err == nil:
		return nil
	case isNotFound(err):
		f.log.Warn("flag not reset: contact not found", "contact_id", rec.ContactID, "attribute", attr, "error", err)
		if w := fmt.Sprintf("%s not reset: Connect no longer has contact %s", attr, rec.ContactID); !slices.Contains(rec.Warnings, w) {
			rec.Warnings = append(rec.Warnings, w)
		}
		return nil
	}
	return mark(fmt.Errorf("connect: reset %s on contact %s: %w", attr, rec.ContactID, err))
}
