package awstranscribe

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/vmx-dev/vmx/internal/blob/blobtest"
)

func TestS3Fetcher(t *testing.T) {
	srv := blobtest.Gofakes3(t)
	client := s3.New(s3.Options{
		Region:       srv.Region,
		BaseEndpoint: aws.String(srv.Endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
		UsePathStyle: true,
	})
	ctx := context.Background()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("out")}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("out"), Key: aws.String(outKey),
		Body: strings.NewReader(doc)}); err != nil {
		t.Fatal(err)
	}
	fetch := S3Fetcher(client)
	body, err := fetch.Fetch(ctx, "out", outKey)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(body)
	body.Close()
	if err != nil || string(b) != doc {
		t.Errorf("fetched %q, %v", b, err)
	}
	if _, err := fetch.Fetch(ctx, "out", "transcripts/missing.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("fetch of a missing key: %v, want fs.ErrNotExist", err)
	}
}
