package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/kayle-id/orgs-api/dnstxt"
	"github.com/kayle-id/orgs-api/domains"
	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/store"
)

// DefaultLookupTimeout bounds a verification's DNS lookup (every resolver
// tried), leaving the rest of the request's time for the write after it.
const DefaultLookupTimeout = 10 * time.Second

// WithDNS is the resolver that verification asks and how long its lookups
// may take (DefaultLookupTimeout when not positive). Without it every
// verification fails as a resolver that cannot be reached (503).
func WithDNS(r dnstxt.Looker, timeout time.Duration) Option {
	return func(s *Server) {
		if r != nil {
			s.dns = r
		}
		if timeout > 0 {
			s.lookupTimeout = timeout
		}
	}
}

// noResolver is the resolver of handlers built without one.
type noResolver struct{}

func (noResolver) LookupTXT(context.Context, string) ([]string, error) {
	return nil, fmt.Errorf("%w: no resolver configured", dnstxt.ErrUnavailable)
}

// laterResponse is an error answer with a Retry-After header, for the
// operations that can ask the caller to come back later.
type laterResponse struct{ err *APIError }

func (r laterResponse) visit(w http.ResponseWriter) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(r.err.Envelope()); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", RetryAfterHeader(r.err.RetryAfter))
	w.WriteHeader(r.err.Status)
	_, err := buf.WriteTo(w)
	return err
}

func (r laterResponse) VisitStartDnsChallengeResponse(w http.ResponseWriter) error { return r.visit(w) }
func (r laterResponse) VisitVerifyDnsChallengeResponse(w http.ResponseWriter) error {
	return r.visit(w)
}

// dnsRetryAfter is what a caller is told to wait after a resolver failure.
const dnsRetryAfter = 10 * time.Second

// rateLimited is the 429 for a per-organization limit.
func rateLimited(err error) *APIError {
	var rl *store.RateLimitedError
	if errors.As(err, &rl) {
		return ErrDomainRateLimited.WithRetryAfter(rl.RetryAfter)
	}
	return ErrDomainRateLimited
}

// domainOutcomes are the gates every domain operation shares.
var domainOutcomes = []outcome{
	{store.ErrNoActiveOrganization, ErrSelectOrgForDomains},
	{store.ErrOrganizationFrozen, ErrFrozenDomains},
	{store.ErrForbidden, ErrDomainOwnerOnly},
	{store.ErrNotMember, ErrNotAMember},
}

// StartDnsChallenge issues the TXT record that proves control of an apex.
func (s *Server) StartDnsChallenge(ctx context.Context, req api.StartDnsChallengeRequestObject) (api.StartDnsChallengeResponseObject, error) {
	type failT = api.StartDnsChallengedefaultJSONResponse
	p, e := caller(ctx)
	if e != nil {
		return fail[failT](e), nil
	}
	// Upstream's schema trims the field before measuring it.
	apex := strings.TrimSpace(req.Body.ApexDomain)
	if n := domains.InputLength(apex); n < domains.MinApexInput || n > domains.MaxApexInput {
		return fail[failT](BadRequest(fmt.Sprintf("apex_domain must be %d to %d characters once trimmed.", domains.MinApexInput, domains.MaxApexInput))), nil
	}
	c, err := s.store.StartDNSChallenge(ctx, p.Actor(), apex)
	if err != nil {
		var he *domains.HostError
		switch e, ok := translate(err, domainOutcomes...); {
		case ok:
			return fail[failT](e), nil
		case errors.As(err, &he):
			return fail[failT](ErrApexInvalid.WithMessage(he.Message)), nil
		case errors.Is(err, store.ErrRateLimited):
			return laterResponse{rateLimited(err)}, nil
		}
		return nil, unexpectedAs(internalErr("Failed to start DNS challenge."), err)
	}
	var out api.StartDnsChallenge200JSONResponse
	out.Data.ChallengeId = c.Challenge.ID
	out.Data.RecordName = c.Challenge.RecordName()
	out.Data.RecordValue = c.Challenge.RecordValue()
	out.Data.ExpiresAt = jsTimestamp(c.Challenge.ExpiresAt)
	if c.Conflict != nil {
		out.Data.Conflict = &struct {
			OrganizationName string `json:"organization_name"`
		}{c.Conflict.Name}
	}
	return out, nil
}

