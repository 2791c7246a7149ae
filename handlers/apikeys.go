package handlers

import (
	"context"
	"errors"

	"github.com/labstack/echo/v4"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/store"
)

// keyGuard is what upstream's API-key router checks before it validates
// the request: a selected organization, and for changes one not scheduled
// for deletion (so a frozen organization's admin, a non-member and a
// malformed request alike get 410).
func (s *Server) keyGuard(change bool) precheck {
	return func(c echo.Context, p store.Principal) error {
		err := s.store.APIKeyGuard(c.Request().Context(), p.Actor(), change)
		switch {
		case errors.Is(err, store.ErrNoActiveOrganization):
			return ErrNoOrganizationForKeys
		case errors.Is(err, store.ErrOrganizationFrozen):
			return ErrFrozenForKeys
		}
		return err
	}
}

// keyOutcomes are the rule errors every key operation can meet.
func keyOutcomes(forbidden *APIError) []outcome {
	return []outcome{
		{store.ErrNoActiveOrganization, ErrNoOrganizationForKeys},
		{store.ErrForbidden, forbidden},
		{store.ErrOrganizationFrozen, ErrFrozenForKeys},
		{store.ErrAPIKeyLimit, ErrKeyLimit},
	}
}

// keyError answers a failed key change: a rule's answer (the store's
// refusal of the input among them), or upstream's 500.
func keyError(err error, forbidden, notFound *APIError) (*APIError, error) {
	table := keyOutcomes(forbidden)
	if notFound != nil {
		table = append(table, outcome{store.ErrAPIKeyNotFound, notFound})
	}
	if e, ok := translate(err, table...); ok {
		return e, nil
	}
	return nil, unexpectedAs(ErrKeysChangeFailed, err)
}

func scopeNames[T ~string](in []T) []string {
	out := make([]string, len(in))
	for i, p := range in {
		out[i] = string(p)
	}
	return out
}

// ListApiKeys lists the active organization's API keys (owner/admin).
func (s *Server) ListApiKeys(ctx context.Context, req api.ListApiKeysRequestObject) (api.ListApiKeysResponseObject, error) {
	limit := 10
	if req.Params.Limit != nil {
		limit = store.ClampPageLimit(*req.Params.Limit)
	}
	p, e := caller(ctx)
	if e != nil {
		return failList[api.ListApiKeysdefaultJSONResponse](e, limit), nil
	}
	page := store.Page{Limit: limit}
	if req.Params.StartingAfter != nil {
		page.StartingAfter = req.Params.StartingAfter.String()
	}
	rows, more, err := s.store.ListAPIKeys(ctx, p.Actor(), page)
	if err != nil {
		e, ok := translate(err,
			outcome{store.ErrNoActiveOrganization, ErrNoOrganizationForKeys},
			outcome{store.ErrForbidden, ErrCannotListKeys},
			outcome{store.ErrInvalidCursor, ErrInvalidCursor},
		)
		if !ok {
			return nil, unexpectedAs(ErrKeysListFailed, err)
		}
		return failList[api.ListApiKeysdefaultJSONResponse](e, limit), nil
	}
	out := api.ListApiKeys200JSONResponse{Data: make([]api.ListedApiKey, len(rows))}
	for i, k := range rows {
		meta := map[string]any(k.Metadata)
		if meta == nil {
			meta = map[string]any{}
		}
		out.Data[i] = api.ListedApiKey{
			Id: k.ID.String(), Name: k.Name, Enabled: k.Enabled, RequestCount: float32(k.RequestCount),
			Permissions: append([]string{}, k.Permissions...), Metadata: meta,
			CreatedAt: jsTimestamp(k.CreatedAt), UpdatedAt: jsTimestamp(k.UpdatedAt),
		}
	}
	out.Pagination = pageOf(limit, more, rows, func(r store.APIKey) string { return r.ID.String() })
	return out, nil
}

// CreateApiKey issues a key for the active organization (owner/admin); the
// key is in this answer and nowhere else, ever.
func (s *Server) CreateApiKey(ctx context.Context, req api.CreateApiKeyRequestObject) (api.CreateApiKeyResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.CreateApiKeydefaultJSONResponse](e), nil
	}
	in := store.NewAPIKey{Name: req.Body.Name, Permissions: scopeNames(req.Body.Permissions)}
	if req.Body.Metadata != nil {
		in.Metadata = *req.Body.Metadata
	}
	k, err := s.store.CreateAPIKey(ctx, p.Actor(), in)
	if err != nil {
		e, err := keyError(err, ErrCannotCreateKeys, nil)
		if err != nil {
			return nil, err
		}
		return fail[api.CreateApiKeydefaultJSONResponse](e), nil
	}
	var out api.CreateApiKey200JSONResponse
	out.Data.Id, out.Data.Key = k.ID.String(), k.Key
	return out, nil
}

// UpdateApiKey renames, re-scopes, disables or re-labels a key (owner/admin).
func (s *Server) UpdateApiKey(ctx context.Context, req api.UpdateApiKeyRequestObject) (api.UpdateApiKeyResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.UpdateApiKeydefaultJSONResponse](e), nil
	}
	b := req.Body
	ch := store.APIKeyChange{Name: b.Name, Enabled: b.Enabled, Metadata: b.Metadata}
	if b.Permissions != nil {
		perms := scopeNames(*b.Permissions)
		ch.Permissions = &perms
	}
	if err := s.store.UpdateAPIKey(ctx, p.Actor(), req.Id, ch); err != nil {
		e, err := keyError(err, ErrCannotUpdateKeys, ErrKeyNotFound)
		if err != nil {
			return nil, err
		}
		return fail[api.UpdateApiKeydefaultJSONResponse](e), nil
	}
	var out api.UpdateApiKey200JSONResponse
	out.Data.Status, out.Data.Message = "success", "API key updated successfully"
	return out, nil
}

// DeleteApiKey removes a key (owner/admin).
func (s *Server) DeleteApiKey(ctx context.Context, req api.DeleteApiKeyRequestObject) (api.DeleteApiKeyResponseObject, error) {
	p, e := caller(ctx)
	if e != nil {
		return fail[api.DeleteApiKeydefaultJSONResponse](e), nil
	}
	if err := s.store.DeleteAPIKey(ctx, p.Actor(), req.Id); err != nil {
		e, err := keyError(err, ErrCannotDeleteKeys, ErrKeyNotDeleted)
		if err != nil {
			return nil, err
		}
		return fail[api.DeleteApiKeydefaultJSONResponse](e), nil
	}
	var out api.DeleteApiKey200JSONResponse
	out.Data.Status, out.Data.Message = "success", "API key deleted successfully"
	return out, nil
}
