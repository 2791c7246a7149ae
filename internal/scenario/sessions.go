package scenario

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	api "github.com/kayle-id/orgs-api/gen/api"
)

// Onboarder completes what the onboarding gate of POST /v1/sessions reads
// and no operation of this walk sets: the organization's public and
// compliance profile (metadata) and the owner check. A stand-in until the
// organization update takes metadata and the operator command records the
// owner check.
type Onboarder interface {
	Onboard(ctx context.Context, orgID uuid.UUID) error
}

// onboardingMetadata is a profile the gate accepts.
const onboardingMetadata = `{"website":"https://acme.example","description":"Acme","privacyPolicyUrl":"https://acme.example/privacy",` +
	`"termsOfServiceUrl":"https://acme.example/terms","legalControllerName":"Acme Ltd","controllerJurisdiction":"UK",` +
	`"supportEmail":"support@acme.example","article6Basis":"consent","article9Condition":"explicit_consent",` +
	`"usesKayleForConsequentialDecisions":false}`

// Onboard writes the metadata and the owner check directly ($1 is both
// databases' placeholder).
func (a StoreAdmin) Onboard(ctx context.Context, orgID uuid.UUID) error {
	_, err := a.Store.DB().ExecContext(ctx, `UPDATE organizations SET metadata = $1, owner_id_checked_at = $2 WHERE id = $3`,
		onboardingMetadata, time.Now().UTC(), orgID.String())
	return err
}

// rpWalk is what the sessions walk leaves for the frozen one.
type rpWalk struct {
	key       string
	sessionID string
}

// sessions walks the relying-party API (API keys on /v1) through every
// status reachable from outside before a deletion is scheduled. The
// organization has a logo, business details and the terms by now.
func (r *runner) sessions(owner, admin, member, outsider user, orgID uuid.UUID) rpWalk {
	ctx, c := r.ctx, r.c
	const ct = "application/json"
	var out rpWalk
	ck, err := c.CreateApiKeyWithBodyWithResponse(ctx, ct, jsonBody(`{"name":"Relying party","permissions":["sessions:write","analytics:read"]}`), r.bearer(admin.token))
	r.expect("createApiKey", ck, err, 200)
	if ck == nil || ck.JSON200 == nil {
		return out
	}
	out.key = ck.JSON200.Data.Key
	key := out.key

	create := func(tok, body string, want int) *api.CreateSessionResponse {
		x, err := c.CreateSessionWithBodyWithResponse(ctx, ct, jsonBody(body), r.bearer(tok))
		r.expect("createSession", x, err, want)
		return x
	}
	create("", `{}`, 401)
	create(member.token, `{}`, 403)
	create(key, `{}`, 400) // the onboarding gate: no profile, no owner check yet
	if o, ok := r.o.Admin.(Onboarder); ok {
		bd, err := c.UpdateBusinessDetailsWithBodyWithResponse(ctx, ct, jsonBody(`{"business_registration_number":"12345678"}`), r.bearer(owner.token))
		r.expect("updateBusinessDetails", bd, err, 200)
		if err := o.Onboard(ctx, orgID); err != nil {
			r.err = append(r.err, "onboard: "+err.Error())
		}
	}
	create(key, `{"share_fields":{"family_name":{"required":true,"reason":"  "}}}`, 400)
	create(key, `{"redirect_url":"https://not-verified.example/done"}`, 400)
	s := create(key, `{"share_fields":{"date_of_birth":{"required":true,"reason":"Check age"}},"redirect_url":"http://localhost:3000/done"}`, 200)
	create(admin.token, ``, 200)
	if s == nil || s.JSON200 == nil {
		return out
	}
	out.sessionID = s.JSON200.Data.Id
	id := out.sessionID
	unknown := "vs_" + strings.Repeat("0", 64)

	list := func(tok string, p *api.ListSessionsParams, want int) {
		x, err := c.ListSessionsWithResponse(ctx, p, r.bearer(tok))
		r.expect("listSessions", x, err, want)
	}
	one := 1
	list("", &api.ListSessionsParams{}, 401)
	list(outsider.token, &api.ListSessionsParams{}, 403)
	list(key, &api.ListSessionsParams{Limit: &one}, 200)
	list(member.token, &api.ListSessionsParams{StartingAfter: &id}, 200)
	list(key, &api.ListSessionsParams{StartingAfter: &unknown}, 400)

	get := func(tok, id string, want int) {
		x, err := c.GetSessionWithResponse(ctx, id, r.bearer(tok))
		r.expect("getSession", x, err, want)
	}
	get("", id, 401)
	get(outsider.token, id, 403)
	get(key, unknown, 404)
	get(key, "vs_short", 400)
	get(member.token, id, 200)

	cancel := func(tok, id string, want int) {
		x, err := c.CancelSessionWithResponse(ctx, id, r.bearer(tok))
		r.expect("cancelSession", x, err, want)
	}
	cancel("", id, 401)
	cancel(member.token, id, 403)
	cancel(key, unknown, 404)
	cancel(key, id, 204)
	cancel(admin.token, id, 204) // already cancelled: still 204

	overview := func(tok string, want int) {
		x, err := c.GetSessionsOverviewWithResponse(ctx, r.bearer(tok))
		r.expect("getSessionsOverview", x, err, want)
	}
	overview("", 401)
	overview(outsider.token, 403)
	overview(key, 200)
	overview(member.token, 200)
	return out
}

// sessionsFrozen checks the relying-party API once the organization is
// scheduled for deletion: its keys answer 410 on every method.
func (r *runner) sessionsFrozen(admin user, w rpWalk) {
	ctx, c := r.ctx, r.c
	if w.key == "" {
		return
	}
	if w.sessionID == "" {
		w.sessionID = "vs_" + strings.Repeat("1", 64) // the key's 410 comes first
	}
	l, err := c.ListSessionsWithResponse(ctx, &api.ListSessionsParams{}, r.bearer(w.key))
	r.expect("listSessions", l, err, 410)
	cr, err := c.CreateSessionWithBodyWithResponse(ctx, "application/json", jsonBody(`{}`), r.bearer(w.key))
	r.expect("createSession", cr, err, 410)
	cr, err = c.CreateSessionWithBodyWithResponse(ctx, "application/json", jsonBody(`{}`), r.bearer(admin.token))
	r.expect("createSession", cr, err, 410)
	g, err := c.GetSessionWithResponse(ctx, w.sessionID, r.bearer(w.key))
	r.expect("getSession", g, err, 410)
	ca, err := c.CancelSessionWithResponse(ctx, w.sessionID, r.bearer(w.key))
	r.expect("cancelSession", ca, err, 410)
	o, err := c.GetSessionsOverviewWithResponse(ctx, r.bearer(w.key))
	r.expect("getSessionsOverview", o, err, 410)
}
