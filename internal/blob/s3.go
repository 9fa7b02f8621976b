package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// S3 keeps objects in one bucket of Amazon S3 or an S3-compatible server.
//
// Put streams through the SDK's upload manager: an object shorter than
// PartSize goes up in one PutObject, a longer one as a multipart upload,
// so memory stays near PartSize × (Concurrency + 1) whatever the length and
// the body need not be seekable. A failed multipart upload is aborted.
//
// For servers other than AWS the client needs BaseEndpoint and
// UsePathStyle; RequestChecksumCalculation WhenRequired suits servers that do
// not know the newer checksum headers, and the uploader follows the client's
// setting.
type S3 struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string

	//lint:ignore SA1019 see NewS3
	uploader *manager.Uploader
}

// S3Options tunes uploads. The zero value is valid.
type S3Options struct {
	// PartSize is the size of each part of a multipart upload, and of each
	// upload buffer. Default and minimum 5 MiB.
	PartSize int64
	// Concurrency is the number of parts in flight per Put. Default 2.
	Concurrency int
}

const (
	minPartSize        = 5 << 20
	defaultConcurrency = 2
	maxPresignTTL      = 7 * 24 * time.Hour
)

// NewS3 returns a store for bucket, which must exist.
func NewS3(client *s3.Client, bucket string, opts S3Options) (*S3, error) {
	switch {
	case client == nil:
		return nil, errors.New("blob: s3 store: nil client")
	case bucket == "":
		return nil, errors.New("blob: s3 store: empty bucket name")
	case opts.PartSize != 0 && opts.PartSize < minPartSize:
		return nil, fmt.Errorf("blob: s3 store: part size %d below the S3 minimum %d", opts.PartSize, minPartSize)
	case opts.Concurrency < 0:
		return nil, fmt.Errorf("blob: s3 store: concurrency %d must not be negative", opts.Concurrency)
	}
	if opts.PartSize == 0 {
		opts.PartSize = minPartSize
	}
	if opts.Concurrency == 0 {
		opts.Concurrency = defaultConcurrency
	}
	checksums := client.Options().RequestChecksumCalculation
	// feature/s3/manager is deprecated for feature/s3/transfermanager, which
	// is still v0 (unstable API); the manager is what go.mod pins.
	//lint:ignore SA1019 see above
	uploader := manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = opts.PartSize
		u.Concurrency = opts.Concurrency
		if checksums != 0 {
			u.RequestChecksumCalculation = checksums
		}
	})
	return &S3{
		client:   client,
		presign:  s3.NewPresignClient(client),
		uploader: uploader,
		bucket:   bucket,
	}, nil
}

// Bucket returns the bucket's name.
func (s *S3) Bucket() string { return s.bucket }

// Put implements Store.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, attrs Attrs) error {
	if err := checkKey("put", key); err != nil {
		return err
	}
	attrs, err := attrs.normalize()
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{
		Bucket:   aws.String(s.bucket),
		Key:      aws.String(key),
		Body:     r,
		Metadata: attrs.Metadata,
	}
	if attrs.ContentType != "" {
		in.ContentType = aws.String(attrs.ContentType)
	}
	//lint:ignore SA1019 see NewS3
	if _, err := s.uploader.Upload(ctx, in); err != nil {
		return s.wrap("put", key, err)
	}
	return nil
}

// Open implements Store.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := checkKey("open", key); err != nil {
		return nil, Info{}, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	})
	if err != nil {
		return nil, Info{}, s.wrap("open", key, err)
	}
	return out.Body, getInfo(key, out), nil
}

