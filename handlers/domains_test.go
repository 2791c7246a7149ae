package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/handlers"
	"github.com/kayle-id/orgs-api/store"
)

// Handlers built without WithDNS answer a verification as they answer a
// resolver that cannot be reached: 503 with Retry-After, not a crash.
func TestVerifyWithoutResolver(t *testing.T) {
	withUser(t, "owner@example.com", func(t *testing.T, st *store.Store, u store.User, token string) {
		ctx := context.Background()
		p, err := st.Authenticate(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateOrganization(ctx, p.Actor(), store.NewOrganization{Name: "Acme", Slug: "acme"}); err != nil {
			t.Fatal(err)
		}
		if p, err = st.Authenticate(ctx, token); err != nil { // the session now selects it
			t.Fatal(err)
		}
		ctx = handlers.WithPrincipal(ctx, p)

		h := handlers.New(st, nil, nil)
		started, err := h.StartDnsChallenge(ctx, api.StartDnsChallengeRequestObject{Body: &api.StartDnsChallengeJSONRequestBody{ApexDomain: "acme.co"}})
		if err != nil {
			t.Fatal(err)
		}
		c, ok := started.(api.StartDnsChallenge200JSONResponse)
		if !ok {
			t.Fatalf("start: %#v", started)
		}
		verified, err := h.VerifyDnsChallenge(ctx, api.VerifyDnsChallengeRequestObject{Body: &api.VerifyDnsChallengeJSONRequestBody{ChallengeId: c.Data.ChallengeId}})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		if err := verified.VisitVerifyDnsChallengeResponse(w); err != nil {
			t.Fatal(err)
		}
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"DNS_LOOKUP_FAILED"`) || w.Header().Get("Retry-After") == "" {
			t.Fatalf("verify without a resolver: %d %v %s", w.Code, w.Header(), w.Body)
		}
	})
}
