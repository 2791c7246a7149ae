package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kayle-id/orgs-api/domains"
	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/sessions"
	"github.com/kayle-id/orgs-api/store"
)

// The relying-party API: verification sessions and their analytics, for
// an organization's API keys and its dashboard users.

// DefaultVerifyURL is where people are sent to verify when nothing else is
// configured: upstream's development web app.
const DefaultVerifyURL = "http://localhost:2999"

// SessionOptions configure the relying-party API.
type SessionOptions struct {
	// VerifyURL is the verification web app; its origin prefixes every
	// verification_url (a path in it is replaced, as upstream).
	VerifyURL *url.URL
	// Production turns the loopback redirect exception off.
	Production bool
}

// WithSessions configures the relying-party API.
func WithSessions(o SessionOptions) Option {
	return func(s *Server) {
		if o.VerifyURL != nil {
			s.sessions = o
		} else {
			s.sessions.Production = o.Production
		}
	}
}

func defaultSessionOptions() SessionOptions {
	u, _ := url.Parse(DefaultVerifyURL)
	return SessionOptions{VerifyURL: u}
}

// rpScopes is the scope each relying-party operation needs; an API key is
// accepted by these operations only.
var rpScopes = map[string]string{
	"listSessions":           store.ScopeSessionsRead,
	"getSession":             store.ScopeSessionsRead,
	"createSession":          store.ScopeSessionsWrite,
	"cancelSession":          store.ScopeSessionsWrite,
	"completeSandboxSession": store.ScopeSessionsWrite,
	"getSessionsOverview":    store.ScopeAnalyticsRead,
}

func init() {
	for op, scope := range webhookScopes {
		rpScopes[op] = scope
	}
}

// RelyingPartyOperation reports whether an operation is on the
// relying-party API (API keys accepted).
func RelyingPartyOperation(operationID string) bool {
	_, ok := rpScopes[operationID]
	return ok
}

type rpCallerKey struct{}

// rpGuard is the scope check of a relying-party operation, run before the
// request is validated (upstream's order: credential, scope, then schema).
// It leaves the caller in the request context for the handler.
func (s *Server) rpGuard(op, scope string) precheck {
	return func(c echo.Context, p store.Principal) error {
		rc, err := s.rpCaller(c.Request().Context(), p, scope)
		if err != nil {
			return err
		}
		req := c.Request()
		c.SetRequest(req.WithContext(context.WithValue(req.Context(), rpCallerKey{}, rc)))
		if webhookScopes[op] == store.ScopeWebhooksWrite && rc.APIKeyID == nil {
			// Upstream's frozen guard of the webhook writes, after the
			// scope and before the schema (API keys were refused earlier).
			if err := s.store.WebhookWriteAllowed(req.Context(), rc); err != nil {
				return webhookFrozen(err)
			}
		}
		if err := strictBooleans(c, op); err != nil {
			return err
		}
		if op == "createSession" {
			return shareFieldsFirst(c)
		}
		return nil
	}
}

// shareFieldsFirst is createSession's schema step for share_fields, run
// before the request is validated: upstream answers a share-field shape
// error (REASON_REQUIRED, REASON_TOO_LONG, INVALID_SHARE_FIELDS) over any
// other schema error in the same body. A body that is not a JSON object is
// left to the validator, whose answer it is.
func shareFieldsFirst(c echo.Context) error {
	req := c.Request()
	if req.Body == nil || req.Body == http.NoBody || !strings.HasPrefix(strings.ToLower(req.Header.Get(echo.HeaderContentType)), echo.MIMEApplicationJSON) {
		return nil
	}
	raw, err := io.ReadAll(req.Body)
	// Whatever was read goes back, followed by the read's own error, so the
	// validator meets the body (and a cut or oversized one) as it was.
	req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(raw), errReader{err}))
	// A body that neither spells the key out nor holds a \u escape (the
	// only JSON escape that can spell one of its letters) has no
	// share_fields: most bodies, not decoded a second time.
	if err != nil || !bytes.Contains(raw, []byte("share_fields")) && !bytes.Contains(raw, []byte(`\u`)) {
		return nil
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(raw, &top) != nil {
		return nil
	}
	sf, ok := top["share_fields"]
	if !ok {
		return nil
	}
	// The whole parse, kept for the handler: the body's share_fields are
	// then decoded once more by the strict handler only, not three times.
	contract, err := sessions.ParseShareFields(sf)
	if se := (*sessions.Error)(nil); errors.As(err, &se) && se.Schema() {
		e, _ := sessionError(err, ErrSessionNotFound)
		return e
	}
	c.SetRequest(req.WithContext(context.WithValue(req.Context(), parsedShareFieldsKey{},
		&parsedShareFields{raw: sf, contract: contract, err: err})))
	return nil
}

