package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/blobstore"
	"github.com/kayle-id/orgs-api/logo"
	"github.com/kayle-id/orgs-api/store"
)

// LogoBase is where logo URLs start: the CDN when one serves the bucket,
// else this server, which then serves them itself.
func (c StorageConfig) LogoBase() string {
	if c.CDNURL != "" {
		return c.CDNURL
	}
	return c.PublicURL
}

// openLogos opens object storage and the logo library over it.
func openLogos(ctx context.Context, c StorageConfig, log *slog.Logger) (*logo.Library, io.Closer, error) {
	b, err := blobstore.Open(ctx, c.URL, c.Timeout)
	if err != nil {
		return nil, nil, err
	}
	if log != nil {
		log.Info("object storage", "location", b.Location, "logo_urls", c.LogoBase()+"/"+logo.Prefix+"<id>")
	}
	return &logo.Library{Bucket: b, Base: c.LogoBase()}, b, nil
}

// logoMover lets the store move logos older versions kept in rows.
func logoMover(lib *logo.Library) store.LogoMover {
	return func(ctx context.Context, key uuid.UUID, data []byte, contentType string) (string, error) {
		return lib.Put(ctx, key, data, contentType)
	}
}
