package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// user is one person who can sign in, as the users file lists them.
type user struct {
	Username      string `json:"username"`
	Password      string `json:"password"`
	Subject       string `json:"subject"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"emailVerified"`
	Name          string `json:"name"`
}

// authRequest is one sign-in under way (authorization code flow), from
// /authorize to the code's exchange at /oauth/token.
type authRequest struct {
	id            string
	clientID      string
	redirectURI   string
	state         string
	nonce         string
	scopes        []string
	responseType  oidc.ResponseType
	responseMode  oidc.ResponseMode
	codeChallenge *oidc.CodeChallenge
	audience      []string
	created       time.Time

	// Set when the person has signed in.
	subject   string
	sessionID string
	authTime  time.Time
	done      bool
}

var _ op.AuthRequest = (*authRequest)(nil)

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return amr(a.done) }
func (a *authRequest) GetAudience() []string                 { return a.audience }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.codeChallenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.done }

func amr(signedIn bool) []string {
	if signedIn {
		return []string{"pwd"}
	}
	return nil
}

// refreshToken carries a provider session on: the tokens it yields keep
// the session's sid.
type refreshToken struct {
	token     string
	clientID  string
	subject   string
	sessionID string
	scopes    []string
	audience  []string
	authTime  time.Time
	expires   time.Time
	accessID  string
}

type refreshRequest struct{ *refreshToken }

var _ op.RefreshTokenRequest = refreshRequest{}

func (r refreshRequest) GetAMR() []string                 { return amr(true) }
func (r refreshRequest) GetAudience() []string            { return r.audience }
func (r refreshRequest) GetAuthTime() time.Time           { return r.authTime }
func (r refreshRequest) GetClientID() string              { return r.clientID }
func (r refreshRequest) GetScopes() []string              { return r.scopes }
func (r refreshRequest) GetSubject() string               { return r.subject }
func (r refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }

type accessToken struct {
	id       string
	clientID string
	subject  string
	scopes   []string
	audience []string
	expires  time.Time
}

// storage is everything the provider knows, in memory (the keys
// excepted, see keyring). It implements op.Storage.
type storage struct {
	client   *client
	audience string
	tokenTTL time.Duration
	keys     *keyring

	mu       sync.Mutex
	users    map[string]*user // by username
	requests map[string]*authRequest
	codes    map[string]string // code → request id
	access   map[string]*accessToken
	refresh  map[string]*refreshToken
}

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.CanGetPrivateClaimsFromRequest = (*storage)(nil)
)

func newStorage(c *client, audience string, tokenTTL time.Duration, users []user, keys *keyring) *storage {
	s := &storage{
		client: c, audience: audience, tokenTTL: tokenTTL, keys: keys,
		users:    map[string]*user{},
		requests: map[string]*authRequest{},
		codes:    map[string]string{},
		access:   map[string]*accessToken{},
		refresh:  map[string]*refreshToken{},
	}
	for i := range users {
		s.users[users[i].Username] = &users[i]
	}
	return s
}

func randomID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

var errNotFound = errors.New("not found")

// signIn checks a person's password for the sign-in request id and, when
// it matches, completes the request with a new provider session.
func (s *storage) signIn(id, username, password string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.requests[id]
	if !ok || req.done {
		return errors.New("this sign-in request is unknown or already complete; start again from the application")
	}
	u, ok := s.users[username]
	// Compared in constant time all the same: habits carry over.
	if !ok || subtle.ConstantTimeCompare([]byte(u.Password), []byte(password)) != 1 {
		return errors.New("wrong username or password")
	}
	req.subject, req.sessionID, req.authTime, req.done = u.Subject, randomID(), time.Now(), true
	return nil
}

func (s *storage) userBySubject(subject string) *user {
	for _, u := range s.users {
		if u.Subject == subject {
			return u
		}
	}
	return nil
}

// CreateAuthRequest stores a sign-in request the provider accepted.
func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if slices.Contains(r.Prompt, oidc.PromptNone) {
		// Nobody is signed in at this provider without its login page.
		return nil, oidc.ErrLoginRequired()
	}
	req := &authRequest{
		id: randomID(), clientID: r.ClientID, redirectURI: r.RedirectURI, state: r.State, nonce: r.Nonce,
		scopes: r.Scopes, responseType: r.ResponseType, responseMode: r.ResponseMode,
		audience: []string{s.audience}, created: time.Now(),
	}
	if r.CodeChallenge != "" {
		req.codeChallenge = &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetExpired()
	s.requests[req.id] = req
	return req, nil
}

// signInLifetime is how long a sign-in may take, from /authorize to the
// code's exchange.
const signInLifetime = 10 * time.Minute

// forgetExpired drops abandoned sign-ins and expired tokens, so that
// whoever can reach the provider cannot make it hold them for ever.
// Called with mu held.
func (s *storage) forgetExpired() {
	now := time.Now()
	for id, req := range s.requests {
		if now.Sub(req.created) > signInLifetime {
			delete(s.requests, id)
		}
	}
	for code, id := range s.codes {
		if _, ok := s.requests[id]; !ok {
			delete(s.codes, code)
		}
	}
	for id, t := range s.access {
		if now.After(t.expires) {
			delete(s.access, id)
		}
	}
	for id, t := range s.refresh {
		if now.After(t.expires) {
			delete(s.refresh, id)
		}
	}
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req, ok := s.requests[id]; ok {
		return req, nil
	}
	return nil, errNotFound
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("code unknown, used or expired")
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest runs once the code is exchanged: the code is spent.
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *storage) newAccessToken(r op.TokenRequest, clientID string) *accessToken {
	t := &accessToken{
		id: randomID(), clientID: clientID, subject: r.GetSubject(), scopes: r.GetScopes(),
		audience: r.GetAudience(), expires: time.Now().Add(s.tokenTTL),
	}
	s.access[t.id] = t
	return t
}