// parsedShareFields is shareFieldsFirst's parse of a body's share_fields.
type parsedShareFields struct {
	raw      json.RawMessage
	contract sessions.Contract
	err      error
}

type parsedShareFieldsKey struct{}

// errReader ends a replayed body the way the first read ended (io.EOF when
// it ended well).
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err == nil {
		return 0, io.EOF
	}
	return 0, r.err
}

// rpCaller authorizes p for scope, translating the refusal.
func (s *Server) rpCaller(ctx context.Context, p store.Principal, scope string) (store.RPCaller, error) {
	rc, err := s.store.AuthorizeRP(ctx, p, scope)
	switch {
	case errors.Is(err, store.ErrNoActiveOrganization):
		return rc, ErrRPNoOrganization
	case errors.Is(err, store.ErrForbidden), errors.Is(err, store.ErrNotMember):
		return rc, ErrRPForbidden
	}
	return rc, err
}

// rpFrom is the caller the precheck authorized; with the validator off
// (no precheck ran) it is authorized here.
func (s *Server) rpFrom(ctx context.Context, scope string) (store.RPCaller, error) {
	if rc, ok := ctx.Value(rpCallerKey{}).(store.RPCaller); ok {
		return rc, nil
	}
	p, apiErr := caller(ctx)
	if apiErr != nil {
		return store.RPCaller{}, apiErr
	}
	return s.rpCaller(ctx, p, scope)
}

// sessionError answers the rules' own errors (the share contract, the
// redirect URL, onboarding) and the store's session refusals.
func sessionError(err error, notFound *APIError) (*APIError, bool) {
	var se *sessions.Error
	if errors.As(err, &se) {
		return &APIError{Status: http.StatusBadRequest, Code: se.Code, Message: se.Message, Hint: se.Hint, Docs: se.Docs}, true
	}
	return translate(err,
		outcome{store.ErrNotFound, notFound},
		outcome{store.ErrOrganizationFrozen, ErrFrozenForKeys},
		outcome{store.ErrWebhookEndpointUnavailable, ErrWebhookEndpointUnavailable},
		outcome{store.ErrUnverifiedOrgLimit, ErrUnverifiedOrgLimit},
		outcome{store.ErrInvalidCursor, ErrInvalidCursor},
		outcome{store.ErrSessionNotActive, ErrSessionNotActive},
	)
}

// rpUnexpected answers an error no rule names with upstream's documented
// 500 of these operations (a database that cannot be reached keeps its
// 503); errors that already are answers pass through.
func rpUnexpected(err error) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return err
	}
	return unexpectedAs(ErrRPInternal, err)
}

