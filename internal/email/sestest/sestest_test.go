package sestest

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

func TestServer(t *testing.T) {
	s := Start(t)
	ctx := context.Background()
	raw := "From: a@example.com\r\nTo: b@example.com\r\nSubject: hello\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nhi there\r\n"
	out, err := s.Client().SendEmail(ctx, &sesv2.SendEmailInput{
		Content: &types.EmailContent{Raw: &types.RawMessage{Data: []byte(raw)}},
	})
	if err != nil {
		t.Fatalf("send: %v\n%s", err, s.Output())
	}
	got, err := s.Store(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].MessageID != aws.ToString(out.MessageId) || got[0].Subject != "hello" ||
		strings.TrimSpace(got[0].Body.Text) != "hi there" || len(got[0].Destination.To) != 1 {
		t.Fatalf("store %+v", got)
	}
	if err := s.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Store(ctx); err != nil || len(got) != 0 {
		t.Fatalf("after clear: %v %v", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Store(ctx); err == nil {
		t.Fatal("closed server answers")
	}
}