// VerifyDnsChallenge looks the challenge's TXT record up and, when it is
// there, records the apex as verified. No database connection is held
// during the lookup.
func (s *Server) VerifyDnsChallenge(ctx context.Context, req api.VerifyDnsChallengeRequestObject) (api.VerifyDnsChallengeResponseObject, error) {
	type failT = api.VerifyDnsChallengedefaultJSONResponse
	p, e := caller(ctx)
	if e != nil {
		return fail[failT](e), nil
	}
	ack := req.Body.AcknowledgeTakeover != nil && *req.Body.AcknowledgeTakeover
	answer := func(err error) (api.VerifyDnsChallengeResponseObject, error) {
		var tr *store.TakeoverRequiredError
		switch e, ok := translate(err, append(domainOutcomes,
			outcome{store.ErrChallengeNotFound, ErrChallengeNotFound},
			outcome{store.ErrChallengeExpired, ErrChallengeExpired})...); {
		case ok:
			return fail[failT](e), nil
		case errors.As(err, &tr):
			return fail[failT](ErrApexTakeoverRequired(tr.Holder.Name)), nil
		case errors.Is(err, store.ErrRateLimited):
			return laterResponse{rateLimited(err)}, nil
		}
		return nil, unexpectedAs(internalErr("Failed to verify DNS challenge."), err)
	}
	pending, err := s.store.PrepareVerification(ctx, p.Actor(), req.Body.ChallengeId, ack)
	if err != nil {
		return answer(err)
	}

	lookupCtx, cancel := context.WithTimeout(ctx, s.lookupTimeout)
	values, err := s.dns.LookupTXT(lookupCtx, pending.Challenge.RecordName())
	cancel()
	switch {
	case errors.Is(err, dnstxt.ErrNoSuchName):
		values = nil
	case errors.Is(err, dnstxt.ErrUnavailable):
		return laterResponse{ErrDNSLookupFailed}, nil
	case errors.Is(err, dnstxt.ErrBadResponse):
		return fail[failT](ErrDNSBadResponse), nil
	case err != nil:
		return nil, unexpectedAs(internalErr("Failed to verify DNS challenge."), err)
	}
	switch domains.Check(values, pending.Challenge.Token) {
	case domains.NoRecord:
		return fail[failT](ErrDNSNotPropagated), nil
	case domains.Mismatch:
		return fail[failT](ErrDNSValueMismatch), nil
	}

	v, err := s.store.CompleteVerification(ctx, p.Actor(), pending)
	if err != nil {
		return answer(err)
	}
	var out api.VerifyDnsChallenge200JSONResponse
	out.Data.DomainId = v.Domain.ID
	out.Data.ApexDomain = v.Domain.ApexDomain
	if v.TakeoverFrom != nil {
		out.Data.TakeoverFrom = &struct {
			OrganizationId   openapi_types.UUID `json:"organization_id"`
			OrganizationName string             `json:"organization_name"`
		}{v.TakeoverFrom.ID, v.TakeoverFrom.Name}
	}
	return out, nil
}

// ListDomains lists the active organization's verified domains and live
// challenges (any active member).
func (s *Server) ListDomains(ctx context.Context, _ api.ListDomainsRequestObject) (api.ListDomainsResponseObject, error) {
	type failT = api.ListDomainsdefaultJSONResponse
	p, e := caller(ctx)
	if e != nil {
		return fail[failT](e), nil
	}
	ds, cs, err := s.store.ListDomains(ctx, p.Actor())
	if err != nil {
		if e, ok := translate(err, domainOutcomes...); ok {
			return fail[failT](e), nil
		}
		return nil, err
	}
	var out api.ListDomains200JSONResponse
	out.Data.Domains = make([]api.ListedDomain, 0, len(ds))
	for _, d := range ds {
		out.Data.Domains = append(out.Data.Domains, api.ListedDomain{
			Id: d.ID, ApexDomain: d.ApexDomain, VerifiedAt: jsTimestamp(d.VerifiedAt),
			VerifiedVia:   api.ListDomains200JSONResponseBodyDataDomainsVerifiedVia(d.VerifiedVia),
			LastCheckedAt: jsTimestampPtr(d.LastCheckedAt), DowngradedAt: jsTimestampPtr(d.DowngradedAt),
		})
	}
	out.Data.Challenges = make([]api.ListedChallenge, 0, len(cs))
	for _, c := range cs {
		out.Data.Challenges = append(out.Data.Challenges, api.ListedChallenge{
			Id: c.ID, ApexDomain: c.ApexDomain, Method: api.ListDomains200JSONResponseBodyDataChallengesMethod(c.Method),
			ExpiresAt: jsTimestamp(c.ExpiresAt), CreatedAt: jsTimestamp(c.CreatedAt),
		})
	}
	return out, nil
}

// DeleteDomain removes a verified domain and its redirect URIs.
func (s *Server) DeleteDomain(ctx context.Context, req api.DeleteDomainRequestObject) (api.DeleteDomainResponseObject, error) {
	type failT = api.DeleteDomaindefaultJSONResponse
	p, e := caller(ctx)
	if e != nil {
		return fail[failT](e), nil
	}
	if err := s.store.DeleteDomain(ctx, p.Actor(), req.Id); err != nil {
		if e, ok := translate(err, append(domainOutcomes, outcome{store.ErrDomainNotFound, ErrDomainNotFound})...); ok {
			return fail[failT](e), nil
		}
		return nil, unexpectedAs(internalErr("Failed to remove verified domain."), err)
	}
	return api.DeleteDomain204Response{}, nil
}