// ListSessions is GET /v1/sessions.
func (s *Server) ListSessions(ctx context.Context, req api.ListSessionsRequestObject) (api.ListSessionsResponseObject, error) {
	limit := pageLimit(req.Params.Limit)
	rc, err := s.rpFrom(ctx, store.ScopeSessionsRead)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	f := store.SessionFilter{CreatedFrom: req.Params.CreatedFrom, CreatedTo: req.Params.CreatedTo}
	if req.Params.Status != nil {
		f.Status = string(*req.Params.Status)
	}
	p := store.Page{Limit: limit}
	if req.Params.StartingAfter != nil {
		p.StartingAfter = *req.Params.StartingAfter
	}
	rows, more, err := s.store.ListVerificationSessions(ctx, rc, f, p)
	if err != nil {
		if e, ok := sessionError(err, ErrSessionNotFound); ok {
			return failList[api.ListSessionsdefaultJSONResponse](e, limit), nil
		}
		return nil, rpUnexpected(err)
	}
	out := make([]api.VerificationSession, len(rows))
	for i, v := range rows {
		out[i] = s.sessionJSON(v, "")
	}
	return api.ListSessions200JSONResponse{Data: out, Pagination: pageOf(limit, more, rows, func(v store.VerificationSession) string { return v.ID })}, nil
}

// CreateSession is POST /v1/sessions.
func (s *Server) CreateSession(ctx context.Context, req api.CreateSessionRequestObject) (api.CreateSessionResponseObject, error) {
	rc, err := s.rpFrom(ctx, store.ScopeSessionsWrite)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	in := store.NewVerificationSession{Production: s.sessions.Production}
	if b := req.Body; b != nil {
		if len(b.ShareFields) > 0 {
			in.ShareFields = b.ShareFields
		}
		// The share fields' shape answers before the other fields' (with
		// validation on, shareFieldsFirst already made sure of it, and its
		// parse of the same bytes is reused).
		p, _ := ctx.Value(parsedShareFieldsKey{}).(*parsedShareFields)
		if p == nil || !bytes.Equal(p.raw, in.ShareFields) {
			contract, err := sessions.ParseShareFields(in.ShareFields)
			p = &parsedShareFields{raw: in.ShareFields, contract: contract, err: err}
		}
		if se := (*sessions.Error)(nil); errors.As(p.err, &se) && se.Schema() {
			e, _ := sessionError(p.err, ErrSessionNotFound)
			return fail[api.CreateSessiondefaultJSONResponse](e), nil
		}
		in.Contract, in.ContractErr, in.Parsed = p.contract, p.err, true
		if b.RedirectUrl != nil {
			r, err := domains.ParseSessionRedirect(*b.RedirectUrl, s.sessions.Production)
			if err != nil {
				return fail[api.CreateSessiondefaultJSONResponse](BadRequest(redirectSchemaMessage(err))), nil
			}
			in.Redirect = &r
		}
		if b.WebhookEndpointId != nil {
			ids, ok := endpointIDs(*b.WebhookEndpointId)
			if !ok {
				return fail[api.CreateSessiondefaultJSONResponse](BadRequest("webhook_endpoint_id must be an endpoint id or a list of 1 to 25 of them.")), nil
			}
			in.WebhookEndpointIDs = ids
		}
	}
	v, err := s.store.CreateVerificationSession(ctx, rc, in)
	if err != nil {
		if e, ok := sessionError(err, ErrSessionNotFound); ok {
			return fail[api.CreateSessiondefaultJSONResponse](e), nil
		}
		return nil, rpUnexpected(err)
	}
	return api.CreateSession200JSONResponse{Data: s.sessionJSON(v.VerificationSession, v.CancelToken)}, nil
}

// redirectSchemaMessage is the wording of a redirect_url the schema rule
// refused.
func redirectSchemaMessage(err error) string {
	var pe *domains.PatternError
	if errors.As(err, &pe) {
		return "redirect_url: " + pe.Message
	}
	return "redirect_url: " + err.Error()
}

