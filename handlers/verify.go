package handlers

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/verify/proto"
	"github.com/kayle-id/orgs-api/verify/tokens"
)

// The public verify routes (behaviour-verify.md §3): the verify web app's
// and the phone's HTTP side, with no credential. Errors keep this server's
// envelope with upstream's verify codes and (U+2019) messages; the hint and
// docs are ours.

// VerifyDocs is the docs link of every verify error.
const VerifyDocs = DocsBase + "verify"

func verifyErr(status int, code, hint string) *APIError {
	return &APIError{Status: status, Code: code, Message: proto.Describe(code), Hint: hint, Docs: VerifyDocs}
}

// The verify vocabulary: upstream's descriptions, from verify/proto (the
// socket's too), with hints of this server's.
var (
	ErrInvalidSessionID      = verifyErr(http.StatusBadRequest, "INVALID_SESSION_ID", "The session id is vs_ followed by 64 letters or digits.")
	ErrVerifyInvalidRequest  = verifyErr(http.StatusBadRequest, "INVALID_REQUEST", "Send the JSON body the API reference describes.")
	ErrVerifySessionNotFound = verifyErr(http.StatusNotFound, "SESSION_NOT_FOUND", "Open the verification link the relying party gave you again.")
	ErrVerifySessionExpired  = verifyErr(http.StatusGone, "SESSION_EXPIRED", "Ask the relying party for a new verification link.")
	ErrConsentRequired       = verifyErr(http.StatusConflict, "CONSENT_REQUIRED", "POST the consent before asking for the handoff.")
	ErrSessionInProgress     = verifyErr(http.StatusConflict, "SESSION_IN_PROGRESS", "A phone has taken this session; continue there.")
	ErrCancelTokenInvalid    = verifyErr(http.StatusUnauthorized, "CANCEL_TOKEN_INVALID",
		"Send the cancel_token of the session's verification_url.")
	ErrCancelTokenUsed = verifyErr(http.StatusUnauthorized, "CANCEL_TOKEN_USED", "The cancel token can be used once.")
	ErrAttestInvalid   = verifyErr(http.StatusUnauthorized, "HELLO_ATTEST_INVALID",
		"Fetch a new challenge from GET /v1/verify/attest/challenge and attest again.")
	ErrWebSocketRequired          = verifyErr(http.StatusUpgradeRequired, "WEBSOCKET_REQUIRED", "Open this URL as a WebSocket (Upgrade: websocket).")
	ErrAttestChallengeRateLimited = verifyErr(http.StatusTooManyRequests, "ATTEST_CHALLENGE_RATE_LIMITED", "Wait for the number of seconds in the Retry-After header, then retry.")
)

// sessionIDPattern is the path id's rule, checked here too so that the
// answer holds with the validator off.
var sessionIDPattern = regexp.MustCompile(`^vs_[A-Za-z0-9]{64}$`)

// ValidSessionID reports whether id can name a verification session.
func ValidSessionID(id string) bool { return sessionIDPattern.MatchString(id) }

// VerifyOperation reports whether an operation is one of the public verify
// routes (their malformed requests answer upstream's verify codes).
func VerifyOperation(operationID string) bool {
	return strings.HasPrefix(operationID, "verify") && operationID != "verifyDnsChallenge"
}

// VerifyRequestError is the verify routes' answer to a request the
// contract refused: INVALID_SESSION_ID when the path id is malformed
// (checked first, as upstream), else INVALID_REQUEST.
func VerifyRequestError(id string, hasID bool) *APIError {
	if hasID && !ValidSessionID(id) {
		return ErrInvalidSessionID
	}
	return ErrVerifyInvalidRequest
}

// verifyOutcome answers the store's refusals of the public routes.
func verifyOutcome(err error) (*APIError, bool) {
	return translate(err,
		outcome{store.ErrNotFound, ErrVerifySessionNotFound},
		outcome{store.ErrSessionExpired, ErrVerifySessionExpired},
		outcome{store.ErrConsentRequired, ErrConsentRequired},
		outcome{store.ErrSessionInProgress, ErrSessionInProgress},
		outcome{store.ErrCancelTokenInvalid, ErrCancelTokenInvalid},
		outcome{store.ErrCancelTokenUsed, ErrCancelTokenUsed},
		outcome{store.ErrAttestChallengeInvalid, ErrAttestInvalid},
	)
}

