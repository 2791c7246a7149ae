package handlers

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/oapi-codegen/nullable"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/terms"
)

// Organization administration beside API keys: the logo, the public and
// business details, and the two kinds of terms.

// UploadOrganizationLogo checks an image as upstream does, stores it and
// answers its URL. The organization keeps its logo until an update names
// the new URL.
func (s *Server) UploadOrganizationLogo(ctx context.Context, req api.UploadOrganizationLogoRequestObject) (api.UploadOrganizationLogoResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.UploadOrganizationLogodefaultJSONResponse](e), nil
	}
	answer := func(err error) (api.UploadOrganizationLogoResponseObject, error) {
		e, ok := translate(err, outcome{store.ErrForbidden, ErrCannotUploadLogo}, outcome{store.ErrOrganizationFrozen, ErrFrozenForKeys})
		if !ok {
			return nil, err
		}
		return fail[api.UploadOrganizationLogodefaultJSONResponse](e), nil
	}
	// Permission first, as upstream; then the bytes; then the bucket, with
	// no database connection held while it is called.
	if err := s.store.CheckLogoUpload(ctx, p.Actor()); err != nil {
		return answer(err)
	}
	u, refused, err := s.storeLogo(ctx, req.Body.Logo.Data, string(req.Body.Logo.ContentType))
	if err != nil {
		return nil, err
	}
	if refused != nil {
		return fail[api.UploadOrganizationLogodefaultJSONResponse](refused), nil
	}
	evicted, err := s.store.RecordLogoUpload(ctx, p.Actor(), u.ID)
	if err != nil {
		s.discardLogo(ctx, u)
		return answer(err)
	}
	s.dropLogos(ctx, evicted)
	var out api.UploadOrganizationLogo200JSONResponse
	out.Data.Logo = u.URL
	return out, nil
}

// field reads a sent-or-not, null-or-not value.
func field(n nullable.Nullable[string]) store.Field {
	if !n.IsSpecified() {
		return store.Field{}
	}
	if n.IsNull() {
		return store.Field{Set: true}
	}
	v := n.MustGet()
	return store.Field{Set: true, Value: &v}
}

// UpdateOrganization changes an organization's name, slug, logo or
// metadata (owner/admin): the one organizationId names, else the active
// one. A logo must be one of this server's uploads.
func (s *Server) UpdateOrganization(ctx context.Context, req api.UpdateOrganizationRequestObject) (api.UpdateOrganizationResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.UpdateOrganizationdefaultJSONResponse](e), nil
	}
	d := req.Body.Data
	ch := store.OrganizationChange{Name: d.Name, Slug: d.Slug, Logo: field(d.Logo)}
	// The contract refuses null for both; these hold with validation off.
	if req.Body.OrganizationId.IsNull() {
		return fail[api.UpdateOrganizationdefaultJSONResponse](BadRequest("organizationId must be a string.")), nil
	}
	if d.Metadata.IsNull() {
		return fail[api.UpdateOrganizationdefaultJSONResponse](BadRequest("data.metadata must be an object.")), nil
	}
	if id := req.Body.OrganizationId.GetOrEmpty(); id != "" {
		// "" is the active organization, as upstream. An id that is no
		// UUID names no organization: the same 404 as a stranger's.
		u, err := uuid.Parse(id)
		if err != nil {
			return fail[api.UpdateOrganizationdefaultJSONResponse](ErrUpdateOrgNotFound), nil
		}
		ch.OrganizationID = &u
	}
	if d.Metadata.IsSpecified() {
		ch.Metadata = d.Metadata.MustGet()
		if ch.Metadata == nil {
			ch.Metadata = map[string]any{}
		}
	}
	if v := ch.Logo.Value; v != nil && *v != "" {
		id, e := s.logoID(*v)
		if e != nil {
			return fail[api.UpdateOrganizationdefaultJSONResponse](e), nil
		}
		ch.LogoID = id
	}
	org, err := s.store.UpdateOrganization(ctx, p.Actor(), ch)
	if err != nil {
		e, ok := translate(err,
			outcome{store.ErrNoActiveOrganization, ErrSelectOrgForUpdate},
			outcome{store.ErrOrganizationNotFound, ErrUpdateOrgNotFound},
			outcome{store.ErrOrganizationFrozen, ErrFrozen.WithHint("Cancel the pending deletion before updating the organization.")},
			outcome{store.ErrForbidden, ErrCannotUpdateOrg},
			outcome{store.ErrSlugTaken, ErrSlugTaken},
			outcome{store.ErrInvalidOrganizationName, ErrInvalidOrganizationName},
			outcome{store.ErrLogoNotUploaded, ErrLogoNotUploaded},
		)
		var bad *store.MetadataError
		switch {
		case ok:
		case errors.As(err, &bad):
			e = invalidMetadata(bad)
		default:
			return nil, err
		}
		return fail[api.UpdateOrganizationdefaultJSONResponse](e), nil
	}
	var out api.UpdateOrganization200JSONResponse
	out.Data.Id, out.Data.Name, out.Data.Slug, out.Data.Logo = org.ID, org.Name, org.Slug, org.Logo
	out.Data.CreatedAt = jsTimestamp(org.CreatedAt)
	if m, ok := store.MetadataObject(org.Metadata); ok {
		out.Data.Metadata = &m
	}
	return out, nil
}

