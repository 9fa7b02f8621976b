package connect_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/vmx-dev/vmx/internal/connect"
	"github.com/vmx-dev/vmx/internal/connect/connecttest"
	"github.com/vmx-dev/vmx/internal/retry"
	"github.com/vmx-dev/vmx/internal/voicemail"
)

func flagRecord(prefix string) *voicemail.Record {
	return &voicemail.Record{Request: voicemail.Request{ContactID: contactID, InstanceID: instanceID, Prefix: prefix}}
}

func TestFlagReset(t *testing.T) {
	for _, prefix := range []string{"vmx3_", "vmx_", "vm_"} {
		t.Run(prefix, func(t *testing.T) {
			f := newFake(t)
			fr, err := connect.NewFlagReset(client(f), connect.Config{})
			if err != nil {
				t.Fatal(err)
			}
			rec := flagRecord(prefix)
			if err := fr.Finalize(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			rs := f.Requests("UpdateContactAttributes")
			if len(rs) != 1 || rs[0].Method != "POST" || rs[0].Path != "/contact/attributes" {
				t.Fatalf("requests = %+v", rs)
			}
			want := map[string]any{
				"InstanceId":       instanceID,
				"InitialContactId": contactID,
				"Attributes":       map[string]any{prefix + "flag": "0"},
			}
			if !reflect.DeepEqual(rs[0].Body, want) {
				t.Errorf("body = %v, want %v", rs[0].Body, want)
			}
			if len(rec.Warnings) != 0 {
				t.Errorf("warnings = %q", rec.Warnings)
			}
		})
	}
}

func TestFlagResetErrors(t *testing.T) {
	t.Run("contact gone", func(t *testing.T) {
		f := newFake(t)
		fr, _ := connect.NewFlagReset(client(f), connect.Config{})
		rec := flagRecord("vmx3_")
		for range 2 { // a repeated finalize adds the warning once
			f.FailNext("UpdateContactAttributes", fail(404, "ResourceNotFoundException"))
			if err := fr.Finalize(context.Background(), rec); err != nil {
				t.Fatalf("Finalize = %v, want success with a warning", err)
			}
		}
		want := []string{"vmx3_flag not reset: Connect no longer has contact " + contactID}
		if !reflect.DeepEqual(rec.Warnings, want) {
			t.Errorf("warnings = %q, want %q", rec.Warnings, want)
		}
	})
	for _, tc := range []struct {
		fail               connecttest.Failure
		permanent, delayed bool
	}{
		{fail(500, "InternalServiceException"), false, false},
		{fail(429, "ThrottlingException"), false, true},
		{fail(400, "InvalidParameterException"), true, false},
	} {
		t.Run(tc.fail.Code, func(t *testing.T) {
			f := newFake(t)
			fr, _ := connect.NewFlagReset(client(f), connect.Config{})
			f.FailNext("UpdateContactAttributes", tc.fail)
			err := fr.Finalize(context.Background(), flagRecord("vmx_"))
			_, delayed := retry.Delay(err)
			if err == nil || retry.IsPermanent(err) != tc.permanent || delayed != tc.delayed {
				t.Errorf("Finalize = %v (permanent %v, delayed %v)", err, retry.IsPermanent(err), delayed)
			}
		})
	}
	t.Run("incomplete record", func(t *testing.T) {
		f := newFake(t)
		fr, _ := connect.NewFlagReset(client(f), connect.Config{})
		if err := fr.Finalize(context.Background(), flagRecord("")); !retry.IsPermanent(err) {
			t.Errorf("Finalize without prefix = %v, want a permanent error", err)
		}
		if n := len(f.Requests("")); n != 0 {
			t.Errorf("%d requests sent", n)
		}
	})
}