// verifyFail renders a verify refusal as T, or hands an unexpected error
// to the error handler (our envelope; a 503 for an unreachable database).
func verifyFail[T defaultResponse](err error) (T, error) {
	if e, ok := verifyOutcome(err); ok {
		return fail[T](e), nil
	}
	var zero T
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return zero, err
	}
	return zero, unexpectedAs(ErrInternal, err)
}

// VerifyConsent is POST /v1/verify/session/{id}/consent.
func (s *Server) VerifyConsent(ctx context.Context, req api.VerifyConsentRequestObject) (api.VerifyConsentResponseObject, error) {
	if !ValidSessionID(req.Id) {
		return fail[api.VerifyConsentdefaultJSONResponse](ErrInvalidSessionID), nil
	}
	// The five literal trues (the validator refuses anything else first).
	b := req.Body
	if b == nil || !bool(b.BiometricConsent) || !bool(b.DocumentProcessingConsent) || !bool(b.PrivacyNoticeAcknowledged) ||
		!bool(b.ShareClaimsConsent) || !bool(b.TermsAcknowledged) {
		return fail[api.VerifyConsentdefaultJSONResponse](ErrVerifyInvalidRequest), nil
	}
	c, err := s.store.RecordVerifyConsent(ctx, req.Id)
	if err != nil {
		return verifyFail[api.VerifyConsentdefaultJSONResponse](err)
	}
	out := api.VerifyConsent200JSONResponse{}
	out.Data.ConsentId, out.Data.ConsentedAt = c.ID, jsTimestamp(c.ConsentedAt)
	return out, nil
}

// VerifyHandoff is POST /v1/verify/session/{id}/handoff.
func (s *Server) VerifyHandoff(ctx context.Context, req api.VerifyHandoffRequestObject) (api.VerifyHandoffResponseObject, error) {
	if !ValidSessionID(req.Id) {
		return fail[api.VerifyHandoffdefaultJSONResponse](ErrInvalidSessionID), nil
	}
	h, err := s.store.IssueHandoff(ctx, req.Id)
	if err != nil {
		return verifyFail[api.VerifyHandoffdefaultJSONResponse](err)
	}
	out := api.VerifyHandoff200JSONResponse{}
	d := &out.Data
	d.V, d.SessionId, d.MobileWriteToken, d.ExpiresAt = 1, h.SessionID, h.Token, jsTimestamp(h.ExpiresAt)
	d.AttestHelloChallenge, d.AttestNfcChallenge = tokens.Base64URL(h.HelloChallenge), tokens.Base64URL(h.NFCChallenge)
	return out, nil
}

// handoffClaimed: a phone has taken the session (its token consumed, or its
// device bound).
func handoffClaimed(v store.VerificationSession) bool {
	return v.MobileWriteTokenConsumedAt != nil || v.MobileHelloDeviceIDHash != nil
}

// VerifyStatus is GET /v1/verify/session/{id}/status.
func (s *Server) VerifyStatus(ctx context.Context, req api.VerifyStatusRequestObject) (api.VerifyStatusResponseObject, error) {
	if !ValidSessionID(req.Id) {
		return fail[api.VerifyStatusdefaultJSONResponse](ErrInvalidSessionID), nil
	}
	v, err := s.store.VerifySession(ctx, req.Id, true)
	if err != nil {
		return verifyFail[api.VerifyStatusdefaultJSONResponse](err)
	}
	out := api.VerifyStatus200JSONResponse{}
	d := &out.Data
	claimed := handoffClaimed(v)
	d.SessionId, d.Status, d.IsTerminal = v.ID, api.VerifySessionStatusValue(v.Status), !v.Active()
	d.CompletedAt, d.RedirectUrl, d.SameDeviceOnly = jsTimestampPtr(v.CompletedAt), v.RedirectURL, claimed
	// The session is its one attempt: there is none to show until a phone
	// has it, nor for an expired session.
	if !(v.Active() && v.MobileWriteTokenConsumedAt == nil) && v.Status != store.StatusExpired {
		st := v.Status
		if v.Active() {
			st = store.StatusInProgress
		}
		d.LatestAttempt = &api.VerifyLatestAttempt{Id: v.ID, Status: api.VerifyStatus200JSONResponseBodyDataLatestAttemptStatus(st),
			CompletedAt: jsTimestampPtr(v.CompletedAt), FailureCode: v.FailureCode, HandoffClaimed: claimed, RetryAllowed: false}
	}
	return out, nil
}