// endpointIDs reads webhook_endpoint_id (the contract allows a string or a
// list of 1..25 strings; with validation off anything may come).
func endpointIDs(v any) ([]string, bool) {
	switch x := v.(type) {
	case string:
		return []string{x}, true
	case []any:
		if len(x) == 0 || len(x) > 25 {
			return nil, false
		}
		out := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

// GetSession is GET /v1/sessions/{id}.
func (s *Server) GetSession(ctx context.Context, req api.GetSessionRequestObject) (api.GetSessionResponseObject, error) {
	rc, err := s.rpFrom(ctx, store.ScopeSessionsRead)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	v, err := s.store.GetVerificationSession(ctx, rc, req.Id)
	if err != nil {
		if e, ok := sessionError(err, ErrSessionNotFound); ok {
			return fail[api.GetSessiondefaultJSONResponse](e), nil
		}
		return nil, rpUnexpected(err)
	}
	return api.GetSession200JSONResponse{Data: s.sessionJSON(v, "")}, nil
}

// CancelSession is POST /v1/sessions/{id}/cancel: 204 for any session of
// the organization, whatever its state.
func (s *Server) CancelSession(ctx context.Context, req api.CancelSessionRequestObject) (api.CancelSessionResponseObject, error) {
	rc, err := s.rpFrom(ctx, store.ScopeSessionsWrite)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	if err := s.store.CancelVerificationSession(ctx, rc, req.Id); err != nil {
		if e, ok := sessionError(err, ErrSessionNotFoundForCancel); ok {
			return fail[api.CancelSessiondefaultJSONResponse](e), nil
		}
		return nil, rpUnexpected(err)
	}
	return api.CancelSession204Response{}, nil
}

// CompleteSandboxSession is the sandbox's POST /v1/sessions/{id}/complete.
// It is routed only in sandbox mode (server.SandboxOperations).
func (s *Server) CompleteSandboxSession(ctx context.Context, req api.CompleteSandboxSessionRequestObject) (api.CompleteSandboxSessionResponseObject, error) {
	rc, err := s.rpFrom(ctx, store.ScopeSessionsWrite)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	if req.Body == nil {
		return fail[api.CompleteSandboxSessiondefaultJSONResponse](BadRequest("A body with outcome is required.")), nil
	}
	in := store.SandboxCompletion{Succeeded: req.Body.Outcome == api.CompleteSandboxSessionJSONBodyOutcomeSucceeded}
	switch {
	case in.Succeeded && req.Body.FailureCode != nil:
		return fail[api.CompleteSandboxSessiondefaultJSONResponse](BadRequest("failure_code is for outcome failed only.")), nil
	case !in.Succeeded && req.Body.Outcome != api.CompleteSandboxSessionJSONBodyOutcomeFailed:
		return fail[api.CompleteSandboxSessiondefaultJSONResponse](BadRequest("outcome must be succeeded or failed.")), nil
	case !in.Succeeded && req.Body.Claims != nil:
		return fail[api.CompleteSandboxSessiondefaultJSONResponse](BadRequest("claims are for outcome succeeded only.")), nil
	case !in.Succeeded && req.Body.FailureCode == nil:
		return fail[api.CompleteSandboxSessiondefaultJSONResponse](BadRequest("failure_code is required when outcome is failed.")), nil
	}
	if req.Body.FailureCode != nil {
		in.FailureCode = string(*req.Body.FailureCode)
	}
	if req.Body.Claims != nil {
		in.Claims = map[string]any{}
		for k, v := range *req.Body.Claims {
			if v == nil {
				in.Claims[k] = nil
			} else {
				in.Claims[k] = *v
			}
		}
	}
	v, err := s.store.CompleteSandboxSession(ctx, rc, req.Id, in)
	if err != nil {
		if e, ok := sessionError(err, ErrSessionNotFound); ok {
			return fail[api.CompleteSandboxSessiondefaultJSONResponse](e), nil
		}
		return nil, rpUnexpected(err)
	}
	done := time.Time{}
	if v.CompletedAt != nil {
		done = v.CompletedAt.UTC()
	}
	return api.CompleteSandboxSession200JSONResponse{Data: api.SandboxSession{
		Id: v.ID, Status: api.CompleteSandboxSession200JSONResponseBodyDataStatus(v.Status), CompletedAt: done,
	}}, nil
}

// GetSessionsOverview is GET /v1/analytics/sessions/overview.
func (s *Server) GetSessionsOverview(ctx context.Context, _ api.GetSessionsOverviewRequestObject) (api.GetSessionsOverviewResponseObject, error) {
	rc, err := s.rpFrom(ctx, store.ScopeAnalyticsRead)
	if err != nil {
		return nil, rpUnexpected(err)
	}
	// A pure read: the overview counts overdue active sessions as expired
	// itself (store.SessionOverview), as every other answer shows them.
	o, err := s.store.SessionOverview(ctx, rc.OrganizationID, s.store.Now())
	if err != nil {
		return nil, rpUnexpected(err)
	}
	out := api.SessionsOverview{
		Summary: api.SessionAnalyticsSummary{Total: o.Summary.Total, Active: o.Summary.Active, Success: o.Summary.Success,
			Failure: o.Summary.Failure, Expired: o.Summary.Expired, Cancelled: o.Summary.Cancelled},
		Trend:    make([]api.SessionAnalyticsTrendPoint, len(o.Trend)),
		Timeline: make([]api.SessionAnalyticsTimelinePoint, len(o.Timeline)),
	}
	for i, t := range o.Trend {
		out.Trend[i] = api.SessionAnalyticsTrendPoint{Date: t.Date, Success: t.Success, Failure: t.Failure, Expired: t.Expired, Cancelled: t.Cancelled}
	}
	for i, t := range o.Timeline {
		out.Timeline[i] = api.SessionAnalyticsTimelinePoint{Date: t.Date, Total: t.Total, Active: t.Active, Success: t.Success,
			Failure: t.Failure, Expired: t.Expired, Cancelled: t.Cancelled}
	}
	return api.GetSessionsOverview200JSONResponse{Data: out}, nil
}

// sessionJSON is the session object; cancelToken is given on creation only,
// the one answer that shows it (and carries it in verification_url).
func (s *Server) sessionJSON(v store.VerificationSession, cancelToken string) api.VerificationSession {
	verify := *s.sessions.VerifyURL
	verify.Path, verify.RawPath, verify.RawQuery, verify.Fragment = "/"+v.ID, "", "", ""
	out := api.VerificationSession{
		Id: v.ID, Status: api.ListSessions200JSONResponseBodyDataStatus(v.Status), ContractVersion: v.ContractVersion,
		NfcTriesUsed: v.NfcTriesUsed, LivenessTriesUsed: v.LivenessTriesUsed, RedirectUrl: v.RedirectURL,
		ShareFields: map[string]api.ShareField{},
		ExpiresAt:   jsTimestamp(v.ExpiresAt), CreatedAt: jsTimestamp(v.CreatedAt), UpdatedAt: jsTimestamp(v.UpdatedAt),
		CompletedAt: jsTimestampPtr(v.CompletedAt),
	}
	if v.FailureCode != nil {
		fc := api.ListSessions200JSONResponseBodyDataFailureCode(*v.FailureCode)
		out.FailureCode = &fc
	}
	for k, f := range v.ShareFields {
		out.ShareFields[k] = api.ShareField{Required: f.Required, Reason: f.Reason, Source: api.ListSessions200JSONResponseBodyDataShareFieldsSource(f.Source)}
	}
	// One target reads back as a string, several as a list, none as null.
	switch ids := v.WebhookEndpointIDs; len(ids) {
	case 0:
	case 1:
		var one any = ids[0]
		out.WebhookEndpointId = &one
	default:
		var many any = []string(ids)
		out.WebhookEndpointId = &many
	}
	if cancelToken != "" {
		verify.RawQuery = url.Values{"cancel_token": {cancelToken}}.Encode()
		out.CancelToken = &cancelToken
	}
	out.VerificationUrl = verify.String()
	return out
}
