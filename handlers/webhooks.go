package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/labstack/echo/v4"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/webhooks"
)

// The webhook API: endpoints, their signing secrets and encryption keys,
// deliveries, and events (under /v1/webhooks/events and its alias
// /v1/events), for API keys with the webhooks scopes and dashboard users.

// WebhookOptions configure the webhook API.
type WebhookOptions struct {
	// AllowLoopback admits endpoints on localhost and 127.0.0.1 (http too):
	// a development setting (the delivery side has its own, the same
	// configuration value).
	AllowLoopback bool
}

// WithWebhooks configures the webhook API.
func WithWebhooks(o WebhookOptions) Option { return func(s *Server) { s.webhooks = o } }

// webhookScopes is the scope each webhook operation needs (webhooks:write
// implies webhooks:read).
var webhookScopes = map[string]string{
	"listWebhookEndpoints":       store.ScopeWebhooksRead,
	"createWebhookEndpoint":      store.ScopeWebhooksWrite,
	"getWebhookEndpoint":         store.ScopeWebhooksRead,
	"updateWebhookEndpoint":      store.ScopeWebhooksWrite,
	"deleteWebhookEndpoint":      store.ScopeWebhooksWrite,
	"revealWebhookSigningSecret": store.ScopeWebhooksWrite,
	"rotateWebhookSigningSecret": store.ScopeWebhooksWrite,
	"createWebhookKey":           store.ScopeWebhooksWrite,
	"listWebhookKeys":            store.ScopeWebhooksRead,
	"deactivateWebhookKey":       store.ScopeWebhooksWrite,
	"reactivateWebhookKey":       store.ScopeWebhooksWrite,
	"listWebhookDeliveries":      store.ScopeWebhooksRead,
	"retryWebhookDelivery":       store.ScopeWebhooksWrite,
	"listWebhookEvents":          store.ScopeWebhooksRead,
	"getWebhookEvent":            store.ScopeWebhooksRead,
	"replayWebhookEvent":         store.ScopeWebhooksWrite,
	"listEvents":                 store.ScopeWebhooksRead,
	"getEvent":                   store.ScopeWebhooksRead,
	"replayEvent":                store.ScopeWebhooksWrite,
}

// booleanFilters are the boolean query parameters of the webhook lists.
var booleanFilters = map[string]string{"listWebhookEndpoints": "enabled", "listWebhookKeys": "is_active"}

// strictBooleans holds a list's boolean filter to upstream's literal
// true or false (the generated binding would also take 1, t or TRUE).
func strictBooleans(c echo.Context, op string) error {
	name, ok := booleanFilters[op]
	if !ok {
		return nil
	}
	for _, v := range c.QueryParams()[name] {
		if v != "true" && v != "false" {
			return BadRequest(name + " must be true or false.")
		}
	}
	return nil
}

// webhookFrozen answers the store's frozen refusal with upstream's 410.
func webhookFrozen(err error) error {
	if errors.Is(err, store.ErrOrganizationFrozen) {
		return ErrFrozenForKeys
	}
	return err
}

// webhookError answers the store's webhook refusals; notFound is the
// operation's own 404.
func webhookError(err error, notFound *APIError) (*APIError, bool) {
	return translate(err,
		outcome{store.ErrNotFound, notFound},
		outcome{store.ErrOrganizationFrozen, ErrFrozenForKeys},
		outcome{store.ErrInvalidCursor, ErrInvalidCursor},
		outcome{store.ErrWebhookNothingToUpdate, ErrEndpointUpdateEmpty},
		outcome{store.ErrWebhookKeyRejected, ErrWebhookKeyRejected},
		outcome{store.ErrWebhookEndpointLimit, ErrWebhookEndpointLimit},
		outcome{store.ErrWebhookKeyLimit, ErrWebhookKeyLimit},
		outcome{store.ErrDeliveryInProgress, ErrDeliveryInProgress},
		outcome{store.ErrDeliveryHeld, ErrDeliveryHeld},
		outcome{store.ErrPayloadExpired, ErrPayloadExpired},
		outcome{store.ErrNotReplayable, ErrEventNotReplayable},
		// Reveal's one enveloped 500, upstream's fixed strings.
		outcome{store.ErrWebhookSecretUnreadable, ErrRPInternal},
	)
}

