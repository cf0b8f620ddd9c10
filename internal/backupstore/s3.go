package backupstore

import (
	"context"

	"fmt"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// DefaultPartSize is the S3 multipart part size: an upload of unknown length
// buffers one part in memory, and a file may have at most 10,000 parts
// (320 GiB at 32 MiB).
const DefaultPartSize = 32 << 20

// S3Config locates an S3-compatible bucket.
type S3Config struct {
	// Endpoint is host:port of the S3 API.
	Endpoint string
	Bucket   string
	// Prefix is prepended (with a slash) to every key.
	Prefix    string
	Region    string
	Insecure  bool // plain HTTP
	AccessKey string
	SecretKey string
	// PartSize of multipart uploads (default DefaultPartSize).
	PartSize uint64
}

// S3 is a Store in an S3-compatible bucket, through github.com/minio/minio-go
// (a maintained client that streams uploads of unknown length as multipart
// uploads and speaks to any S3-compatible server).
type S3 struct {
	cfg    S3Config
	client *minio.Client
}

// OpenS3 connects and creates the bucket if it does not exist.
func OpenS3(ctx context.Context, cfg S3Config) (*S3, error) {
	var problems []string
	if cfg.Endpoint == "" {
		problems = append(problems, "endpoint is required (?endpoint=HOST:PORT)")
	}
	if cfg.Bucket == "" {
		problems = append(problems, "bucket is required (s3://BUCKET/...)")
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		problems = append(problems, EnvAccessKey+" and "+EnvSecretKey+" are required")
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("s3 backup store: %s", strings.Join(problems, "; "))
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure: !cfg.Insecure, Region: cfg.Region, BucketLookup: minio.BucketLookupPath,
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
	})
	if err != nil {
		return nil, fmt.Errorf("s3 backup store: %w", err)
	}
	s := &S3{cfg: cfg, client: c}
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3 backup store %s: bucket %s: %w", s, cfg.Bucket, err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region}); err != nil {
			if code := minio.ToErrorResponse(err).Code; code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return nil, fmt.Errorf("s3 backup store %s: create bucket: %w", s, err)
			}
		}
	}
	return s, nil
}

func (s *S3) String() string {
	scheme := "https"
	if s.cfg.Insecure {
		scheme = "http"
	}
	return fmt.Sprintf("s3:%s://%s/%s/%s", scheme, s.cfg.Endpoint, s.cfg.Bucket, s.cfg.Prefix)
}

func (s *S3) object(key string) (string, error) {
	if err := validKey(key); err != nil {
		return "", err
	}
	if s.cfg.Prefix == "" {
		return key, nil
	}
	return path.Join(s.cfg.Prefix, key), nil
}

func notFound(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == minio.NoSuchKey || code == "NotFound"
}

// Put uploads r as a multipart upload of unknown length.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (Object, error) {
	obj, err := s.object(key)
	if err != nil {
		return Object{}, err
	}
	hr := newHashingReader(r)
	_, err = s.client.PutObject(ctx, s.cfg.Bucket, obj, hr, -1, minio.PutObjectOptions{
		PartSize: s.cfg.PartSize, NumThreads: 1, ContentType: "application/octet-stream",
	})
	if err != nil {
		return Object{}, fmt.Errorf("upload %s: %w", key, err)
	}
	return Object{Key: key, Size: hr.n, SHA256: hr.sum()}, nil
}

// Get streams key.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if _, err := s.Stat(ctx, key); err != nil {
		return nil, err
	}
	obj, _ := s.object(key)
	o, err := s.client.GetObject(ctx, s.cfg.Bucket, obj, minio.GetObjectOptions{})
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return o, nil
}

// Stat returns key's size.
func (s *S3) Stat(ctx context.Context, key string) (Object, error) {
	obj, err := s.object(key)
	if err != nil {
		return Object{}, err
	}
	info, err := s.client.StatObject(ctx, s.cfg.Bucket, obj, minio.StatObjectOptions{})
	if err != nil {
		if notFound(err) {
			return Object{}, fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return Object{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return Object{Key: key, Size: info.Size}, nil
}

// List lists keys under prefix.
func (s *S3) List(ctx context.Context, prefix string) ([]Object, error) {
	full := prefix
	root := ""
	if s.cfg.Prefix != "" {
		root = strings.TrimSuffix(s.cfg.Prefix, "/") + "/"
		full = root + prefix
	}
	var out []Object
	for info := range s.client.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: full, Recursive: true}) {
		if info.Err != nil {
			return nil, fmt.Errorf("list %s: %w", prefix, info.Err)
		}
		out = append(out, Object{Key: strings.TrimPrefix(info.Key, root), Size: info.Size})
	}
	slices.SortFunc(out, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Delete removes key.
func (s *S3) Delete(ctx context.Context, key string) error {
	obj, err := s.object(key)
	if err != nil {
		return err
	}
	err = s.client.RemoveObject(ctx, s.cfg.Bucket, obj, minio.RemoveObjectOptions{})
	if err != nil && !notFound(err) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}
