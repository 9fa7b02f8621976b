package awstranscribe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Fetcher reads a finished transcript. An error wrapping fs.ErrNotExist
// means the object is not there; the Engine then runs the job again.
type Fetcher interface {
	Fetch(ctx context.Context, bucket, key string) (io.ReadCloser, error)
}

// FetchFunc adapts a function to Fetcher.
type FetchFunc func(ctx context.Context, bucket, key string) (io.ReadCloser, error)

// Fetch calls f.
func (f FetchFunc) Fetch(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	return f(ctx, bucket, key)
}

// S3GetObjectAPI is the part of *s3.Client that S3Fetcher uses.
type S3GetObjectAPI interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// S3Fetcher reads transcripts with GetObject; a missing object is an
// error wrapping fs.ErrNotExist.
func S3Fetcher(client S3GetObjectAPI) Fetcher {
	return FetchFunc(func(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			var nsk *types.NoSuchKey
			var re *smithyhttp.ResponseError
			if errors.As(err, &nsk) || errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
				return nil, fmt.Errorf("get s3://%s/%s: %w (%w)", bucket, key, fs.ErrNotExist, err)
			}
			return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
		}
		return out.Body, nil
	})
}

// s3Location reads the bucket and key of the S3 object a Transcribe
// result URI names: s3://bucket/key, path style
// https://s3.<region>.amazonaws.com/bucket/key (Transcribe's form) or
// virtual-hosted https://bucket.s3.<region>.amazonaws.com/key.
func s3Location(uri string) (bucket, key string, ok bool) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", "", false
	}
	p := strings.TrimPrefix(u.Path, "/")
	host := strings.ToLower(u.Hostname())
	switch {
	case u.Scheme == "s3":
		bucket, key = u.Host, p
	case u.Scheme != "https" && u.Scheme != "http":
		return "", "", false
	case strings.HasPrefix(host, "s3.") || strings.HasPrefix(host, "s3-"):
		bucket, key, _ = strings.Cut(p, "/")
	default:
		i := max(strings.LastIndex(host, ".s3."), strings.LastIndex(host, ".s3-"))
		if i <= 0 {
			return "", "", false
		}
		bucket, key = host[:i], p
	}
	return bucket, key, bucket != "" && key != ""
}