// VerifyDetails is GET /v1/verify/session/{id}/details.
func (s *Server) VerifyDetails(ctx context.Context, req api.VerifyDetailsRequestObject) (api.VerifyDetailsResponseObject, error) {
	if !ValidSessionID(req.Id) {
		return fail[api.VerifyDetailsdefaultJSONResponse](ErrInvalidSessionID), nil
	}
	det, err := s.store.ReadVerifyDetails(ctx, req.Id)
	if err != nil {
		return verifyFail[api.VerifyDetailsdefaultJSONResponse](err)
	}
	o := det.Organization
	out := api.VerifyDetails200JSONResponse{}
	d := &out.Data
	// The organization part, as details and privacy context both show it.
	d.OrganizationId, d.OrganizationName, d.OrganizationOwnerIdCheckCompleted = o.ID, o.Name, o.OwnerIDCheckCompleted
	d.OrganizationVerifiedApexDomains, d.OrganizationLogo = o.VerifiedApexDomains, o.Logo
	if o.BusinessType != nil {
		t := api.VerifyDetails200JSONResponseBodyDataOrganizationBusinessType(*o.BusinessType)
		d.OrganizationBusinessType = &t
	}
	d.OrganizationBusinessName, d.OrganizationBusinessJurisdiction = o.BusinessName, o.BusinessJurisdiction
	d.OrganizationBusinessRegistrationNumber = o.BusinessRegistrationNumber
	d.OrganizationPrivacyPolicyUrl, d.OrganizationTermsOfServiceUrl = o.PrivacyPolicyURL, o.TermsOfServiceURL
	d.OrganizationWebsite, d.OrganizationDescription = o.Website, o.Description
	d.RpFallback = api.VerifyRpFallback{AppealUrl: o.AppealURL, ComplaintsUrl: o.ComplaintsURL,
		FallbackIdvUrl: o.FallbackIDVURL, SupportEmail: o.SupportEmail}
	d.SessionId, d.IsAgeOnly, d.AgeThreshold = det.Session.ID, det.Session.IsAgeOnly, det.AgeThreshold
	d.ShareFields = make(map[string]api.VerifyShareField, len(det.ShareFields))
	for k, f := range det.ShareFields {
		d.ShareFields[k] = api.VerifyShareField{Required: f.Required, Reason: f.Reason, Source: api.VerifyShareFieldSource(f.Source)}
	}
	return out, nil
}

// VerifyPrivacyContext is GET /v1/verify/session/{id}/privacy-context.
func (s *Server) VerifyPrivacyContext(ctx context.Context, req api.VerifyPrivacyContextRequestObject) (api.VerifyPrivacyContextResponseObject, error) {
	if !ValidSessionID(req.Id) {
		return fail[api.VerifyPrivacyContextdefaultJSONResponse](ErrInvalidSessionID), nil
	}
	pc, err := s.store.ReadPrivacyContext(ctx, req.Id)
	if err != nil {
		return verifyFail[api.VerifyPrivacyContextdefaultJSONResponse](err)
	}
	o := pc.Organization
	out := api.VerifyPrivacyContext200JSONResponse{}
	d := &out.Data
	// The organization part, as details and privacy context both show it.
	d.OrganizationId, d.OrganizationName, d.OrganizationOwnerIdCheckCompleted = o.ID, o.Name, o.OwnerIDCheckCompleted
	d.OrganizationVerifiedApexDomains, d.OrganizationLogo = o.VerifiedApexDomains, o.Logo
	if o.BusinessType != nil {
		t := api.VerifyPrivacyContext200JSONResponseBodyDataOrganizationBusinessType(*o.BusinessType)
		d.OrganizationBusinessType = &t
	}
	d.OrganizationBusinessName, d.OrganizationBusinessJurisdiction = o.BusinessName, o.BusinessJurisdiction
	d.OrganizationBusinessRegistrationNumber = o.BusinessRegistrationNumber
	d.OrganizationPrivacyPolicyUrl, d.OrganizationTermsOfServiceUrl = o.PrivacyPolicyURL, o.TermsOfServiceURL
	d.OrganizationWebsite, d.OrganizationDescription = o.Website, o.Description
	d.RpFallback = api.VerifyRpFallback{AppealUrl: o.AppealURL, ComplaintsUrl: o.ComplaintsURL,
		FallbackIdvUrl: o.FallbackIDVURL, SupportEmail: o.SupportEmail}
	v := pc.Session
	d.SessionId, d.Status, d.IsTerminal = v.ID, api.VerifySessionStatusValue(v.Status), !v.Active()
	d.HasWithdrawnConsent = v.CancelTokenConsumedAt != nil
	d.ResultWebhookDeliveries = api.VerifyResultDeliveries{TotalCount: pc.ResultDeliveries,
		SucceededCount: pc.ResultDelivered, UndeliveredCount: pc.Undelivered}
	return out, nil
}