// ListWebhookEndpoints is GET /v1/webhooks/endpoints.
func (s *Server) ListWebhookEndpoints(ctx context.Context, req api.ListWebhookEndpointsRequestObject) (api.ListWebhookEndpointsResponseObject, error) {
	limit := pageLimit(req.Params.Limit)
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksRead)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	rows, more, err := s.store.ListWebhookEndpoints(ctx, rc, req.Params.Enabled, store.Page{Limit: limit, StartingAfter: deref(req.Params.StartingAfter)})
	if err != nil {
		if e, ok := webhookError(err, ErrEndpointNotFoundGet); ok {
			return failList[api.ListWebhookEndpointsdefaultJSONResponse](e, limit), nil
		}
		return nil, rpUnexpected(err)
	}
	out := make([]api.WebhookEndpoint, len(rows))
	for i, e := range rows {
		out[i] = endpointJSON(e)
	}
	return api.ListWebhookEndpoints200JSONResponse{Data: out, Pagination: pageOf(limit, more, rows, func(e store.WebhookEndpoint) string { return e.ID })}, nil
}

// CreateWebhookEndpoint is POST /v1/webhooks/endpoints.
func (s *Server) CreateWebhookEndpoint(ctx context.Context, req api.CreateWebhookEndpointRequestObject) (api.CreateWebhookEndpointResponseObject, error) {
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksWrite)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	in := store.WebhookEndpointInput{AllowLoopback: s.webhooks.AllowLoopback}
	if b := req.Body; b != nil {
		in.Name, in.Labels, in.Enabled, in.RetentionHours = b.Name, b.Labels, b.Enabled, b.UndeliveredPayloadRetentionHours
		u := b.Url
		in.URL = &u
		if b.SubscribedEventTypes != nil {
			in.SubscribedEventTypes = eventTypes(*b.SubscribedEventTypes)
		}
	}
	e, err := s.store.CreateWebhookEndpoint(ctx, rc, in)
	if err != nil {
		if e, ok := webhookError(err, ErrEndpointNotFoundGet); ok {
			return fail[api.CreateWebhookEndpointdefaultJSONResponse](e), nil
		}
		return nil, rpUnexpected(err)
	}
	return api.CreateWebhookEndpoint200JSONResponse{Data: api.CreatedWebhookEndpoint{
		Endpoint: endpointJSON(e.WebhookEndpoint), SigningSecret: e.SigningSecret}}, nil
}

// GetWebhookEndpoint is GET /v1/webhooks/endpoints/{endpoint_id}.
func (s *Server) GetWebhookEndpoint(ctx context.Context, req api.GetWebhookEndpointRequestObject) (api.GetWebhookEndpointResponseObject, error) {
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksRead)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	e, err := s.store.GetWebhookEndpoint(ctx, rc, req.EndpointId)
	if err != nil {
		if e, ok := webhookError(err, ErrEndpointNotFoundGet); ok {
			return fail[api.GetWebhookEndpointdefaultJSONResponse](e), nil
		}
		return nil, rpUnexpected(err)
	}
	return api.GetWebhookEndpoint200JSONResponse{Data: endpointJSON(e)}, nil
}

