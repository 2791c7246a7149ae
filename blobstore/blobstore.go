// Package blobstore keeps objects (organization logos) in object storage,
// through gocloud.dev/blob: a local folder by default, or S3, Google Cloud
// Storage or Azure Blob Storage named by URL. Every call carries a deadline
// derived from its caller's context, so a slow or unreachable store holds
// no request longer than the configured timeout.
package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/gcerrors"
)

// Bucket is what the server needs of object storage.
type Bucket interface {
	// Put stores data under key with its content type, replacing any
	// object already there.
	Put(ctx context.Context, key string, data []byte, contentType string) error
	// Get reads the object at key; ErrNotFound when there is none,
	// ErrTooLarge when it holds more than maxBytes.
	Get(ctx context.Context, key string, maxBytes int64) (Object, error)
	// Delete removes the object at key; no error when there is none.
	Delete(ctx context.Context, key string) error
	Close() error
}

// Object is a stored object's bytes and what the store knows of them.
type Object struct {
	Data        []byte
	ContentType string
	ModTime     time.Time
}

var (
	ErrNotFound = errors.New("blobstore: no such object")
	ErrTooLarge = errors.New("blobstore: object larger than allowed")
)

// DefaultTimeout bounds each call when Open is given none.
const DefaultTimeout = 10 * time.Second

// Store is a Bucket over a gocloud.dev bucket.
type Store struct {
	bucket  *blob.Bucket
	timeout time.Duration
	// Location names the bucket for logs, without credentials.
	Location string
}

var _ Bucket = (*Store)(nil)

// Open opens the bucket at location: a folder path (created if missing),
// or a file://, s3://, gs:// or azblob:// URL as gocloud.dev reads them
// (credentials come from each cloud's usual environment). timeout bounds
// every call; 0 means DefaultTimeout.
func Open(ctx context.Context, location string, timeout time.Duration) (*Store, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	location = strings.TrimSpace(location)
	if location == "" {
		return nil, errors.New("blobstore: empty location")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var (
		b   *blob.Bucket
		err error
	)
	shown := location
	if isFolder(location) {
		dir, aerr := filepath.Abs(location)
		if aerr != nil {
			return nil, fmt.Errorf("blobstore: %w", aerr)
		}
		// Temporary files beside the objects: a rename across file systems
		// (the system temp folder is often another one) would fail.
		b, err = fileblob.OpenBucket(dir, &fileblob.Options{CreateDir: true, NoTempDir: true})
		shown = dir
	} else {
		u, perr := url.Parse(location)
		if perr != nil {
			return nil, fmt.Errorf("blobstore: invalid storage URL: %w", perr)
		}
		shown = u.Redacted()
		b, err = blob.OpenBucket(ctx, location)
	}
	if err != nil {
		return nil, fmt.Errorf("blobstore: open %s: %w", shown, err)
	}
	return &Store{bucket: b, timeout: timeout, Location: shown}, nil
}

// isFolder reports a location that is a plain path rather than a URL.
func isFolder(location string) bool {
	_, isURL := Scheme(location)
	return !isURL
}

// Scheme is the URL scheme of a location; ok is false for a folder path.
func Scheme(location string) (scheme string, ok bool) {
	i := strings.Index(location, "://")
	if i <= 0 || strings.ContainsAny(location[:i], `/\.`) {
		return "", false
	}
	return strings.ToLower(location[:i]), true
}

// Supported reports a URL scheme Open can open.
func Supported(scheme string) bool {
	switch scheme {
	case "file", "s3", "gs", "azblob":
		return true
	}
	return false
}

func (s *Store) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Put stores data under key.
func (s *Store) Put(ctx context.Context, key string, data []byte, contentType string) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	err := s.bucket.WriteAll(ctx, key, data, &blob.WriterOptions{ContentType: contentType})
	if err != nil {
		return fmt.Errorf("blobstore: put %s: %w", key, err)
	}
	return nil
}

// Get reads the object at key, at most maxBytes of it.
func (s *Store) Get(ctx context.Context, key string, maxBytes int64) (Object, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	r, err := s.bucket.NewReader(ctx, key, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return Object{}, ErrNotFound
	}
	if err != nil {
		return Object{}, fmt.Errorf("blobstore: get %s: %w", key, err)
	}
	defer r.Close()
	if r.Size() > maxBytes {
		return Object{}, ErrTooLarge
	}
	// Read into a buffer of the object's size at once (growing one would
	// allocate about three times it), and one byte more to catch an object
	// larger than it said.
	data := make([]byte, r.Size()+1)
	n, err := io.ReadFull(r, data)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Object{}, fmt.Errorf("blobstore: read %s: %w", key, err)
	}
	if int64(n) > r.Size() {
		return Object{}, ErrTooLarge
	}
	data = data[:n]
	return Object{Data: data, ContentType: r.ContentType(), ModTime: r.ModTime()}, nil
}

// Delete removes the object at key.
func (s *Store) Delete(ctx context.Context, key string) error {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	err := s.bucket.Delete(ctx, key)
	if err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("blobstore: delete %s: %w", key, err)
	}
	return nil
}

// Close releases the bucket.
func (s *Store) Close() error { return s.bucket.Close() }