// VerifyRedirectPermitted is GET /v1/verify/session/{id}/redirect-permitted.
func (s *Server) VerifyRedirectPermitted(ctx context.Context, req api.VerifyRedirectPermittedRequestObject) (api.VerifyRedirectPermittedResponseObject, error) {
	if !ValidSessionID(req.Id) {
		return fail[api.VerifyRedirectPermitteddefaultJSONResponse](ErrInvalidSessionID), nil
	}
	ok, url, err := s.store.RedirectPermitted(ctx, req.Id, s.sessions.Production)
	if err != nil {
		return verifyFail[api.VerifyRedirectPermitteddefaultJSONResponse](err)
	}
	out := api.VerifyRedirectPermitted200JSONResponse{}
	out.Data.Permitted, out.Data.RedirectUrl = ok, url
	return out, nil
}

// cancelTokenPattern is the cancel token's rule, as the schema's.
var cancelTokenPattern = regexp.MustCompile(`^[a-z0-9]{48}$`)

// VerifyCancel is POST /v1/verify/session/{id}/cancel.
func (s *Server) VerifyCancel(ctx context.Context, req api.VerifyCancelRequestObject) (api.VerifyCancelResponseObject, error) {
	if !ValidSessionID(req.Id) {
		return fail[api.VerifyCanceldefaultJSONResponse](ErrInvalidSessionID), nil
	}
	if req.Body == nil || !cancelTokenPattern.MatchString(req.Body.CancelToken) {
		return fail[api.VerifyCanceldefaultJSONResponse](ErrVerifyInvalidRequest), nil
	}
	if err := s.store.PublicCancel(ctx, req.Id, req.Body.CancelToken); err != nil {
		return verifyFail[api.VerifyCanceldefaultJSONResponse](err)
	}
	return api.VerifyCancel204Response{}, nil
}

// IsWebSocketUpgrade reports whether r asks for a WebSocket (RFC 6455
// §4.1: Upgrade names websocket, case-insensitively, among its tokens).
func IsWebSocketUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Upgrade") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "websocket") {
				return true
			}
		}
	}
	return false
}

// VerifySocketRoute is the socket's route as echo names it.
const VerifySocketRoute = "/v1/verify/session/:id"

// SocketHandover hands WebSocket upgrades of the verify socket's route to
// s.VerifySocketHandler before anything else sees them (the contract validator
// records answers, which a hijacked connection cannot give it); a request
// that is not an upgrade, or any request while no socket is wired, goes on
// to VerifySocket below (426).
func (s *Server) SocketHandover() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if s.VerifySocketHandler == nil || c.Path() != VerifySocketRoute || c.Request().Method != http.MethodGet || !IsWebSocketUpgrade(c.Request()) {
				return next(c)
			}
			s.VerifySocketHandler.ServeHTTP(c.Response(), c.Request())
			return nil
		}
	}
}

// VerifySocket is GET /v1/verify/session/{id} when it is not a WebSocket
// upgrade taken by SocketHandover: 426 WEBSOCKET_REQUIRED (a malformed id
// is refused before, with 400).
func (s *Server) VerifySocket(ctx context.Context, req api.VerifySocketRequestObject) (api.VerifySocketResponseObject, error) {
	if !ValidSessionID(req.Id) {
		return fail[api.VerifySocketdefaultJSONResponse](ErrInvalidSessionID), nil
	}
	return fail[api.VerifySocketdefaultJSONResponse](ErrWebSocketRequired), nil
}

// VerifyAttestChallenge is GET /v1/verify/attest/challenge (its rate limit
// is the server's, per client address).
func (s *Server) VerifyAttestChallenge(ctx context.Context, _ api.VerifyAttestChallengeRequestObject) (api.VerifyAttestChallengeResponseObject, error) {
	ch, exp, err := s.store.NewAttestChallenge(ctx)
	if err != nil {
		return verifyFail[api.VerifyAttestChallengedefaultJSONResponse](err)
	}
	out := api.VerifyAttestChallenge200JSONResponse{}
	out.Data.Challenge, out.Data.ExpiresAt = ch, jsTimestamp(exp)
	return out, nil
}

