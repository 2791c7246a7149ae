package scenario

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"

	api "github.com/kayle-id/orgs-api/gen/api"
)

// whWalk is what the webhooks walk leaves for the frozen one.
type whWalk struct {
	key, endpointID, eventID string
}

// publicJWK is a fresh RSA-2048 public key as a JWK.
func publicJWK() (string, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	b64 := base64.RawURLEncoding.EncodeToString
	return fmt.Sprintf(`{"kty":"RSA","n":"%s","e":"%s"}`, b64(k.N.Bytes()), b64(big.NewInt(int64(k.E)).Bytes())), nil
}

// webhooks walks the 19 webhook and event operations: endpoints, their
// secret and keys, a cancelled session's event and delivery, retry and
// replay, with a refusal of each kind reachable from outside.
func (r *runner) webhooks(admin, member, outsider user) whWalk {
	ctx, c := r.ctx, r.c
	const ct = "application/json"
	var out whWalk
	ck, err := c.CreateApiKeyWithBodyWithResponse(ctx, ct, jsonBody(`{"name":"Webhooks","permissions":["webhooks:write","sessions:write"]}`), r.bearer(admin.token))
	r.expect("createApiKey", ck, err, 200)
	if ck == nil || ck.JSON200 == nil {
		return out
	}
	key := ck.JSON200.Data.Key
	out.key = key
	jwk, err := publicJWK()
	if err != nil {
		r.err = append(r.err, "jwk: "+err.Error())
		return out
	}
	unknown := "whe_" + strings.Repeat("0", 32)

	cr, err := c.CreateWebhookEndpointWithBodyWithResponse(ctx, ct, jsonBody(`{"url":"http://hooks.example.com/"}`), r.bearer(key))
	r.expect("createWebhookEndpoint", cr, err, 400)
	cr, err = c.CreateWebhookEndpointWithBodyWithResponse(ctx, ct, jsonBody(`{"url":"https://hooks.example.com/kayle","labels":["prod"]}`), r.bearer(key))
	r.expect("createWebhookEndpoint", cr, err, 200)
	if cr == nil || cr.JSON200 == nil {
		return out
	}
	ep := cr.JSON200.Data.Endpoint.Id
	out.endpointID = ep

	one := 1
	le, err := c.ListWebhookEndpointsWithResponse(ctx, &api.ListWebhookEndpointsParams{Limit: &one}, r.bearer(member.token))
	r.expect("listWebhookEndpoints", le, err, 200)
	le, err = c.ListWebhookEndpointsWithResponse(ctx, &api.ListWebhookEndpointsParams{}, r.bearer(outsider.token))
	r.expect("listWebhookEndpoints", le, err, 403)
	g, err := c.GetWebhookEndpointWithResponse(ctx, ep, r.bearer(key))
	r.expect("getWebhookEndpoint", g, err, 200)
	g, err = c.GetWebhookEndpointWithResponse(ctx, unknown, r.bearer(key))
	r.expect("getWebhookEndpoint", g, err, 404)
	u, err := c.UpdateWebhookEndpointWithBodyWithResponse(ctx, ep, ct, jsonBody(`{"name":"Primary"}`), r.bearer(admin.token))
	r.expect("updateWebhookEndpoint", u, err, 200)
	u, err = c.UpdateWebhookEndpointWithBodyWithResponse(ctx, ep, ct, jsonBody(`{}`), r.bearer(key))
	r.expect("updateWebhookEndpoint", u, err, 400)
	u, err = c.UpdateWebhookEndpointWithBodyWithResponse(ctx, unknown, ct, jsonBody(`{"enabled":true}`), r.bearer(key))
	r.expect("updateWebhookEndpoint", u, err, 404)
	rv, err := c.RevealWebhookSigningSecretWithResponse(ctx, ep, r.bearer(key))
	r.expect("revealWebhookSigningSecret", rv, err, 200)
	rv, err = c.RevealWebhookSigningSecretWithResponse(ctx, unknown, r.bearer(key))
	r.expect("revealWebhookSigningSecret", rv, err, 404)
	ro, err := c.RotateWebhookSigningSecretWithResponse(ctx, ep, r.bearer(key))
	r.expect("rotateWebhookSigningSecret", ro, err, 200)
	ro, err = c.RotateWebhookSigningSecretWithResponse(ctx, unknown, r.bearer(key))
	r.expect("rotateWebhookSigningSecret", ro, err, 404)

	keyBody := func(j string) *strings.Reader {
		return jsonBody(`{"key_id":"k1","algorithm":"RSA-OAEP-256","key_type":"RSA","jwk":` + j + `}`)
	}
	kc, err := c.CreateWebhookKeyWithBodyWithResponse(ctx, unknown, ct, keyBody(jwk), r.bearer(key))
	r.expect("createWebhookKey", kc, err, 404)
	kc, err = c.CreateWebhookKeyWithBodyWithResponse(ctx, ep, ct, keyBody(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`), r.bearer(key))
	r.expect("createWebhookKey", kc, err, 400)
	kc, err = c.CreateWebhookKeyWithBodyWithResponse(ctx, ep, ct, keyBody(jwk), r.bearer(key))
	r.expect("createWebhookKey", kc, err, 200)
	if kc == nil || kc.JSON200 == nil {
		return out
	}
	kid := kc.JSON200.Data.Id
	lk, err := c.ListWebhookKeysWithResponse(ctx, ep, &api.ListWebhookKeysParams{}, r.bearer(member.token))
	r.expect("listWebhookKeys", lk, err, 200)
	dk, err := c.DeactivateWebhookKeyWithResponse(ctx, kid, r.bearer(key))
	r.expect("deactivateWebhookKey", dk, err, 200)
	dk, err = c.DeactivateWebhookKeyWithResponse(ctx, "whk_"+strings.Repeat("0", 32), r.bearer(key))
	r.expect("deactivateWebhookKey", dk, err, 404)
	rk, err := c.ReactivateWebhookKeyWithResponse(ctx, kid, r.bearer(key))
	r.expect("reactivateWebhookKey", rk, err, 200)
	rk, err = c.ReactivateWebhookKeyWithResponse(ctx, "whk_"+strings.Repeat("0", 32), r.bearer(key))
	r.expect("reactivateWebhookKey", rk, err, 404)

	// A cancelled session makes an event with a delivery to the endpoint.
	s, err := c.CreateSessionWithBodyWithResponse(ctx, ct, jsonBody(`{}`), r.bearer(key))
	r.expect("createSession", s, err, 200)
	if s == nil || s.JSON200 == nil {
		return out
	}
	cs, err := c.CancelSessionWithResponse(ctx, s.JSON200.Data.Id, r.bearer(key))
	r.expect("cancelSession", cs, err, 204)
	evType := api.ListWebhookEventsParamsTypeVerificationSessionCancelled
	lv, err := c.ListWebhookEventsWithResponse(ctx, &api.ListWebhookEventsParams{Type: &evType, Limit: &one}, r.bearer(key))
	r.expect("listWebhookEvents", lv, err, 200)
	if lv == nil || lv.JSON200 == nil || len(lv.JSON200.Data) == 0 || len(lv.JSON200.Data[0].Deliveries) == 0 {
		r.err = append(r.err, "listWebhookEvents: no event with a delivery after a cancel")
		return out
	}
	ev := lv.JSON200.Data[0]
	out.eventID = ev.Id
	la, err := c.ListEventsWithResponse(ctx, &api.ListEventsParams{}, r.bearer(member.token))
	r.expect("listEvents", la, err, 200)
	unknownEvent := "evt_" + strings.Repeat("0", 64)
	for _, id := range []string{ev.Id, unknownEvent} {
		want := 200
		if id == unknownEvent {
			want = 404
		}
		ge, err := c.GetWebhookEventWithResponse(ctx, id, r.bearer(key))
		r.expect("getWebhookEvent", ge, err, want)
		ga, err := c.GetEventWithResponse(ctx, id, r.bearer(key))
		r.expect("getEvent", ga, err, want)
	}
	ld, err := c.ListWebhookDeliveriesWithResponse(ctx, &api.ListWebhookDeliveriesParams{EventId: &ev.Id}, r.bearer(key))
	r.expect("listWebhookDeliveries", ld, err, 200)
	// The server may be sending it right now: then retry and replay are
	// the 409 of a delivery in progress, as documented.
	busy := func(a answer, ok int) int {
		if a != nil && a.StatusCode() == 409 {
			return 409
		}
		return ok
	}
	rt, err := c.RetryWebhookDeliveryWithResponse(ctx, ev.Deliveries[0].Id, r.bearer(key))
	r.expect("retryWebhookDelivery", rt, err, busy(rt, 200))
	rt, err = c.RetryWebhookDeliveryWithResponse(ctx, "whd_"+strings.Repeat("0", 64), r.bearer(key))
	r.expect("retryWebhookDelivery", rt, err, 404)
	rp, err := c.ReplayWebhookEventWithResponse(ctx, ev.Id, r.bearer(key))
	r.expect("replayWebhookEvent", rp, err, busy(rp, 202))
	rp, err = c.ReplayWebhookEventWithResponse(ctx, unknownEvent, r.bearer(key))
	r.expect("replayWebhookEvent", rp, err, 404)
	ra, err := c.ReplayEventWithResponse(ctx, ev.Id, r.bearer(admin.token))
	r.expect("replayEvent", ra, err, busy(ra, 202))
	ra, err = c.ReplayEventWithResponse(ctx, unknownEvent, r.bearer(key))
	r.expect("replayEvent", ra, err, 404)

	// A second endpoint, deleted; deleting it again is a 404.
	cr, err = c.CreateWebhookEndpointWithBodyWithResponse(ctx, ct, jsonBody(`{"url":"https://other.example.com/","enabled":false}`), r.bearer(key))
	r.expect("createWebhookEndpoint", cr, err, 200)
	if cr != nil && cr.JSON200 != nil {
		de, err := c.DeleteWebhookEndpointWithResponse(ctx, cr.JSON200.Data.Endpoint.Id, r.bearer(key))
		r.expect("deleteWebhookEndpoint", de, err, 200)
		de, err = c.DeleteWebhookEndpointWithResponse(ctx, cr.JSON200.Data.Endpoint.Id, r.bearer(key))
		r.expect("deleteWebhookEndpoint", de, err, 404)
	}
	return out
}

// webhooksFrozen: once the organization is scheduled for deletion its keys
// answer 410 on every method, and a dashboard caller's writes do too, on
// /v1/events as on /v1/webhooks.
func (r *runner) webhooksFrozen(admin user, w whWalk) {
	ctx, c := r.ctx, r.c
	if w.key == "" || w.endpointID == "" {
		return
	}
	l, err := c.ListWebhookEndpointsWithResponse(ctx, &api.ListWebhookEndpointsParams{}, r.bearer(w.key))
	r.expect("listWebhookEndpoints", l, err, 410)
	rv, err := c.RevealWebhookSigningSecretWithResponse(ctx, w.endpointID, r.bearer(admin.token))
	r.expect("revealWebhookSigningSecret", rv, err, 410)
	if w.eventID != "" {
		ra, err := c.ReplayEventWithResponse(ctx, w.eventID, r.bearer(admin.token))
		r.expect("replayEvent", ra, err, 410)
	}
}
