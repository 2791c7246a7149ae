package handlers

import (
	"context"

	openapi_types "github.com/oapi-codegen/runtime/types"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/store"
)

// ListInvitations lists the active organization's pending invitations (owner/admin).
func (s *Server) ListInvitations(ctx context.Context, req api.ListInvitationsRequestObject) (api.ListInvitationsResponseObject, error) {
	limit := pageLimit(req.Params.Limit)
	p, e := caller(ctx)
	if e != nil {
		return failList[api.ListInvitationsdefaultJSONResponse](e, limit), nil
	}
	page := store.Page{Limit: limit}
	if req.Params.StartingAfter != nil {
		page.StartingAfter = *req.Params.StartingAfter
	}
	rows, more, err := s.store.ListInvitations(ctx, p.Actor(), page)
	if err != nil {
		e, ok := translate(err,
			outcome{store.ErrNoActiveOrganization, ErrSelectOrgForInvitations},
			outcome{store.ErrForbidden, ErrCannotViewInvitations},
			outcome{store.ErrInvalidCursor, ErrInvalidCursor},
		)
		if !ok {
			return nil, err
		}
		return failList[api.ListInvitationsdefaultJSONResponse](e, limit), nil
	}
	out := api.ListInvitations200JSONResponse{Data: make([]api.PendingInvitation, 0, len(rows))}
	for _, r := range rows {
		out.Data = append(out.Data, api.PendingInvitation{
			Id: r.ID, Email: openapi_types.Email(r.Email), Role: api.MemberRole(r.Role), InvitedBy: r.InvitedBy,
			CreatedAt: r.CreatedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
		})
	}
	out.Pagination = pageOf(limit, more, rows, func(r store.Invitation) string { return r.ID.String() })
	return out, nil
}

// CancelInvitation cancels a pending invitation of the active organization (owner/admin).
func (s *Server) CancelInvitation(ctx context.Context, req api.CancelInvitationRequestObject) (api.CancelInvitationResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.CancelInvitationdefaultJSONResponse](e), nil
	}
	if _, err := s.store.CancelInvitation(ctx, p.Actor(), req.Id); err != nil {
		e, ok := translate(err,
			outcome{store.ErrNoActiveOrganization, ErrSelectOrgToManage},
			outcome{store.ErrOrganizationFrozen, ErrFrozen.WithHint("Cancel the pending deletion before cancelling invitations.")},
			outcome{store.ErrForbidden, ErrCannotCancelInvitation},
			outcome{store.ErrInvitationNotFound, ErrInvitationNotFound.WithHint("The invitation may have expired, been accepted or cancelled, or belong to another organization.")},
		)
		if !ok {
			return nil, err
		}
		return fail[api.CancelInvitationdefaultJSONResponse](e), nil
	}
	var out api.CancelInvitation200JSONResponse
	out.Data.Message = "Invitation cancelled."
	out.Data.Status = "success"
	return out, nil
}
