package logo

import (
	"context"
	"errors"
	"strings"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/blobstore"
)

// Library keeps logos in a bucket, each at logos/<uuid>, and names each by
// URL: <Base>/logos/<uuid>, Base being where the bucket's objects are
// served (a CDN) or this server's own public URL, which then serves them.
type Library struct {
	Bucket blobstore.Bucket // nil when no storage is configured: every upload fails
	Base   string
}

// ErrNoStorage is an upload with no bucket configured.
var ErrNoStorage = errors.New("logo: no object storage configured")

// Prefix is where logos sit in the bucket and under Base.
const Prefix = "logos/"

// Key is the bucket key of the logo id.
func Key(id uuid.UUID) string { return Prefix + id.String() }

// URL is where the logo id is served.
func (l *Library) URL(id uuid.UUID) string {
	return strings.TrimRight(l.Base, "/") + "/" + Key(id)
}

// Parse reports whether u is the URL of one of this library's logos, in
// exactly the form URL gives (lowercase id, no query or fragment).
func (l *Library) Parse(u string) (uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(u, strings.TrimRight(l.Base, "/")+"/"+Prefix)
	if !ok {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(rest)
	if err != nil || id.String() != rest {
		return uuid.Nil, false
	}
	return id, true
}

// Put stores data as the logo id, with its content type, and returns its URL.
func (l *Library) Put(ctx context.Context, id uuid.UUID, data []byte, contentType string) (string, error) {
	if l == nil || l.Bucket == nil {
		return "", ErrNoStorage
	}
	if err := l.Bucket.Put(ctx, Key(id), data, contentType); err != nil {
		return "", err
	}
	return l.URL(id), nil
}

// Delete removes the logo id: an upload whose organization was not made, or
// one no longer in use (see store.ClaimDueLogos).
func (l *Library) Delete(ctx context.Context, id uuid.UUID) error {
	if l == nil || l.Bucket == nil {
		return ErrNoStorage
	}
	return l.Bucket.Delete(ctx, Key(id))
}

// Open reads the logo id, for serving it.
func (l *Library) Open(ctx context.Context, id uuid.UUID) (blobstore.Object, error) {
	if l == nil || l.Bucket == nil {
		return blobstore.Object{}, ErrNoStorage
	}
	return l.Bucket.Get(ctx, Key(id), MaxBytes)
}