// UpdateWebhookEndpoint is PATCH /v1/webhooks/endpoints/{endpoint_id}.
func (s *Server) UpdateWebhookEndpoint(ctx context.Context, req api.UpdateWebhookEndpointRequestObject) (api.UpdateWebhookEndpointResponseObject, error) {
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksWrite)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	in := store.WebhookEndpointInput{AllowLoopback: s.webhooks.AllowLoopback}
	if b := req.Body; b != nil {
		in.Labels, in.URL, in.Enabled, in.RetentionHours = b.Labels, b.Url, b.Enabled, b.UndeliveredPayloadRetentionHours
		if b.Name.IsSpecified() {
			in.NameSet = true
			if !b.Name.IsNull() {
				n := b.Name.MustGet()
				in.Name = &n
			}
		}
		if b.SubscribedEventTypes != nil {
			in.SubscribedEventTypes = eventTypes(*b.SubscribedEventTypes)
		}
	}
	e, err := s.store.UpdateWebhookEndpoint(ctx, rc, req.EndpointId, in)
	if err != nil {
		if e, ok := webhookError(err, ErrEndpointNotFoundUpdate); ok {
			return fail[api.UpdateWebhookEndpointdefaultJSONResponse](e), nil
		}
		return nil, rpUnexpected(err)
	}
	return api.UpdateWebhookEndpoint200JSONResponse{Data: endpointJSON(e)}, nil
}

// DeleteWebhookEndpoint is DELETE /v1/webhooks/endpoints/{endpoint_id}.
func (s *Server) DeleteWebhookEndpoint(ctx context.Context, req api.DeleteWebhookEndpointRequestObject) (api.DeleteWebhookEndpointResponseObject, error) {
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksWrite)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	if err := s.store.DeleteWebhookEndpoint(ctx, rc, req.EndpointId); err != nil {
		if e, ok := webhookError(err, ErrEndpointNotFoundDelete); ok {
			return fail[api.DeleteWebhookEndpointdefaultJSONResponse](e), nil
		}
		return nil, rpUnexpected(err)
	}
	out := api.DeleteWebhookEndpoint200JSONResponse{}
	out.Data.Message, out.Data.Status = "Webhook endpoint deleted.", api.DeleteWebhookEndpoint200JSONResponseBodyDataStatusSuccess
	return out, nil
}

// RevealWebhookSigningSecret is POST …/signing-secret/reveal.
func (s *Server) RevealWebhookSigningSecret(ctx context.Context, req api.RevealWebhookSigningSecretRequestObject) (api.RevealWebhookSigningSecretResponseObject, error) {
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksWrite)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	secret, err := s.store.RevealWebhookSigningSecret(ctx, rc, req.EndpointId)
	if err != nil {
		if errors.Is(err, store.ErrWebhookSecretUnreadable) {
			// Logged with its cause; the answer is upstream's fixed 500.
			return nil, answerAs(ErrRPInternal, err)
		}
		if e, ok := webhookError(err, ErrEndpointNotFoundReveal); ok {
			return fail[api.RevealWebhookSigningSecretdefaultJSONResponse](e), nil
		}
		return nil, rpUnexpected(err)
	}
	return api.RevealWebhookSigningSecret200JSONResponse{Data: api.RevealedWebhookSigningSecret{EndpointId: req.EndpointId, SigningSecret: secret}}, nil
}

// RotateWebhookSigningSecret is POST …/signing-secret/rotate.
func (s *Server) RotateWebhookSigningSecret(ctx context.Context, req api.RotateWebhookSigningSecretRequestObject) (api.RotateWebhookSigningSecretResponseObject, error) {
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksWrite)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	secret, err := s.store.RotateWebhookSigningSecret(ctx, rc, req.EndpointId)
	if err != nil {
		if e, ok := webhookError(err, ErrEndpointNotFoundRotate); ok {
			return fail[api.RotateWebhookSigningSecretdefaultJSONResponse](e), nil
		}
		return nil, rpUnexpected(err)
	}
	return api.RotateWebhookSigningSecret200JSONResponse{Data: api.RotatedWebhookSigningSecret{EndpointId: req.EndpointId, SigningSecret: secret}}, nil
}