// UpdateBusinessDetails changes the business details sent (owners only);
// null or blank clears one.
func (s *Server) UpdateBusinessDetails(ctx context.Context, req api.UpdateBusinessDetailsRequestObject) (api.UpdateBusinessDetailsResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.UpdateBusinessDetailsdefaultJSONResponse](e), nil
	}
	b := req.Body
	ch := store.BusinessDetailsChange{Type: field(b.BusinessType), Name: field(b.BusinessName),
		Jurisdiction: field(b.BusinessJurisdiction), RegistrationNumber: field(b.BusinessRegistrationNumber)}
	d, err := s.store.UpdateBusinessDetails(ctx, p.Actor(), ch)
	if err != nil {
		e, ok := translate(err,
			outcome{store.ErrNoActiveOrganization, ErrSelectOrgForBusiness},
			outcome{store.ErrOrganizationFrozen, ErrFrozen.WithHint("Cancel the pending deletion before updating business details.")},
			outcome{store.ErrForbidden, ErrCannotUpdateBusiness},
			outcome{store.ErrOrganizationNotFound, ErrBusinessNotFound},
		)
		var bad *store.BusinessDetailsError
		switch {
		case ok:
		case errors.As(err, &bad):
			e = invalidBusinessDetail(bad.Field)
		default:
			return nil, unexpectedAs(ErrBusinessUpdateFailed, err)
		}
		return fail[api.UpdateBusinessDetailsdefaultJSONResponse](e), nil
	}
	var out api.UpdateBusinessDetails200JSONResponse
	out.Data.BusinessType = (*api.UpdateBusinessDetails200JSONResponseBodyDataBusinessType)(d.BusinessType)
	out.Data.BusinessName, out.Data.BusinessJurisdiction, out.Data.BusinessRegistrationNumber = d.BusinessName, d.BusinessJurisdiction, d.BusinessRegistrationNumber
	return out, nil
}

