package handlers

import (
	"context"

	openapi_types "github.com/oapi-codegen/runtime/types"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/store"
)

// LeaveOrganization suspends the caller's own membership of the active organization.
func (s *Server) LeaveOrganization(ctx context.Context, _ api.LeaveOrganizationRequestObject) (api.LeaveOrganizationResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.LeaveOrganizationdefaultJSONResponse](e), nil
	}
	if _, err := s.store.Leave(ctx, p.Actor()); err != nil {
		e, ok := translate(err,
			outcome{store.ErrNoActiveOrganization, ErrSelectOrgToManage},
			outcome{store.ErrOrganizationFrozen, ErrFrozen},
			outcome{store.ErrNotMember, ErrNotAMember},
			outcome{store.ErrLastOwner, ErrLastOwnerLeave},
		)
		if !ok {
			return nil, err
		}
		return fail[api.LeaveOrganizationdefaultJSONResponse](e), nil
	}
	var out api.LeaveOrganization200JSONResponse
	out.Data.Message = "You left the organization."
	out.Data.Status = "success"
	return out, nil
}

// SuspendMember suspends a member of the active organization (owner/admin).
func (s *Server) SuspendMember(ctx context.Context, req api.SuspendMemberRequestObject) (api.SuspendMemberResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.SuspendMemberdefaultJSONResponse](e), nil
	}
	if _, err := s.store.Suspend(ctx, p.Actor(), req.Id); err != nil {
		e, ok := translate(err,
			outcome{store.ErrNoActiveOrganization, ErrSelectOrgToManage},
			outcome{store.ErrOrganizationFrozen, ErrFrozen.WithHint("Cancel the pending deletion before suspending members.")},
			outcome{store.ErrForbidden, ErrCannotSuspend},
			outcome{store.ErrMemberNotFound, ErrMemberNotFound},
			outcome{store.ErrLastOwner, ErrLastOwnerSuspend},
		)
		if !ok {
			return nil, err
		}
		return fail[api.SuspendMemberdefaultJSONResponse](e), nil
	}
	var out api.SuspendMember200JSONResponse
	out.Data.Message = "Member suspended."
	out.Data.Status = "success"
	return out, nil
}

// ReinstateMember clears a member's suspension (owner/admin).
func (s *Server) ReinstateMember(ctx context.Context, req api.ReinstateMemberRequestObject) (api.ReinstateMemberResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.ReinstateMemberdefaultJSONResponse](e), nil
	}
	if _, err := s.store.Reinstate(ctx, p.Actor(), req.Id); err != nil {
		e, ok := translate(err,
			outcome{store.ErrNoActiveOrganization, ErrSelectOrgToManage},
			outcome{store.ErrOrganizationFrozen, ErrFrozen.WithHint("Cancel the pending deletion before reinstating members.")},
			outcome{store.ErrForbidden, ErrCannotReinstate},
			outcome{store.ErrOwnerRequired, ErrOwnerToReinstateOwner},
			outcome{store.ErrMemberNotFound, ErrMemberNotFound.WithHint("Confirm the member id and that the row is suspended.")},
			outcome{store.ErrMemberNotSuspended, ErrNotSuspended},
			outcome{store.ErrActiveMembershipExists, ErrActiveMembershipConflict},
		)
		if !ok {
			return nil, err
		}
		return fail[api.ReinstateMemberdefaultJSONResponse](e), nil
	}
	var out api.ReinstateMember200JSONResponse
	out.Data.Message = "Member reinstated."
	out.Data.Status = "success"
	return out, nil
}

// UpdateMemberRole changes an active member's role (owner/admin; owner role by owners).
func (s *Server) UpdateMemberRole(ctx context.Context, req api.UpdateMemberRoleRequestObject) (api.UpdateMemberRoleResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.UpdateMemberRoledefaultJSONResponse](e), nil
	}
	m, err := s.store.ChangeRole(ctx, p.Actor(), req.Id, store.Role(req.Body.Role))
	if err != nil {
		e, ok := translate(err,
			outcome{store.ErrNoActiveOrganization, ErrSelectOrgToManage},
			outcome{store.ErrOrganizationFrozen, ErrFrozen.WithHint("Cancel the pending deletion before changing roles.")},
			outcome{store.ErrForbidden, ErrCannotChangeRole},
			outcome{store.ErrOwnerRequired, ErrOwnerRoleByOwners},
			outcome{store.ErrMemberNotFound, ErrMemberNotFound},
			outcome{store.ErrLastOwner, ErrLastOwnerDemote},
		)
		if !ok {
			return nil, err
		}
		return fail[api.UpdateMemberRoledefaultJSONResponse](e), nil
	}
	return api.UpdateMemberRole200JSONResponse{Data: memberToAPI(m)}, nil
}