// CreateWebhookKey is POST /v1/webhooks/endpoints/{endpoint_id}/keys.
func (s *Server) CreateWebhookKey(ctx context.Context, req api.CreateWebhookKeyRequestObject) (api.CreateWebhookKeyResponseObject, error) {
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksWrite)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	var in store.NewWebhookKey
	if b := req.Body; b != nil {
		in = store.NewWebhookKey{KeyID: b.KeyId, Algorithm: string(b.Algorithm), KeyType: string(b.KeyType), JWK: b.Jwk}
	}
	k, err := s.store.CreateWebhookKey(ctx, rc, req.EndpointId, in)
	if err != nil {
		if e, ok := webhookError(err, ErrEndpointNotFoundKeys); ok {
			return fail[api.CreateWebhookKeydefaultJSONResponse](e), nil
		}
		return nil, rpUnexpected(err)
	}
	return api.CreateWebhookKey200JSONResponse{Data: keyJSON(k)}, nil
}

// ListWebhookKeys is GET /v1/webhooks/endpoints/{endpoint_id}/keys.
func (s *Server) ListWebhookKeys(ctx context.Context, req api.ListWebhookKeysRequestObject) (api.ListWebhookKeysResponseObject, error) {
	limit := pageLimit(req.Params.Limit)
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksRead)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	rows, more, err := s.store.ListWebhookKeys(ctx, rc, req.EndpointId, req.Params.IsActive, store.Page{Limit: limit, StartingAfter: deref(req.Params.StartingAfter)})
	if err != nil {
		if e, ok := webhookError(err, ErrEndpointNotFoundKeys); ok {
			return failList[api.ListWebhookKeysdefaultJSONResponse](e, limit), nil
		}
		return nil, rpUnexpected(err)
	}
	out := make([]api.WebhookEncryptionKey, len(rows))
	for i, k := range rows {
		out[i] = keyJSON(k)
	}
	return api.ListWebhookKeys200JSONResponse{Data: out, Pagination: pageOf(limit, more, rows, func(k store.WebhookKey) string { return k.ID })}, nil
}

// DeactivateWebhookKey is POST /v1/webhooks/keys/{key_id}/deactivate.
func (s *Server) DeactivateWebhookKey(ctx context.Context, req api.DeactivateWebhookKeyRequestObject) (api.DeactivateWebhookKeyResponseObject, error) {
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksWrite)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	k, err := s.store.DeactivateWebhookKey(ctx, rc, req.KeyId)
	if err != nil {
		if e, ok := webhookError(err, ErrKeyNotFoundDeactivate); ok {
			return fail[api.DeactivateWebhookKeydefaultJSONResponse](e), nil
		}
		return nil, rpUnexpected(err)
	}
	return api.DeactivateWebhookKey200JSONResponse{Data: keyJSON(k)}, nil
}

// ReactivateWebhookKey is POST /v1/webhooks/keys/{key_id}/reactivate.
func (s *Server) ReactivateWebhookKey(ctx context.Context, req api.ReactivateWebhookKeyRequestObject) (api.ReactivateWebhookKeyResponseObject, error) {
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksWrite)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	k, err := s.store.ReactivateWebhookKey(ctx, rc, req.KeyId)
	if err != nil {
		if e, ok := webhookError(err, ErrKeyNotFoundReactivate); ok {
			return fail[api.ReactivateWebhookKeydefaultJSONResponse](e), nil
		}
		return nil, rpUnexpected(err)
	}
	return api.ReactivateWebhookKey200JSONResponse{Data: keyJSON(k)}, nil
}

// ListWebhookDeliveries is GET /v1/webhooks/deliveries.
func (s *Server) ListWebhookDeliveries(ctx context.Context, req api.ListWebhookDeliveriesRequestObject) (api.ListWebhookDeliveriesResponseObject, error) {
	limit := pageLimit(req.Params.Limit)
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksRead)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	f := store.DeliveryFilter{EndpointID: deref(req.Params.EndpointId), EventID: deref(req.Params.EventId)}
	if req.Params.Status != nil {
		f.Status = string(*req.Params.Status)
	}
	rows, more, err := s.store.ListWebhookDeliveries(ctx, rc, f, store.Page{Limit: limit, StartingAfter: deref(req.Params.StartingAfter)})
	if err != nil {
		if e, ok := webhookError(err, ErrDeliveryNotFound); ok {
			return failList[api.ListWebhookDeliveriesdefaultJSONResponse](e, limit), nil
		}
		return nil, rpUnexpected(err)
	}
	out := make([]api.WebhookDelivery, len(rows))
	for i, d := range rows {
		out[i] = deliveryJSON(d)
	}
	return api.ListWebhookDeliveries200JSONResponse{Data: out, Pagination: pageOf(limit, more, rows, func(d store.WebhookDelivery) string { return d.ID })}, nil
}