func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	clientID := ""
	if a, ok := r.(*authRequest); ok {
		clientID = a.clientID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.newAccessToken(r, clientID)
	return t.id, t.expires, nil
}

// CreateAccessAndRefreshTokens issues tokens for a code exchanged (no
// current refresh token) or a refresh token used, which is then spent.
func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, r op.TokenRequest, current string) (string, string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var next refreshToken
	switch req := r.(type) {
	case *authRequest:
		next = refreshToken{clientID: req.clientID, subject: req.subject, sessionID: req.sessionID, scopes: req.scopes, audience: req.audience, authTime: req.authTime}
	case refreshRequest:
		old, ok := s.refresh[current]
		if !ok {
			return "", "", time.Time{}, op.ErrInvalidRefreshToken
		}
		delete(s.refresh, current)
		delete(s.access, old.accessID)
		next = *old
		next.scopes = req.scopes
	default:
		return "", "", time.Time{}, oidc.ErrUnsupportedGrantType()
	}
	at := s.newAccessToken(r, next.clientID)
	next.token, next.accessID, next.expires = randomID(), at.id, time.Now().Add(12*time.Hour)
	s.refresh[next.token] = &next
	return at.id, next.token, at.expires, nil
}

func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rt, ok := s.refresh[token]
	if !ok || time.Now().After(rt.expires) {
		return nil, op.ErrInvalidRefreshToken
	}
	cp := *rt
	return refreshRequest{&cp}, nil
}

func (s *storage) TerminateSession(_ context.Context, subject, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.access {
		if t.subject == subject && t.clientID == clientID {
			delete(s.access, id)
		}
	}
	for id, t := range s.refresh {
		if t.subject == subject && t.clientID == clientID {
			delete(s.refresh, id)
		}
	}
	return nil
}

func (s *storage) RevokeToken(_ context.Context, tokenOrID, _, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.access[tokenOrID]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.access, tokenOrID)
		return nil
	}
	if t, ok := s.refresh[tokenOrID]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.refresh, tokenOrID)
		delete(s.access, t.accessID)
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(_ context.Context, clientID, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.refresh[token]; ok && t.clientID == clientID {
		return t.subject, t.token, nil
	}
	return "", "", op.ErrInvalidRefreshToken
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return s.keys.signer(), nil }

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) { return s.keys.published(), nil }

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	if id != s.client.id {
		return nil, errNotFound
	}
	return s.client, nil
}

// AuthorizeClientIDSecret: the one client is public (PKCE, no secret).
func (s *storage) AuthorizeClientIDSecret(context.Context, string, string) error {
	return errors.New("no confidential clients")
}

func (s *storage) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, subject, _ string, scopes []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userBySubject(subject)
	if u == nil {
		return errNotFound
	}
	info.Subject = u.Subject
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeEmail:
			info.Email, info.EmailVerified = u.Email, oidc.Bool(u.EmailVerified)
		case oidc.ScopeProfile:
			info.Name, info.PreferredUsername = u.Name, u.Username
		}
	}
	return nil
}

func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	s.mu.Lock()
	t, ok := s.access[tokenID]
	s.mu.Unlock()
	if !ok || t.subject != subject || time.Now().After(t.expires) {
		return errors.New("token unknown or expired")
	}
	return s.SetUserinfoFromScopes(ctx, info, subject, t.clientID, t.scopes)
}

func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	t, ok := s.access[tokenID]
	s.mu.Unlock()
	if !ok || t.subject != subject || time.Now().After(t.expires) || !slices.Contains(t.audience, clientID) {
		return errors.New("token unknown, expired or not for this client")
	}
	info := new(oidc.UserInfo)
	if err := s.SetUserinfoFromScopes(ctx, info, subject, clientID, t.scopes); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Scope, resp.ClientID, resp.Expiration = t.scopes, t.clientID, oidc.FromTime(t.expires)
	return nil
}

// GetPrivateClaimsFromRequest is what the API reads from an access token
// beyond the registered claims: the provider session (sid) and, by scope,
// email, email_verified and name.
func (s *storage) GetPrivateClaimsFromRequest(_ context.Context, r op.TokenRequest, _ []string) (map[string]any, error) {
	var sid string
	switch req := r.(type) {
	case *authRequest:
		sid = req.sessionID
	case refreshRequest:
		sid = req.sessionID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userBySubject(r.GetSubject())
	if u == nil {
		return nil, errNotFound
	}
	claims := map[string]any{}
	if sid != "" {
		claims["sid"] = sid
	}
	for _, scope := range r.GetScopes() {
		switch scope {
		case oidc.ScopeEmail:
			claims["email"], claims["email_verified"] = u.Email, u.EmailVerified
		case oidc.ScopeProfile:
			claims["name"], claims["preferred_username"] = u.Name, u.Username
		}
	}
	return claims, nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// JWT profile grants (service accounts) are not offered.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT profile grants are not offered")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("JWT profile grants are not offered")
}

func (s *storage) Health(context.Context) error { return nil }
