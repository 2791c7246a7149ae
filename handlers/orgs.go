package handlers

import (
	"context"
	"errors"
	"fmt"
	"time"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/store"
)

// CreateOrganization creates an organization owned by the caller and selects it.
func (s *Server) CreateOrganization(ctx context.Context, req api.CreateOrganizationRequestObject) (api.CreateOrganizationResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.CreateOrganizationdefaultJSONResponse](e), nil
	}
	in := store.NewOrganization{Name: req.Body.Name, Slug: req.Body.Slug}
	refuse := func(err error) (api.CreateOrganizationResponseObject, error) {
		e, ok := translate(err, outcome{store.ErrSlugTaken, ErrSlugTaken}, outcome{store.ErrOrganizationLimit, ErrOrganizationLimit},
			outcome{store.ErrInvalidOrganizationName, ErrInvalidOrganizationName})
		if !ok {
			return nil, err
		}
		return fail[api.CreateOrganizationdefaultJSONResponse](e), nil
	}
	var uploaded *uploadedLogo
	if l := req.Body.Logo; l != nil {
		// What the creation would refuse is refused before the logo is
		// decoded and stored: a refused creation costs no upload.
		if err := s.store.CheckNewOrganization(ctx, p.Actor(), in); err != nil {
			return refuse(err)
		}
		// The same pipeline as the logo upload, before anything is written.
		u, refused, err := s.storeLogo(ctx, l.Data, string(l.ContentType))
		if err != nil {
			return nil, err
		}
		if refused != nil {
			return fail[api.CreateOrganizationdefaultJSONResponse](refused), nil
		}
		uploaded, in.Logo, in.LogoID = &u, &u.URL, u.ID
	}
	org, err := s.store.CreateOrganization(ctx, p.Actor(), in)
	if err != nil {
		if uploaded != nil {
			s.discardLogo(ctx, *uploaded)
		}
		return refuse(err)
	}
	var out api.CreateOrganization200JSONResponse
	out.Data.Id = org.ID.String()
	return out, nil
}

// SetActiveOrganization selects an organization on the caller's session.
func (s *Server) SetActiveOrganization(ctx context.Context, req api.SetActiveOrganizationRequestObject) (api.SetActiveOrganizationResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.SetActiveOrganizationdefaultJSONResponse](e), nil
	}
	if err := s.store.SetActiveOrganization(ctx, p.Actor(), req.Body.OrganizationId); err != nil {
		e, ok := translate(err,
			outcome{store.ErrOrganizationNotFound, ErrOrgNotFound},
			outcome{store.ErrNotMember, ErrNotAMember},
		)
		if !ok {
			return nil, err
		}
		return fail[api.SetActiveOrganizationdefaultJSONResponse](e), nil
	}
	var out api.SetActiveOrganization200JSONResponse
	out.Data.OrganizationId = req.Body.OrganizationId
	return out, nil
}

// ListOwnedOrganizations lists organizations where the caller is the only active owner.
func (s *Server) ListOwnedOrganizations(ctx context.Context, _ api.ListOwnedOrganizationsRequestObject) (api.ListOwnedOrganizationsResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.ListOwnedOrganizationsdefaultJSONResponse](e), nil
	}
	orgs, err := s.store.ListOwnedOrganizations(ctx, p.User.ID)
	if err != nil {
		return nil, err
	}
	var out api.ListOwnedOrganizations200JSONResponse
	out.Data.Organizations = make([]api.OwnedOrganization, 0, len(orgs))
	for _, o := range orgs {
		out.Data.Organizations = append(out.Data.Organizations, api.OwnedOrganization{Id: o.ID.String(), Name: o.Name, Slug: o.Slug})
	}
	return out, nil
}

// deletionOutcomes are the answers of a deletion operation: its own
// (first, so they win), then those the three share.
func deletionOutcomes(own ...outcome) []outcome {
	return append(own,
		outcome{store.ErrOrganizationNotFound, ErrDeletionOrgNotFound},
		outcome{store.ErrNotMember, ErrDeletionNotAMember},
		outcome{store.ErrAlreadyScheduled, ErrAlreadyScheduled},
		outcome{store.ErrNotScheduled, ErrNotScheduled},
		outcome{store.ErrNoPendingCode, ErrNoPendingCode}, // before ErrInvalidCode, which it also is
		outcome{store.ErrInvalidCode, ErrInvalidCode},
		outcome{store.ErrCodeExpired, ErrCodeExpired},
		outcome{store.ErrCodeAttemptsExhausted, ErrCodeAttemptsExhausted},
	)
}

// RequestOrganizationDeletion mails a confirmation code to the requesting owner.
func (s *Server) RequestOrganizationDeletion(ctx context.Context, req api.RequestOrganizationDeletionRequestObject) (api.RequestOrganizationDeletionResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.RequestOrganizationDeletiondefaultJSONResponse](e), nil
	}
	dr, err := s.store.RequestDeletion(ctx, p.Actor(), req.Body.OrganizationId, func(ctx context.Context, dr store.DeletionRequest) error {
		return s.mailer.Send(ctx, deletionMail(dr))
	})
	if errors.Is(err, store.ErrNotDelivered) {
		// Whatever stopped the relay, including the request's time running
		// out, no code was issued: the operation's documented 500.
		return nil, answerAs(ErrCodeNotSent, err)
	}
	if err != nil {
		e, ok := translate(err, deletionOutcomes(outcome{store.ErrForbidden, ErrDeletionRequestOwnerOnly},
			outcome{store.ErrAlreadyScheduled, ErrAlreadyScheduledToRequest})...)
		if !ok {
			return nil, err
		}
		return fail[api.RequestOrganizationDeletiondefaultJSONResponse](e), nil
	}
	var out api.RequestOrganizationDeletion200JSONResponse
	out.Data.SentToEmail = dr.Email
	return out, nil
}