// RetryWebhookDelivery is POST /v1/webhooks/deliveries/{delivery_id}/retry.
func (s *Server) RetryWebhookDelivery(ctx context.Context, req api.RetryWebhookDeliveryRequestObject) (api.RetryWebhookDeliveryResponseObject, error) {
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksWrite)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	d, err := s.store.RetryWebhookDelivery(ctx, rc, req.DeliveryId)
	if err != nil {
		if e, ok := webhookError(err, ErrDeliveryNotFound); ok {
			return fail[api.RetryWebhookDeliverydefaultJSONResponse](e), nil
		}
		return nil, rpUnexpected(err)
	}
	return api.RetryWebhookDelivery200JSONResponse{Data: deliveryJSON(d)}, nil
}

// listEvents serves both event lists.
func (s *Server) listEvents(ctx context.Context, p api.ListWebhookEventsParams) ([]api.WebhookEvent, api.Pagination, *APIError, error) {
	limit := pageLimit(p.Limit)
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksRead)
	if err != nil {
		return nil, api.Pagination{}, nil, rpUnexpected(err)
	}
	f := store.EventFilter{CreatedFrom: p.CreatedFrom, CreatedTo: p.CreatedTo}
	if p.Type != nil {
		f.Type = string(*p.Type)
	}
	rows, more, err := s.store.ListEvents(ctx, rc, f, store.Page{Limit: limit, StartingAfter: deref(p.StartingAfter)})
	if err != nil {
		if e, ok := webhookError(err, ErrEventNotFoundGet); ok {
			return nil, api.Pagination{}, e, nil
		}
		return nil, api.Pagination{}, nil, rpUnexpected(err)
	}
	out := make([]api.WebhookEvent, len(rows))
	for i, e := range rows {
		out[i] = eventJSON(e)
	}
	return out, pageOf(limit, more, rows, func(e store.EventWithDeliveries) string { return e.ID }), nil, nil
}

// ListWebhookEvents is GET /v1/webhooks/events.
func (s *Server) ListWebhookEvents(ctx context.Context, req api.ListWebhookEventsRequestObject) (api.ListWebhookEventsResponseObject, error) {
	data, page, e, err := s.listEvents(ctx, req.Params)
	if e != nil {
		return failList[api.ListWebhookEventsdefaultJSONResponse](e, pageLimit(req.Params.Limit)), nil
	}
	if err != nil {
		return nil, err
	}
	return api.ListWebhookEvents200JSONResponse{Data: data, Pagination: page}, nil
}

// ListEvents is GET /v1/events, the alias of GET /v1/webhooks/events.
func (s *Server) ListEvents(ctx context.Context, req api.ListEventsRequestObject) (api.ListEventsResponseObject, error) {
	p := api.ListWebhookEventsParams{CreatedFrom: req.Params.CreatedFrom, CreatedTo: req.Params.CreatedTo, Limit: req.Params.Limit, StartingAfter: req.Params.StartingAfter}
	if req.Params.Type != nil {
		t := api.ListWebhookEventsParamsType(*req.Params.Type)
		p.Type = &t
	}
	data, page, e, err := s.listEvents(ctx, p)
	if e != nil {
		return failList[api.ListEventsdefaultJSONResponse](e, pageLimit(req.Params.Limit)), nil
	}
	if err != nil {
		return nil, err
	}
	return api.ListEvents200JSONResponse{Data: data, Pagination: page}, nil
}

