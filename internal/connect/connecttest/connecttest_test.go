package connecttest

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkconnect "github.com/aws/aws-sdk-go-v2/service/connect"
	"github.com/aws/aws-sdk-go-v2/service/connect/types"
	"github.com/aws/smithy-go"
)

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func task(token, name string) *sdkconnect.StartTaskContactInput {
	return &sdkconnect.StartTaskContactInput{
		InstanceId: aws.String(DefaultInstanceID), ContactFlowId: aws.String("flow-1"),
		Name: aws.String(name), ClientToken: aws.String(token),
	}
}

// StartTaskContact is idempotent by ClientToken, also across a failure
// that took effect.
func TestStartTaskDedupe(t *testing.T) {
	s := Start(t, Options{})
	c := s.Client()
	ctx := context.Background()
	s.FailNext(OpStartTaskContact, Failure{Status: 500, Code: "InternalServiceException", Applied: true})
	if _, err := c.StartTaskContact(ctx, task("tok-a", "A")); code(err) != "InternalServiceException" {
		t.Fatalf("first attempt: %v", err)
	}
	out, err := c.StartTaskContact(ctx, task("tok-a", "A"))
	if err != nil || aws.ToString(out.ContactId) != "task-1" {
		t.Fatalf("retry: %v, %v", out, err)
	}
	if _, err := c.StartTaskContact(ctx, task("tok-a", "changed")); err != nil {
		t.Fatal(err)
	}
	out, err = c.StartTaskContact(ctx, task("tok-b", "B"))
	if err != nil || aws.ToString(out.ContactId) != "task-2" {
		t.Fatalf("second task: %v, %v", out, err)
	}
	tasks := s.Tasks()
	if len(tasks) != 2 || tasks[0].ClientToken != "tok-a" || tasks[0].Requests != 3 || tasks[0].Mismatches != 1 || tasks[1].Requests != 1 {
		t.Fatalf("tasks %+v", tasks)
	}
	if rs := s.Requests(OpStartTaskContact); len(rs) != 4 || rs[0].Status != 500 || rs[1].Status != 200 || rs[0].Method != "PUT" || rs[0].Path != "/contact/task" {
		t.Fatalf("requests %+v", rs)
	}

	// A failure that did not take effect creates nothing; a bad request
	// is refused as Connect refuses it.
	s.FailNext(OpStartTaskContact, Failure{Status: 500, Code: "InternalServiceException"})
	if _, err := c.StartTaskContact(ctx, task("tok-c", "C")); err == nil {
		t.Fatal("no failure")
	}
	in := task("tok-d", "D")
	in.ContactFlowId = nil
	if _, err := c.StartTaskContact(ctx, in); code(err) != "InvalidParameterException" {
		t.Errorf("without flow or template: %v", err)
	}
	in = task("tok-e", "E")
	in.InstanceId = aws.String("other")
	if _, err := c.StartTaskContact(ctx, in); code(err) != "ResourceNotFoundException" {
		t.Errorf("other instance: %v", err)
	}
	if n := len(s.Tasks()); n != 2 {
		t.Errorf("%d tasks, want 2", n)
	}
}

func TestDirectory(t *testing.T) {
	s := Start(t, Options{})
	c := s.Client()
	ctx := context.Background()
	s.AddQueue(Queue{ID: "q1", Name: "Sales", Description: "QVMB::sales@example.com", Tags: map[string]string{"vmx3_queue_email": "s@example.com"}})
	s.AddUser(User{ID: "u1", Username: "jdoe", FirstName: "Jane", LastName: "Doe", Email: "jane@example.com"})
	q, err := c.DescribeQueue(ctx, &sdkconnect.DescribeQueueInput{InstanceId: aws.String(DefaultInstanceID), QueueId: aws.String("q1")})
	if err != nil || aws.ToString(q.Queue.Name) != "Sales" || q.Queue.Tags["vmx3_queue_email"] != "s@example.com" ||
		aws.ToString(q.Queue.QueueArn) != s.QueueARN("q1") {
		t.Fatalf("DescribeQueue: %+v, %v", q, err)
	}
	found, err := c.SearchUsers(ctx, &sdkconnect.SearchUsersInput{InstanceId: aws.String(DefaultInstanceID),
		SearchCriteria: &types.UserSearchCriteria{StringCondition: &types.StringCondition{
			FieldName: aws.String("Username"), Value: aws.String("jdoe"), ComparisonType: types.StringComparisonTypeExact}}})
	if err != nil || len(found.Users) != 1 || aws.ToString(found.Users[0].Id) != "u1" {
		t.Fatalf("SearchUsers: %+v, %v", found, err)
	}
	// A failure limited to another user's path leaves this one alone.
	s.FailNext(OpDescribeUser, Failure{Status: 500, Code: "InternalServiceException", Path: "/users/" + DefaultInstanceID + "/u2"})
	u, err := c.DescribeUser(ctx, &sdkconnect.DescribeUserInput{InstanceId: aws.String(DefaultInstanceID), UserId: aws.String("u1")})
	if err != nil || aws.ToString(u.User.IdentityInfo.Email) != "jane@example.com" {
		t.Fatalf("DescribeUser: %+v, %v", u, err)
	}
	if _, err := c.DescribeUser(ctx, &sdkconnect.DescribeUserInput{InstanceId: aws.String(DefaultInstanceID), UserId: aws.String("u2")}); code(err) != "InternalServiceException" {
		t.Errorf("DescribeUser u2: %v, want the injected failure", err)
	}
	if _, err := c.DescribeUser(ctx, &sdkconnect.DescribeUserInput{InstanceId: aws.String(DefaultInstanceID), UserId: aws.String("u2")}); code(err) != "ResourceNotFoundException" {
		t.Errorf("DescribeUser u2 again: %v, want not found", err)
	}
	if _, err := c.UpdateContactAttributes(ctx, &sdkconnect.UpdateContactAttributesInput{InstanceId: aws.String(DefaultInstanceID),
		InitialContactId: aws.String("c1"), Attributes: map[string]string{"vmx3_flag": "0"}}); err != nil {
		t.Fatal(err)
	}
	if a := s.ContactAttributes("c1"); a["vmx3_flag"] != "0" || len(a) != 1 {
		t.Errorf("attributes %v", a)
	}
	if r := s.Requests(""); len(r) != 6 || r[0].Auth == "" || r[5].Body["InitialContactId"] != "c1" {
		t.Errorf("requests %+v", r)
	}
}