func deletionMail(dr store.DeletionRequest) mail.Message {
	return mail.Message{
		To:      dr.Email,
		Subject: fmt.Sprintf("Confirm deletion of %s", dr.Organization.Name),
		Body: fmt.Sprintf("Someone (hopefully you) asked to delete the organization %q (%s).\n\n"+
			"Confirmation code: %s\n\nThe code expires at %s. If you did not ask for this, ignore this message.\n",
			dr.Organization.Name, dr.Organization.Slug, dr.Code, dr.ExpiresAt.UTC().Format(time.RFC1123)),
	}
}

// ConfirmOrganizationDeletion schedules the deletion 48 hours out.
func (s *Server) ConfirmOrganizationDeletion(ctx context.Context, req api.ConfirmOrganizationDeletionRequestObject) (api.ConfirmOrganizationDeletionResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.ConfirmOrganizationDeletiondefaultJSONResponse](e), nil
	}
	at, err := s.store.ConfirmDeletion(ctx, p.Actor(), req.Body.OrganizationId, req.Body.Code)
	if err != nil {
		e, ok := translate(err, deletionOutcomes(outcome{store.ErrForbidden, ErrDeletionConfirmOwnerOnly})...)
		if !ok {
			return nil, err
		}
		return fail[api.ConfirmOrganizationDeletiondefaultJSONResponse](e), nil
	}
	var out api.ConfirmOrganizationDeletion200JSONResponse
	out.Data.PendingDeletionAt = timestamp(at)
	return out, nil
}

// CancelOrganizationDeletion clears a scheduled deletion (owner or admin).
func (s *Server) CancelOrganizationDeletion(ctx context.Context, req api.CancelOrganizationDeletionRequestObject) (api.CancelOrganizationDeletionResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.CancelOrganizationDeletiondefaultJSONResponse](e), nil
	}
	if err := s.store.CancelDeletion(ctx, p.Actor(), req.Body.OrganizationId); err != nil {
		e, ok := translate(err, deletionOutcomes(outcome{store.ErrForbidden, ErrDeletionCancelRole})...)
		if !ok {
			return nil, err
		}
		return fail[api.CancelOrganizationDeletiondefaultJSONResponse](e), nil
	}
	var out api.CancelOrganizationDeletion200JSONResponse
	out.Data.Ok = true
	return out, nil
}

// ListAuditLogs lists the active organization's audit log (owner/admin).
func (s *Server) ListAuditLogs(ctx context.Context, req api.ListAuditLogsRequestObject) (api.ListAuditLogsResponseObject, error) {
	prm := req.Params
	limit := pageLimit(prm.Limit)
	p, e := caller(ctx)
	if e != nil {
		return failList[api.ListAuditLogsdefaultJSONResponse](e, limit), nil
	}
	f := store.AuditFilter{ActorUserID: prm.ActorUserId, ActorAPIKeyID: prm.ActorApiKeyId, CreatedFrom: prm.CreatedFrom, CreatedTo: prm.CreatedTo}
	if prm.Event != nil {
		f.Events = store.ParseEvents(*prm.Event)
	}
	if prm.ActorType != nil {
		f.ActorType = string(*prm.ActorType)
	}
	if prm.Q != nil {
		f.Query = *prm.Q
	}
	page := store.Page{Limit: limit}
	if prm.StartingAfter != nil {
		page.StartingAfter = *prm.StartingAfter
	}
	rows, more, err := s.store.ListAuditLogs(ctx, p.Actor(), f, page)
	if err != nil {
		e, ok := translate(err,
			outcome{store.ErrNoActiveOrganization, ErrSelectOrgForAudit},
			outcome{store.ErrForbidden, ErrCannotViewAudit},
			outcome{store.ErrInvalidCursor, ErrInvalidCursor},
		)
		if !ok {
			return nil, err
		}
		return failList[api.ListAuditLogsdefaultJSONResponse](e, limit), nil
	}
	out := api.ListAuditLogs200JSONResponse{Data: make([]api.AuditLog, 0, len(rows))}
	for _, r := range rows {
		out.Data = append(out.Data, auditToAPI(r))
	}
	out.Pagination = pageOf(limit, more, rows, func(r store.AuditEntry) string { return r.ID })
	return out, nil
}

func auditToAPI(r store.AuditEntry) api.AuditLog {
	actor := api.AuditLogActor{Type: api.AuditLogActorType(r.ActorType), Name: r.ActorName, Email: r.ActorEmail, ApiKeyId: r.ActorAPIKeyID, ApiKeyName: r.ActorAPIKeyName}
	if r.ActorUserID != nil {
		id := r.ActorUserID.String()
		actor.Id = &id
	}
	meta := map[string]any(r.Metadata)
	if meta == nil {
		meta = map[string]any{}
	}
	return api.AuditLog{
		Id: r.ID, Event: r.Event, Actor: actor, TargetId: r.TargetID, TargetType: r.TargetType,
		Metadata: meta, CreatedAt: timestamp(r.CreatedAt),
	}
}