// getEvent serves both event reads.
func (s *Server) getEvent(ctx context.Context, id string) (api.WebhookEvent, *APIError, error) {
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksRead)
	if err != nil {
		return api.WebhookEvent{}, nil, rpUnexpected(err)
	}
	ev, err := s.store.GetEvent(ctx, rc, id)
	if err != nil {
		if e, ok := webhookError(err, ErrEventNotFoundGet); ok {
			return api.WebhookEvent{}, e, nil
		}
		return api.WebhookEvent{}, nil, rpUnexpected(err)
	}
	return eventJSON(ev), nil, nil
}

// GetWebhookEvent is GET /v1/webhooks/events/{event_id}.
func (s *Server) GetWebhookEvent(ctx context.Context, req api.GetWebhookEventRequestObject) (api.GetWebhookEventResponseObject, error) {
	data, e, err := s.getEvent(ctx, req.EventId)
	if e != nil {
		return fail[api.GetWebhookEventdefaultJSONResponse](e), nil
	}
	if err != nil {
		return nil, err
	}
	return api.GetWebhookEvent200JSONResponse{Data: data}, nil
}

// GetEvent is GET /v1/events/{event_id}.
func (s *Server) GetEvent(ctx context.Context, req api.GetEventRequestObject) (api.GetEventResponseObject, error) {
	data, e, err := s.getEvent(ctx, req.EventId)
	if e != nil {
		return fail[api.GetEventdefaultJSONResponse](e), nil
	}
	if err != nil {
		return nil, err
	}
	return api.GetEvent200JSONResponse{Data: data}, nil
}

// replayEvent serves both replays. Unlike upstream, a session caller of a
// frozen organization is refused on /v1/events too (the store checks).
func (s *Server) replayEvent(ctx context.Context, id string) (api.WebhookEvent, *APIError, error) {
	rc, err := s.rpFrom(ctx, store.ScopeWebhooksWrite)
	if err != nil {
		return api.WebhookEvent{}, nil, rpUnexpected(err)
	}
	ev, err := s.store.ReplayWebhookEvent(ctx, rc, id)
	if err != nil {
		if e, ok := webhookError(err, ErrEventNotFoundReplay); ok {
			return api.WebhookEvent{}, e, nil
		}
		return api.WebhookEvent{}, nil, rpUnexpected(err)
	}
	return eventJSON(ev), nil, nil
}

// ReplayWebhookEvent is POST /v1/webhooks/events/{event_id}/replay.
func (s *Server) ReplayWebhookEvent(ctx context.Context, req api.ReplayWebhookEventRequestObject) (api.ReplayWebhookEventResponseObject, error) {
	data, e, err := s.replayEvent(ctx, req.EventId)
	if e != nil {
		return fail[api.ReplayWebhookEventdefaultJSONResponse](e), nil
	}
	if err != nil {
		return nil, err
	}
	return api.ReplayWebhookEvent202JSONResponse{Data: data}, nil
}