// OpenRange implements RangeOpener with a ranged GET.
func (s *S3) OpenRange(ctx context.Context, key string, off, n int64) (io.ReadCloser, Info, error) {
	if err := checkKey("open range", key); err != nil {
		return nil, Info{}, err
	}
	if off < 0 {
		return nil, Info{}, fmt.Errorf("blob: open %q at %d: %w", key, off, ErrInvalidRange)
	}
	if n == 0 {
		// "bytes=off-(off-1)" is not a range: check off against the size.
		info, err := s.Stat(ctx, key)
		if err != nil {
			return nil, Info{}, err
		}
		if off >= info.Size {
			return nil, Info{}, fmt.Errorf("blob: open %q at %d of %d bytes: %w", key, off, info.Size, ErrInvalidRange)
		}
		return io.NopCloser(strings.NewReader("")), info, nil
	}
	rng := "bytes=" + strconv.FormatInt(off, 10) + "-"
	if n > 0 {
		rng += strconv.FormatInt(off+n-1, 10)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
		Range:  aws.String(rng),
	})
	if err != nil {
		return nil, Info{}, s.wrap("open range", key, err)
	}
	info := getInfo(key, out)
	total, ok := contentRangeSize(aws.ToString(out.ContentRange))
	if ok {
		info.Size = total
		return out.Body, info, nil
	}
	// The server sent the whole object: skip to off ourselves.
	if off >= info.Size {
		_ = out.Body.Close()
		return nil, Info{}, fmt.Errorf("blob: open %q at %d of %d bytes: %w", key, off, info.Size, ErrInvalidRange)
	}
	if _, err := io.CopyN(io.Discard, out.Body, off); err != nil {
		_ = out.Body.Close()
		return nil, Info{}, fmt.Errorf("blob: open range %q: skip %d bytes: %w", key, off, err)
	}
	var body io.Reader = out.Body
	if n > 0 {
		body = io.LimitReader(body, n)
	}
	return readCloser{body, out.Body}, info, nil
}

// contentRangeSize reads the total size from "bytes 0-99/1234".
func contentRangeSize(cr string) (int64, bool) {
	_, total, ok := strings.Cut(cr, "/")
	if !ok || !strings.HasPrefix(cr, "bytes ") {
		return 0, false
	}
	n, err := strconv.ParseInt(total, 10, 64)
	return n, err == nil
}

func getInfo(key string, out *s3.GetObjectOutput) Info {
	return Info{
		Key:     key,
		Size:    aws.ToInt64(out.ContentLength),
		ModTime: aws.ToTime(out.LastModified),
		Attrs:   Attrs{ContentType: aws.ToString(out.ContentType), Metadata: out.Metadata},
	}
}

// Stat implements Store with a HEAD request.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := checkKey("stat", key); err != nil {
		return Info{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	})
	if err != nil {
		return Info{}, s.wrap("stat", key, err)
	}
	return Info{
		Key:     key,
		Size:    aws.ToInt64(out.ContentLength),
		ModTime: aws.ToTime(out.LastModified),
		Attrs:   Attrs{ContentType: aws.ToString(out.ContentType), Metadata: out.Metadata},
	}, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey("delete", key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	})
	if err != nil {
		if err = s.wrap("delete", key, err); errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	return nil
}

// List implements Store with ListObjectsV2, which yields keys in UTF-8
// binary order.
func (s *S3) List(ctx context.Context, prefix string) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) {
		if err := checkPrefix(prefix); err != nil {
			yield(Info{}, err)
			return
		}
		in := &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket)}
		if prefix != "" {
			in.Prefix = aws.String(prefix)
		}
		pages := s3.NewListObjectsV2Paginator(s.client, in)
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				yield(Info{}, fmt.Errorf("blob: s3 list %q in %s: %w", prefix, s.bucket, err))
				return
			}
			for _, o := range page.Contents {
				info := Info{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}
				if !yield(info, nil) {
					return
				}
			}
		}
	}
}

// PresignGet implements Presigner. ttl is at most 7 days (SigV4's limit).
func (s *S3) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := checkKey("presign", key); err != nil {
		return "", err
	}
	if ttl <= 0 || ttl > maxPresignTTL {
		return "", fmt.Errorf("blob: presign %q: ttl %s outside (0, %s]", key, ttl, maxPresignTTL)
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("blob: presign %q: %w", key, err)
	}
	return req.URL, nil
}

// wrap adds the operation and key to an SDK error and maps the S3 error
// codes callers branch on to this package's sentinels.
func (s *S3) wrap(op, key string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return notFound(op, key, err)
		case "InvalidRange":
			return fmt.Errorf("blob: %s %q: %w (%w)", op, key, ErrInvalidRange, err)
		}
	}
	return fmt.Errorf("blob: s3 %s %q in %s: %w", op, key, s.bucket, err)
}

// Interface guards.
var (
	_ Store       = (*S3)(nil)
	_ RangeOpener = (*S3)(nil)
	_ Presigner   = (*S3)(nil)
)