// AcceptVerificationTerms records an owner's acceptance of the organization
// verification terms for the organization named in the body.
func (s *Server) AcceptVerificationTerms(ctx context.Context, req api.AcceptVerificationTermsRequestObject) (api.AcceptVerificationTermsResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.AcceptVerificationTermsdefaultJSONResponse](e), nil
	}
	var orgID *uuid.UUID
	if req.Body != nil {
		orgID = &req.Body.OrganizationId
	}
	v, err := s.store.AcceptVerificationTerms(ctx, p.User.ID, orgID)
	if err != nil {
		e, ok := translate(err,
			outcome{store.ErrOrganizationFrozen, ErrFrozen.WithHint("Cancel the pending deletion before accepting verification terms.")},
			outcome{store.ErrOrganizationNotFound, ErrVerificationOrgNotFound},
			outcome{store.ErrAlreadyVerified, ErrAlreadyVerified},
			outcome{store.ErrForbidden, ErrCannotAcceptVerification},
		)
		if !ok {
			return nil, unexpectedAs(ErrVerificationTermsFailed, err)
		}
		return fail[api.AcceptVerificationTermsdefaultJSONResponse](e), nil
	}
	var out api.AcceptVerificationTerms200JSONResponse
	out.Data.VerificationTermsAcceptedAt, out.Data.VerificationTermsAcceptedBy = jsTimestamp(v.AcceptedAt), v.AcceptedBy.String()
	return out, nil
}

// rpTerms is what both rp-terms operations answer: the current terms and
// the organization's acceptance of them, if any.
func rpTerms(acc *store.RPTermsAcceptance) api.RpTermsStatus {
	var out api.RpTermsStatus
	c := terms.Current
	out.Current.Jurisdiction = api.GetRpTerms200JSONResponseBodyDataCurrentJurisdiction(c.Jurisdiction)
	out.Current.TermsHash = api.GetRpTerms200JSONResponseBodyDataCurrentTermsHash(c.Hash)
	out.Current.TermsVersion = api.GetRpTerms200JSONResponseBodyDataCurrentTermsVersion(c.Version)
	if acc != nil {
		out.CurrentAccepted = true
		out.Acceptance = &api.RpTermsAcceptance{AcceptedAt: jsTimestamp(acc.AcceptedAt), Jurisdiction: acc.Jurisdiction,
			TermsHash: acc.TermsHash, TermsVersion: acc.TermsVersion}
		if acc.AcceptedBy != nil {
			by := acc.AcceptedBy.String()
			out.Acceptance.AcceptedBy = &by
		}
	}
	return out
}

// GetRpTerms says whether the active organization accepted the current
// Kayle ID Integration Terms. As upstream, any caller whose session selects
// the organization may ask.
func (s *Server) GetRpTerms(ctx context.Context, _ api.GetRpTermsRequestObject) (api.GetRpTermsResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.GetRpTermsdefaultJSONResponse](e), nil
	}
	acc, err := s.store.RPTermsStatus(ctx, p.Actor())
	if errors.Is(err, store.ErrNoActiveOrganization) {
		return fail[api.GetRpTermsdefaultJSONResponse](ErrSelectOrgForRPTerms), nil
	}
	if err != nil {
		return nil, err
	}
	return api.GetRpTerms200JSONResponse{Data: rpTerms(acc)}, nil
}

// AcceptRpTerms records that an owner accepted the current Kayle ID
// Integration Terms for the active organization.
func (s *Server) AcceptRpTerms(ctx context.Context, _ api.AcceptRpTermsRequestObject) (api.AcceptRpTermsResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.AcceptRpTermsdefaultJSONResponse](e), nil
	}
	acc, err := s.store.AcceptRPTerms(ctx, p.Actor())
	if err != nil {
		e, ok := translate(err,
			outcome{store.ErrNoActiveOrganization, ErrSelectOrgForRPTerms},
			outcome{store.ErrOrganizationFrozen, ErrFrozen.WithHint("Cancel the pending deletion before accepting Kayle ID Integration Terms.")},
			outcome{store.ErrForbidden, ErrCannotAcceptRPTerms},
		)
		if !ok {
			return nil, unexpectedAs(ErrRPTermsFailed, err)
		}
		return fail[api.AcceptRpTermsdefaultJSONResponse](e), nil
	}
	return api.AcceptRpTerms200JSONResponse{Data: rpTerms(&acc)}, nil
}