// ReplayEvent is POST /v1/events/{event_id}/replay.
func (s *Server) ReplayEvent(ctx context.Context, req api.ReplayEventRequestObject) (api.ReplayEventResponseObject, error) {
	data, e, err := s.replayEvent(ctx, req.EventId)
	if e != nil {
		return fail[api.ReplayEventdefaultJSONResponse](e), nil
	}
	if err != nil {
		return nil, err
	}
	return api.ReplayEvent202JSONResponse{Data: data}, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// eventTypes is a list of generated enum values as plain strings.
func eventTypes[T ~string](in []T) *[]string {
	out := make([]string, len(in))
	for i, t := range in {
		out[i] = string(t)
	}
	return &out
}

// endpointJSON is the endpoint object. Event types read back as upstream
// shows them: unknown values left out, none at all shown as all four.
func endpointJSON(e store.WebhookEndpoint) api.WebhookEndpoint {
	types := []api.WebhookEndpointSubscribedEventTypes{}
	for _, t := range e.SubscribedEventTypes {
		if webhooks.IsEventType(t) && !slices.Contains(types, api.WebhookEndpointSubscribedEventTypes(t)) {
			types = append(types, api.WebhookEndpointSubscribedEventTypes(t))
		}
	}
	if len(types) == 0 {
		for _, t := range webhooks.EventTypes {
			types = append(types, api.WebhookEndpointSubscribedEventTypes(t))
		}
	}
	labels := []string(e.Labels)
	if labels == nil {
		labels = []string{}
	}
	hours := float64(e.UndeliveredPayloadRetentionHours)
	return api.WebhookEndpoint{
		Id: e.ID, OrganizationId: e.OrganizationID.String(), Name: e.Name, Labels: labels, Url: e.URL,
		Enabled: e.Enabled, SubscribedEventTypes: types, UndeliveredPayloadRetentionHours: &hours,
		CreatedAt: jsTimestamp(e.CreatedAt), UpdatedAt: jsTimestamp(e.UpdatedAt), DisabledAt: jsTimestampPtr(e.DisabledAt),
	}
}

func keyJSON(k store.WebhookKey) api.WebhookEncryptionKey {
	return api.WebhookEncryptionKey{
		Id: k.ID, WebhookEndpointId: k.WebhookEndpointID, KeyId: k.KeyID, Algorithm: k.Algorithm, KeyType: k.KeyType,
		Jwk: json.RawMessage(k.JWK), IsActive: k.IsActive,
		CreatedAt: jsTimestamp(k.CreatedAt), UpdatedAt: jsTimestamp(k.UpdatedAt), DisabledAt: jsTimestampPtr(k.DisabledAt),
	}
}

func statusCode(c *int) *float32 {
	if c == nil {
		return nil
	}
	f := float32(*c)
	return &f
}

func deliveryJSON(d store.WebhookDelivery) api.WebhookDelivery {
	out := api.WebhookDelivery{
		Id: d.ID, EventId: d.EventID, WebhookEndpointId: d.WebhookEndpointID, WebhookEncryptionKeyId: d.WebhookEncryptionKeyID,
		Status: api.WebhookDeliveryStatus(d.Status), AttemptCount: float32(d.AttemptCount),
		NextAttemptAt: jsTimestampPtr(d.NextAttemptAt), PayloadExpiresAt: jsTimestampPtr(d.PayloadExpiresAt),
		PayloadScrubbedAt: jsTimestampPtr(d.PayloadScrubbedAt), LastStatusCode: statusCode(d.LastStatusCode),
		LastAttemptAt: jsTimestampPtr(d.LastAttemptAt), CreatedAt: jsTimestamp(d.CreatedAt), UpdatedAt: jsTimestamp(d.UpdatedAt),
	}
	if d.PayloadRetentionReason != nil {
		r := api.WebhookDeliveryPayloadRetentionReason(*d.PayloadRetentionReason)
		out.PayloadRetentionReason = &r
	}
	return out
}

// eventJSON is the event with the nine-field summary of each delivery.
func eventJSON(e store.EventWithDeliveries) api.WebhookEvent {
	out := api.WebhookEvent{
		Id: e.ID, Type: e.Type, TriggerType: api.WebhookEventTriggerType(e.TriggerType), TriggerId: e.TriggerID,
		CreatedAt: jsTimestamp(e.CreatedAt), Deliveries: make([]api.WebhookEventDelivery, len(e.Deliveries)),
	}
	for i, d := range e.Deliveries {
		s := api.WebhookEventDelivery{
			Id: d.ID, WebhookEndpointId: d.WebhookEndpointID, Status: api.WebhookEventDeliveriesStatus(d.Status),
			LastStatusCode: statusCode(d.LastStatusCode), AttemptCount: float32(d.AttemptCount),
			LastAttemptAt: jsTimestampPtr(d.LastAttemptAt), PayloadExpiresAt: jsTimestampPtr(d.PayloadExpiresAt),
			PayloadScrubbedAt: jsTimestampPtr(d.PayloadScrubbedAt),
		}
		if d.PayloadRetentionReason != nil {
			r := api.WebhookEventDeliveriesPayloadRetentionReason(*d.PayloadRetentionReason)
			s.PayloadRetentionReason = &r
		}
		out.Deliveries[i] = s
	}
	return out
}
