package handlers

import (
	"context"
	"errors"

	"github.com/kayle-id/orgs-api/domains"
	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/store"
)

// redirectOutcomes are the gates every redirect-URI operation shares.
var redirectOutcomes = []outcome{
	{store.ErrNoActiveOrganization, ErrSelectOrgForRedirects},
	{store.ErrOrganizationFrozen, ErrFrozenRedirects},
	{store.ErrForbidden, ErrRedirectOwnerOnly},
	{store.ErrNotMember, ErrNotAMember},
}

// ListRedirectUris lists the active organization's redirect URIs (any
// active member).
func (s *Server) ListRedirectUris(ctx context.Context, _ api.ListRedirectUrisRequestObject) (api.ListRedirectUrisResponseObject, error) {
	type failT = api.ListRedirectUrisdefaultJSONResponse
	p, e := caller(ctx)
	if e != nil {
		return fail[failT](e), nil
	}
	rows, err := s.store.ListRedirectURIs(ctx, p.Actor())
	if err != nil {
		if e, ok := translate(err, redirectOutcomes...); ok {
			return fail[failT](e), nil
		}
		return nil, err
	}
	out := api.ListRedirectUris200JSONResponse{Data: make([]api.ListedRedirectUri, 0, len(rows))}
	for _, r := range rows {
		out.Data = append(out.Data, api.ListedRedirectUri{Id: r.ID, VerifiedDomainId: r.VerifiedDomainID,
			ApexDomain: r.ApexDomain, Pattern: r.Pattern, CreatedAt: jsTimestamp(r.CreatedAt)})
	}
	return out, nil
}

// AddRedirectUri registers a pattern on a verified domain. A pattern
// already registered answers 200 with the existing entry.
func (s *Server) AddRedirectUri(ctx context.Context, req api.AddRedirectUriRequestObject) (api.AddRedirectUriResponseObject, error) {
	type failT = api.AddRedirectUridefaultJSONResponse
	p, e := caller(ctx)
	if e != nil {
		return fail[failT](e), nil
	}
	r, _, err := s.store.AddRedirectURI(ctx, p.Actor(), req.Body.Pattern)
	if err != nil {
		var pe *domains.PatternError
		var he *domains.HostError
		switch e, ok := translate(err, append(redirectOutcomes,
			outcome{store.ErrNoVerifiedDomain, ErrPatternUncovered},
			outcome{store.ErrRedirectURILimit, ErrRedirectURILimit})...); {
		case ok:
			return fail[failT](e), nil
		case errors.As(err, &pe):
			// Upstream's request schema refuses these.
			return fail[failT](BadRequest(pe.Message)), nil
		case errors.As(err, &he):
			return fail[failT](ErrInvalidPattern.WithMessage(he.Message)), nil
		}
		return nil, unexpectedAs(internalErr("Failed to add redirect URI."), err)
	}
	var out api.AddRedirectUri200JSONResponse
	out.Data.Id = r.ID
	out.Data.VerifiedDomainId = r.VerifiedDomainID
	out.Data.ApexDomain = r.ApexDomain
	out.Data.Pattern = r.Pattern
	out.Data.CreatedAt = jsTimestamp(r.CreatedAt)
	return out, nil
}

// DeleteRedirectUri removes a redirect URI.
func (s *Server) DeleteRedirectUri(ctx context.Context, req api.DeleteRedirectUriRequestObject) (api.DeleteRedirectUriResponseObject, error) {
	type failT = api.DeleteRedirectUridefaultJSONResponse
	p, e := caller(ctx)
	if e != nil {
		return fail[failT](e), nil
	}
	if err := s.store.DeleteRedirectURI(ctx, p.Actor(), req.Id); err != nil {
		if e, ok := translate(err, append(redirectOutcomes, outcome{store.ErrRedirectURINotFound, ErrRedirectURINotFound})...); ok {
			return fail[failT](e), nil
		}
		return nil, unexpectedAs(internalErr("Failed to remove redirect URI."), err)
	}
	return api.DeleteRedirectUri204Response{}, nil
}
