package handlers

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/logo"
)

// uploadedLogo is a checked logo, stored.
type uploadedLogo struct {
	URL string
	ID  uuid.UUID
}

// storeLogo is the one logo pipeline (the logo upload and organization
// creation both run it): upstream's byte checks, then the bucket. It runs
// with no database connection held. refused is the answer to an image the
// checks turn down; err is unexpected.
func (s *Server) storeLogo(ctx context.Context, data, contentType string) (_ uploadedLogo, refused *APIError, err error) {
	// Each user decodes one logo at a time, so no caller holds every decoder.
	owner := ""
	if p, ok := PrincipalFrom(ctx); ok {
		owner = p.CallerKey()
	}
	img, err := logo.CheckAs(ctx, owner, data, contentType)
	var p *logo.Problem
	if errors.As(err, &p) {
		return uploadedLogo{}, invalidLogo(p), nil
	}
	if err != nil {
		return uploadedLogo{}, nil, err
	}
	if s.logos == nil || s.logos.Bucket == nil {
		return uploadedLogo{}, nil, answerAs(ErrLogoUploadFailed, logo.ErrNoStorage)
	}
	// Recorded before it is written, so that an object whose write answers
	// late (the request's time ran out) or whose process stops before the
	// upload is recorded is still found and deleted (store.ReserveLogo).
	id := uuid.New()
	if err := s.store.ReserveLogo(ctx, id); err != nil {
		return uploadedLogo{}, nil, err
	}
	url, err := s.logos.Put(ctx, id, img.Data, img.ContentType)
	if err != nil {
		if ctx.Err() != nil {
			return uploadedLogo{}, nil, ctx.Err() // the request's own time ran out
		}
		return uploadedLogo{}, nil, answerAs(ErrLogoUploadFailed, err)
	}
	return uploadedLogo{URL: url, ID: id}, nil, nil
}

// discardTimeout bounds the removal of an unused upload.
const discardTimeout = 5 * time.Second

// discardLogo removes an upload that ended up unused (its organization was
// not created, or the caller lost the right to upload meanwhile), so a
// refused request leaves nothing behind. Best effort, even when the request
// has ended: a leftover object is unreachable, not harmful.
func (s *Server) discardLogo(ctx context.Context, l uploadedLogo) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discardTimeout)
	defer cancel()
	if s.logos.Delete(ctx, l.ID) == nil {
		_ = s.store.ForgetReservedLogo(ctx, l.ID)
	}
}

// logoID accepts only the URLs of this server's uploads as an
// organization's logo, and names the object (the store then checks it is
// one of the organization's).
func (s *Server) logoID(u string) (uuid.UUID, *APIError) {
	id, ok := s.logos.Parse(u)
	if !ok {
		return uuid.Nil, ErrLogoNotUploaded
	}
	return id, nil
}

// dropLogos deletes the objects an upload evicted (an organization keeps a
// few unused ones), then their rows; what fails here is left to the
// cleanup job, which finds them due. Best effort, even when the request has
// ended.
func (s *Server) dropLogos(ctx context.Context, ids []uuid.UUID) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), discardTimeout)
	defer cancel()
	var gone []uuid.UUID
	for _, id := range ids {
		if s.logos.Delete(ctx, id) == nil {
			gone = append(gone, id)
		}
	}
	_ = s.store.ForgetLogos(ctx, gone)
}