// AttestKey is a verified App Attest key as an AttestVerifier answers it:
// the credential id, its COSE public key and Apple's receipt.
type AttestKey struct {
	KeyID, PublicKeyCOSE, Receipt []byte
}

// AttestVerifier verifies an App Attest attestation object (Apple's
// "Validating apps that connect to your server") for a key id and the
// client data hash, answering the key it attests.
type AttestVerifier interface {
	VerifyAttestation(keyID, attestation []byte, clientDataHash [32]byte) (AttestKey, error)
}

// AttestVerifierFunc adapts a function (say, around verify/appattest's
// Config.VerifyAttestation) to AttestVerifier.
type AttestVerifierFunc func(keyID, attestation []byte, clientDataHash [32]byte) (AttestKey, error)

// VerifyAttestation calls f.
func (f AttestVerifierFunc) VerifyAttestation(keyID, attestation []byte, cdh [32]byte) (AttestKey, error) {
	return f(keyID, attestation, cdh)
}

// errNoAttestVerifier: no verifier is configured, so no attestation passes.
var errNoAttestVerifier = errors.New("handlers: no App Attest verifier configured")

// WithAttestVerifier sets how registrations' attestations are verified;
// without one every registration is refused (401).
func WithAttestVerifier(v AttestVerifier) Option {
	return func(s *Server) { s.attest = v }
}

// challengePattern is a registration challenge's rule, as the schema's.
var challengePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// lenientBase64 decodes standard or URL-safe base64, padded or not (upstream
// decodes key ids and challenges so).
func lenientBase64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.NewReplacer("-", "+", "_", "/").Replace(s), "=")
	return base64.RawStdEncoding.DecodeString(s)
}

// VerifyAttestRegister is POST /v1/verify/attest/register.
func (s *Server) VerifyAttestRegister(ctx context.Context, req api.VerifyAttestRegisterRequestObject) (api.VerifyAttestRegisterResponseObject, error) {
	b := req.Body
	if b == nil || len(b.KeyId) < 1 || len(b.KeyId) > 512 || len(b.Attestation) < 1 || len(b.Attestation) > 87388 ||
		!challengePattern.MatchString(b.Challenge) {
		return fail[api.VerifyAttestRegisterdefaultJSONResponse](ErrVerifyInvalidRequest), nil
	}
	// Spent first, whatever follows: a challenge is good for one try.
	if err := s.store.ConsumeAttestChallenge(ctx, b.Challenge); err != nil {
		return verifyFail[api.VerifyAttestRegisterdefaultJSONResponse](err)
	}
	attestation, err1 := base64.StdEncoding.DecodeString(b.Attestation)
	challenge, err2 := lenientBase64(b.Challenge)
	keyID, err3 := lenientBase64(b.KeyId)
	if err1 != nil || err2 != nil || err3 != nil || len(challenge) != tokens.ChallengeBytes {
		return fail[api.VerifyAttestRegisterdefaultJSONResponse](ErrVerifyInvalidRequest), nil
	}
	verifier := s.attest
	if verifier == nil {
		verifier = AttestVerifierFunc(func([]byte, []byte, [32]byte) (AttestKey, error) { return AttestKey{}, errNoAttestVerifier })
	}
	key, err := verifier.VerifyAttestation(keyID, attestation, sha256.Sum256(challenge))
	if err != nil {
		return fail[api.VerifyAttestRegisterdefaultJSONResponse](ErrAttestInvalid), nil
	}
	k := store.AttestKey{KeyID: b.KeyId, Provider: store.ProviderAppleAppAttest,
		PublicKeyCOSE: base64.StdEncoding.EncodeToString(key.PublicKeyCOSE)}
	if len(key.Receipt) > 0 {
		r := base64.StdEncoding.EncodeToString(key.Receipt)
		k.Receipt = &r
	}
	if _, err := s.store.RegisterAttestKey(ctx, k); err != nil {
		return verifyFail[api.VerifyAttestRegisterdefaultJSONResponse](err)
	}
	out := api.VerifyAttestRegister200JSONResponse{}
	out.Data.Ok = true
	return out, nil
}