// ListMembers lists the active organization's memberships (any active member).
func (s *Server) ListMembers(ctx context.Context, req api.ListMembersRequestObject) (api.ListMembersResponseObject, error) {
	limit := pageLimit(req.Params.Limit)
	p, e := caller(ctx)
	if e != nil {
		return failList[api.ListMembersdefaultJSONResponse](e, limit), nil
	}
	page := store.Page{Limit: limit}
	if req.Params.StartingAfter != nil {
		page.StartingAfter = *req.Params.StartingAfter
	}
	rows, more, err := s.store.ListMembers(ctx, p.Actor(), page)
	if err != nil {
		e, ok := translate(err,
			outcome{store.ErrNoActiveOrganization, ErrSelectOrgToView},
			outcome{store.ErrNotMember, ErrNotAMember},
			outcome{store.ErrInvalidCursor, ErrInvalidCursor},
		)
		if !ok {
			return nil, err
		}
		return failList[api.ListMembersdefaultJSONResponse](e, limit), nil
	}
	out := api.ListMembers200JSONResponse{Data: make([]api.Member, 0, len(rows))}
	for _, r := range rows {
		out.Data = append(out.Data, memberToAPI(r))
	}
	out.Pagination = pageOf(limit, more, rows, func(r store.MemberView) string { return r.ID.String() })
	return out, nil
}

func memberToAPI(m store.MemberView) api.Member {
	out := api.Member{
		Id:        m.ID,
		UserId:    m.UserID,
		Email:     m.Email,
		Name:      m.Name,
		Role:      api.MemberRole(m.Role),
		CreatedAt: m.CreatedAt.UTC(),
	}
	if m.SuspendedAt != nil {
		t := m.SuspendedAt.UTC()
		out.SuspendedAt = &t
	}
	out.SuspendedBy = m.SuspendedBy
	return out
}

// CreateInvitation invites an email to the active organization (owner/admin).
func (s *Server) CreateInvitation(ctx context.Context, req api.CreateInvitationRequestObject) (api.CreateInvitationResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.CreateInvitationdefaultJSONResponse](e), nil
	}
	inv, err := s.store.Invite(ctx, p.Actor(), string(req.Body.Email), store.Role(req.Body.Role))
	if err != nil {
		e, ok := translate(err,
			outcome{store.ErrNoActiveOrganization, ErrSelectOrgToManage},
			outcome{store.ErrOrganizationFrozen, ErrFrozen.WithHint("Cancel the pending deletion before inviting members.")},
			outcome{store.ErrForbidden, ErrCannotInvite},
			outcome{store.ErrOwnerRequired, ErrOwnerToInviteOwner},
			outcome{store.ErrActiveMembershipExists, ErrAlreadyMember},
			outcome{store.ErrInvitationPending, ErrInvitationPending},
		)
		if !ok {
			return nil, err
		}
		return fail[api.CreateInvitationdefaultJSONResponse](e), nil
	}
	return api.CreateInvitation200JSONResponse{Data: api.Invitation{
		Id: inv.ID, Email: openapi_types.Email(inv.Email), Role: api.MemberRole(inv.Role), ExpiresAt: inv.ExpiresAt.UTC(),
	}}, nil
}

// AcceptInvitation joins the caller to the invitation's organization.
func (s *Server) AcceptInvitation(ctx context.Context, req api.AcceptInvitationRequestObject) (api.AcceptInvitationResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.AcceptInvitationdefaultJSONResponse](e), nil
	}
	// An address the identity provider does not vouch for accepts nothing,
	// whatever the invitation (so the answer says nothing about it).
	if !p.EmailVerified {
		return fail[api.AcceptInvitationdefaultJSONResponse](ErrEmailNotVerified), nil
	}
	m, err := s.store.AcceptInvitation(ctx, p.Actor(), req.Id)
	if err != nil {
		e, ok := translate(err,
			outcome{store.ErrInvitationNotFound, ErrInvitationNotFound},
			// Addressed to the caller, so saying why reveals nothing to a stranger.
			outcome{store.ErrInvitationRevoked, ErrInvitationNotFound.WithHint("Whoever sent it can no longer grant that role; ask an owner or admin for a new invitation.")},
			outcome{store.ErrOrganizationFrozen, ErrFrozen.WithHint("Ask an owner to cancel the pending deletion, then accept again.")},
			outcome{store.ErrActiveMembershipExists, ErrAlreadyMember.WithHint("You are already a member; select the organization instead.")},
		)
		if !ok {
			return nil, err
		}
		return fail[api.AcceptInvitationdefaultJSONResponse](e), nil
	}
	var out api.AcceptInvitation200JSONResponse
	out.Data.MemberId = m.ID
	out.Data.OrganizationId = m.OrganizationID
	return out, nil
}

// LegacyLeaveOrganization answers as upstream does: the hard-delete flow is gone.
func (s *Server) LegacyLeaveOrganization(ctx context.Context, _ api.LegacyLeaveOrganizationRequestObject) (api.LegacyLeaveOrganizationResponseObject, error) {
	return fail[api.LegacyLeaveOrganizationdefaultJSONResponse](ErrGoneHardDelete), nil
}

// LegacyRemoveMember answers as upstream does: the hard-delete flow is gone.
func (s *Server) LegacyRemoveMember(ctx context.Context, _ api.LegacyRemoveMemberRequestObject) (api.LegacyRemoveMemberResponseObject, error) {
	return fail[api.LegacyRemoveMemberdefaultJSONResponse](ErrGoneHardDelete), nil
}
