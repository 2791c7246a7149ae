package server_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/store"
)

var (
	endpointIDPattern = regexp.MustCompile(`^whe_[a-z0-9]{32}$`)
	keyIDPattern      = regexp.MustCompile(`^whk_[a-z0-9]{32}$`)
	secretPattern     = regexp.MustCompile(`^whsec_[a-z0-9]{32}$`)
)

// testJWK is a public RSA-2048 JWK (one key for the package: generating
// one costs a good part of a second).
var testJWK = sync.OnceValue(func() string {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	return fmt.Sprintf(`{"kty":"RSA","n":"%s","e":"%s","use":"enc","kid":"ignored"}`,
		b64(k.N.Bytes()), b64(big.NewInt(int64(k.E)).Bytes()))
})

// wantWebhookError checks an error of the webhook area: status, code,
// message (when given), and a complete envelope with one of upstream's
// docs links.
func wantWebhookError(t *testing.T, r response, status int, code, message string) envelope {
	t.Helper()
	return wantErrorWithDocs(t, r, status, code, message, func(docs string) bool { return strings.HasPrefix(docs, "https://kayle.id/docs/") })
}

func (e *env) createEndpoint(t testing.TB, token, body string) api.CreatedWebhookEndpoint {
	t.Helper()
	a := e.call(t, "POST", "/v1/webhooks/endpoints", token, body)
	wantStatus(t, a, 200)
	var out struct {
		Data api.CreatedWebhookEndpoint `json:"data"`
	}
	a.decode(t, &out)
	return out.Data
}

func (e *env) createKey(t testing.TB, token, endpointID, keyID string) api.WebhookEncryptionKey {
	t.Helper()
	a := e.call(t, "POST", "/v1/webhooks/endpoints/"+endpointID+"/keys", token,
		`{"key_id":"`+keyID+`","algorithm":"RSA-OAEP-256","key_type":"RSA","jwk":`+testJWK()+`}`)
	wantStatus(t, a, 200)
	var out struct {
		Data api.WebhookEncryptionKey `json:"data"`
	}
	a.decode(t, &out)
	return out.Data
}

func revealed(t testing.TB, a answer) string {
	t.Helper()
	wantStatus(t, a, 200)
	var out struct {
		Data api.RevealedWebhookSigningSecret `json:"data"`
	}
	a.decode(t, &out)
	return out.Data.SigningSecret
}

func TestWebhookEndpointsHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "wh")
		other := e.rpOrg(t, "wh-other")

		c := e.createEndpoint(t, o.key, `{"url":"https://hooks.example.com/kayle","name":"  Primary  ","labels":[" prod ","Identity"],
			"subscribed_event_types":["verification.session.failed","verification.session.failed","verification.session.cancelled"]}`)
		ep := c.Endpoint
		if !endpointIDPattern.MatchString(ep.Id) || !secretPattern.MatchString(c.SigningSecret) || ep.OrganizationId != o.id.String() ||
			ep.Name == nil || *ep.Name != "Primary" || !slices.Equal(ep.Labels, []string{"prod", "Identity"}) || !ep.Enabled ||
			len(ep.SubscribedEventTypes) != 2 || ep.UndeliveredPayloadRetentionHours == nil || *ep.UndeliveredPayloadRetentionHours != 72 ||
			ep.DisabledAt != nil || !jsTime.MatchString(ep.CreatedAt) {
			t.Fatalf("created: %+v", c)
		}
		// The secret is kept sealed, never in the clear.
		if n := e.count(t, "SELECT COUNT(*) FROM webhook_endpoints WHERE signing_secret_ciphertext LIKE ?", "%"+c.SigningSecret+"%"); n != 0 {
			t.Fatal("the signing secret is stored in the clear")
		}
		if got := revealed(t, e.call(t, "POST", "/v1/webhooks/endpoints/"+ep.Id+"/signing-secret/reveal", o.admin.Token, "")); got != c.SigningSecret {
			t.Fatalf("reveal %q, created %q", got, c.SigningSecret)
		}
		rot := revealed(t, e.call(t, "POST", "/v1/webhooks/endpoints/"+ep.Id+"/signing-secret/rotate", o.key, ""))
		if rot == c.SigningSecret || !secretPattern.MatchString(rot) {
			t.Fatalf("rotated %q", rot)
		}
		if got := revealed(t, e.call(t, "POST", "/v1/webhooks/endpoints/"+ep.Id+"/signing-secret/reveal", o.key, "")); got != rot {
			t.Fatalf("reveal after rotation %q, want %q", got, rot)
		}

		// Defaults, and a disabled one.
		d := e.createEndpoint(t, o.owner.Token, `{"url":"https://b.example.com/","enabled":false,"undelivered_payload_retention_hours":0}`).Endpoint
		if d.Name != nil || len(d.Labels) != 0 || d.Enabled || d.DisabledAt == nil || len(d.SubscribedEventTypes) != 4 || *d.UndeliveredPayloadRetentionHours != 0 {
			t.Fatalf("defaults: %+v", d)
		}
		var got struct {
			Data api.WebhookEndpoint `json:"data"`
		}
		a := e.call(t, "GET", "/v1/webhooks/endpoints/"+ep.Id, o.member.Token, "")
		wantStatus(t, a, 200)
		a.decode(t, &got)
		if got.Data.Id != ep.Id || got.Data.Url != ep.Url {
			t.Fatalf("get: %+v", got.Data)
		}
		var page struct {
			Data       []api.WebhookEndpoint `json:"data"`
			Pagination api.Pagination        `json:"pagination"`
		}
		a = e.call(t, "GET", "/v1/webhooks/endpoints?enabled=false", o.key, "")
		wantStatus(t, a, 200)
		a.decode(t, &page)
		if len(page.Data) != 1 || page.Data[0].Id != d.Id || page.Pagination.HasMore {
			t.Fatalf("enabled=false: %+v", page)
		}

		// Update: a null name clears it, enabled writes disabled_at.
		a = e.call(t, "PATCH", "/v1/webhooks/endpoints/"+ep.Id, o.key, `{"name":null,"enabled":false,"undelivered_payload_retention_hours":168}`)
		wantStatus(t, a, 200)
		a.decode(t, &got)
		if got.Data.Name != nil || got.Data.Enabled || got.Data.DisabledAt == nil || *got.Data.UndeliveredPayloadRetentionHours != 168 {
			t.Fatalf("updated: %+v", got.Data)
		}
		env := wantWebhookError(t, e.call(t, "PATCH", "/v1/webhooks/endpoints/"+ep.Id, o.key, `{}`), 400, "BAD_REQUEST", "Bad request.")
		if env.Error.Hint != "At least one of `name`, `labels`, `url`, `enabled`, `subscribed_event_types` or `undelivered_payload_retention_hours` must be provided." ||
			env.Error.Docs != "https://kayle.id/docs/api/webhooks/endpoints#update" {
			t.Fatalf("empty update: %+v", env.Error)
		}
		// Not found comes first, and another organization's id is unknown.
		wantWebhookError(t, e.call(t, "PATCH", "/v1/webhooks/endpoints/whe_nope", o.key, `{}`), 404, "NOT_FOUND", "Webhook endpoint not found.")
		for _, op := range []struct{ method, path, body, docs string }{
			{"GET", "", "", "endpoints#get-by-id"},
			{"PATCH", "", `{"enabled":true}`, "endpoints#update"},
			{"DELETE", "", "", "endpoints#delete"},
			{"POST", "/signing-secret/reveal", "", "endpoints#reveal-signing-secret"},
			{"POST", "/signing-secret/rotate", "", "endpoints#rotate-signing-secret"},
			{"POST", "/keys", `{"key_id":"k","algorithm":"RSA-OAEP-256","key_type":"RSA","jwk":{"kty":"RSA","n":"x","e":"AQAB"}}`, "keys#create"},
		} {
			env := wantWebhookError(t, e.call(t, op.method, "/v1/webhooks/endpoints/"+ep.Id+op.path, other.key, op.body), 404, "NOT_FOUND", "Webhook endpoint not found.")
			if env.Error.Hint != "The webhook endpoint with the given ID was not found." || env.Error.Docs != "https://kayle.id/docs/api/webhooks/"+op.docs {
				t.Fatalf("%s %s: %+v", op.method, op.path, env.Error)
			}
		}
		// Another organization's cursor is unknown, as on the session list.
		wantWebhookError(t, e.call(t, "GET", "/v1/webhooks/endpoints?starting_after="+ep.Id, other.key, ""), 400, "INVALID_CURSOR", "")

		// The rules.
		for _, bad := range []string{
			`{"url":"http://example.com/x"}`,
			`{"url":"https://localhost/x"}`,
			`{"url":"https://10.0.0.1/"}`,
			`{"url":"https://user:pw@example.com/"}`,
			`{"url":"https://webhook/"}`,
			`{"url":"https://printer.local/"}`,
			`{"url":"https://example.com/","subscribed_event_types":[]}`,
			`{"url":"https://example.com/","labels":["a","A"]}`,
			`{"url":"https://example.com/","labels":["   "]}`,
			`{"url":"https://example.com/","labels":["` + strings.Repeat("x", 41) + `"]}`,
			`{"url":"https://example.com/","name":"   "}`,
			`{"url":"https://example.com/","undelivered_payload_retention_hours":48}`,
			`{"url":"https://example.com/","undelivered_payload_retention_hours":"72"}`,
			`{"url":"https://example.com/","owner":"me"}`,
			`{"url":"https://example.com/` + strings.Repeat("a", 2048) + `"}`,
			`{}`,
		} {
			wantWebhookError(t, e.call(t, "POST", "/v1/webhooks/endpoints", o.key, bad), 400, "BAD_REQUEST", "")
		}
		wantWebhookError(t, e.call(t, "PATCH", "/v1/webhooks/endpoints/"+d.Id, o.key, `{"subscribed_event_types":[]}`), 400, "BAD_REQUEST", "")

		// Delete, then it is gone.
		a = e.call(t, "DELETE", "/v1/webhooks/endpoints/"+d.Id, o.key, "")
		wantStatus(t, a, 200)
		if !strings.Contains(string(a.body), `"message":"Webhook endpoint deleted.","status":"success"`) {
			t.Fatalf("delete: %s", a.body)
		}
		wantWebhookError(t, e.call(t, "GET", "/v1/webhooks/endpoints/"+d.Id, o.key, ""), 404, "NOT_FOUND", "")

		// Audit rows, naming who acted.
		for event, n := range map[string]int{
			"webhook_endpoint.created": 2, "webhook_endpoint.updated": 1, "webhook_endpoint.deleted": 1,
			"webhook_endpoint.signing_secret.rotated": 1, "webhook_endpoint.signing_secret.revealed": 2,
		} {
			rows := e.auditEvents(t, o.owner, event)
			if len(rows) != n {
				t.Fatalf("%s: %d rows, want %d", event, len(rows), n)
			}
		}
		created := e.auditEvents(t, o.owner, "webhook_endpoint.created")
		for _, r := range created {
			if r.TargetType != "webhook_endpoint" || r.Metadata["url"] == nil || r.Metadata["enabled"] == nil {
				t.Fatalf("created row: %+v", r)
			}
		}
		upd := e.auditEvents(t, o.owner, "webhook_endpoint.updated")[0]
		if fmt.Sprint(upd.Metadata["updated_fields"]) != "[name enabled disabledAt undeliveredPayloadRetentionHours]" {
			t.Fatalf("updated_fields %v", upd.Metadata["updated_fields"])
		}
		if n := e.count(t, "SELECT COUNT(*) FROM audit_logs WHERE event = ? AND actor_type = ?", "webhook_endpoint.signing_secret.revealed", "api_key"); n != 1 {
			t.Fatalf("%d reveals by the key", n)
		}
	})
}

// At most 25 endpoints per organization (ours), counted under the
// organization's lock.
func TestWebhookEndpointLimit(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "wh-limit")
		var wg sync.WaitGroup
		statuses := make([]int, store.MaxWebhookEndpointsPerOrg+5)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = e.call(t, "POST", "/v1/webhooks/endpoints", o.key, fmt.Sprintf(`{"url":"https://h%d.example.com/"}`, i)).status
			}()
		}
		wg.Wait()
		if n := e.count(t, "SELECT COUNT(*) FROM webhook_endpoints WHERE organization_id = ?", o.id.String()); n != store.MaxWebhookEndpointsPerOrg {
			t.Fatalf("%d endpoints (%v)", n, statuses)
		}
		wantWebhookError(t, e.call(t, "POST", "/v1/webhooks/endpoints", o.key, `{"url":"https://more.example.com/"}`), 409, "WEBHOOK_ENDPOINT_LIMIT_REACHED", "")
	})
}

func TestWebhookKeysHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "whk")
		other := e.rpOrg(t, "whk-other")
		ep := e.createEndpoint(t, o.key, `{"url":"https://hooks.example.com/"}`).Endpoint
		k1 := e.createKey(t, o.key, ep.Id, "k1")
		var jwk map[string]any
		json.Unmarshal(k1.Jwk, &jwk)
		if !keyIDPattern.MatchString(k1.Id) || !k1.IsActive || k1.DisabledAt != nil || k1.KeyId != "k1" || k1.Algorithm != "RSA-OAEP-256" ||
			len(jwk) != 5 || jwk["alg"] != "RSA-OAEP-256" || jwk["kty"] != "RSA" || jwk["kid"] != nil || jwk["use"] != nil || fmt.Sprint(jwk["key_ops"]) != "[encrypt]" {
			t.Fatalf("key: %+v %s", k1, k1.Jwk)
		}
		k2 := e.createKey(t, o.admin.Token, ep.Id, "k2")
		k3 := e.createKey(t, o.key, ep.Id, "k3")
		keys := func(query string) []api.WebhookEncryptionKey {
			t.Helper()
			var page struct {
				Data []api.WebhookEncryptionKey `json:"data"`
			}
			a := e.call(t, "GET", "/v1/webhooks/endpoints/"+ep.Id+"/keys"+query, o.member.Token, "")
			wantStatus(t, a, 200)
			a.decode(t, &page)
			return page.Data
		}
		all := keys("")
		if len(all) != 3 || !slices.IsSortedFunc(all, func(a, b api.WebhookEncryptionKey) int { return strings.Compare(a.Id, b.Id) }) {
			t.Fatalf("list: %+v", all)
		}
		// Only the key that was active got a disabled_at: k1's is kept.
		first := map[string]api.WebhookEncryptionKey{}
		for _, k := range all {
			first[k.Id] = k
		}
		if first[k1.Id].DisabledAt == nil || first[k2.Id].DisabledAt == nil || !first[k3.Id].IsActive {
			t.Fatalf("after k3: %+v", all)
		}
		k1Disabled := *first[k1.Id].DisabledAt
		var one struct {
			Data api.WebhookEncryptionKey `json:"data"`
		}
		a := e.call(t, "POST", "/v1/webhooks/keys/"+k1.Id+"/reactivate", o.key, "")
		wantStatus(t, a, 200)
		a.decode(t, &one)
		if !one.Data.IsActive || one.Data.DisabledAt != nil {
			t.Fatalf("reactivated: %+v", one.Data)
		}
		act := keys("?is_active=true")
		if len(act) != 1 || act[0].Id != k1.Id {
			t.Fatalf("active after reactivate: %+v", act)
		}
		// Deactivating an inactive key keeps its history.
		before := keys("")
		wantStatus(t, e.call(t, "POST", "/v1/webhooks/keys/"+k2.Id+"/deactivate", o.key, ""), 200)
		for _, k := range keys("") {
			for _, b := range before {
				if k.Id == b.Id && k.Id == k2.Id && *k.DisabledAt != *b.DisabledAt {
					t.Fatalf("deactivate overwrote disabled_at: %s -> %s", *b.DisabledAt, *k.DisabledAt)
				}
			}
		}
		_ = k1Disabled
		wantStatus(t, e.call(t, "POST", "/v1/webhooks/keys/"+k1.Id+"/deactivate", o.key, ""), 200)
		if len(keys("?is_active=true")) != 0 {
			t.Fatal("a key is active after deactivating the active one")
		}
		// Paging by id.
		var page struct {
			Data       []api.WebhookEncryptionKey `json:"data"`
			Pagination api.Pagination             `json:"pagination"`
		}
		a = e.call(t, "GET", "/v1/webhooks/endpoints/"+ep.Id+"/keys?limit=2", o.key, "")
		a.decode(t, &page)
		if len(page.Data) != 2 || !page.Pagination.HasMore || *page.Pagination.NextCursor != all[1].Id {
			t.Fatalf("page 1: %+v", page)
		}
		if rest := keys("?starting_after=" + all[1].Id); len(rest) != 1 || rest[0].Id != all[2].Id {
			t.Fatalf("page 2: %+v", rest)
		}
		// Another organization sees no keys and cannot touch them.
		a = e.call(t, "GET", "/v1/webhooks/endpoints/"+ep.Id+"/keys", other.key, "")
		wantStatus(t, a, 200)
		if !strings.Contains(string(a.body), `"data":[]`) {
			t.Fatalf("foreign key list: %s", a.body)
		}
		env := wantWebhookError(t, e.call(t, "POST", "/v1/webhooks/keys/"+k1.Id+"/deactivate", other.key, ""), 404, "NOT_FOUND", "Webhook encryption key not found.")
		if env.Error.Docs != "https://kayle.id/docs/api/webhooks/keys#deactivate" {
			t.Fatalf("%+v", env.Error)
		}
		env = wantWebhookError(t, e.call(t, "POST", "/v1/webhooks/keys/"+k1.Id+"/reactivate", other.key, ""), 404, "NOT_FOUND", "Webhook encryption key not found.")
		if env.Error.Docs != "https://kayle.id/docs/api/webhooks/keys#reactivate" {
			t.Fatalf("%+v", env.Error)
		}

		// The JWK checks: upstream's envelope after the endpoint is found.
		body := func(jwk string) string {
			return `{"key_id":"bad","algorithm":"RSA-OAEP-256","key_type":"RSA","jwk":` + jwk + `}`
		}
		var pub map[string]any
		json.Unmarshal([]byte(testJWK()), &pub)
		n := pub["n"].(string)
		for _, jwk := range []string{
			`{"n":"` + n + `","e":"AQAB"}`,                         // no kty
			`{"kty":"RSA","n":"AQAB","e":"AQAB"}`,                  // too short
			`{"kty":"RSA","n":"` + n + `","e":"AQAB","d":"x"}`,     // private
			`{"kty":"RSA","n":"` + n + `","e":"AQAB","use":"sig"}`, // not for encryption
			`{"kty":"RSA","n":"` + n + `","e":"AQAB","key_ops":["encrypt","decrypt"]}`,
		} {
			env := wantWebhookError(t, e.call(t, "POST", "/v1/webhooks/endpoints/"+ep.Id+"/keys", o.key, body(jwk)), 400, "BAD_REQUEST", "Bad request.")
			if env.Error.Hint != "Provide an RSA-OAEP-256 public JWK without private key material." || env.Error.Docs != "https://kayle.id/docs/api/webhooks/keys#create" {
				t.Fatalf("%s: %+v", jwk, env.Error)
			}
		}
		// Schema errors (a bare zod 400 upstream) in the envelope.
		wantWebhookError(t, e.call(t, "POST", "/v1/webhooks/endpoints/"+ep.Id+"/keys", o.key, body(`{"kty":"EC","n":"x","e":"y"}`)), 400, "BAD_REQUEST", "")
		wantWebhookError(t, e.call(t, "POST", "/v1/webhooks/endpoints/"+ep.Id+"/keys", o.key, `{"key_id":"x","algorithm":"ECDH-ES","key_type":"RSA","jwk":{}}`), 400, "BAD_REQUEST", "")

		for event, n := range map[string]int{"webhook_key.created": 3, "webhook_key.reactivated": 1, "webhook_key.deactivated": 2} {
			if rows := e.auditEvents(t, o.owner, event); len(rows) != n {
				t.Fatalf("%s: %d rows, want %d", event, len(rows), n)
			}
		}
	})
}

// Concurrent key creations and reactivations leave exactly one active key,
// and a key limit holds.
func TestWebhookKeyActivityRace(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "whk-race")
		ep := e.createEndpoint(t, o.key, `{"url":"https://hooks.example.com/"}`).Endpoint
		k0 := e.createKey(t, o.key, ep.Id, "k0")
		var wg sync.WaitGroup
		errs := make(chan string, 16)
		for i := range 8 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				a := e.call(t, "POST", "/v1/webhooks/endpoints/"+ep.Id+"/keys", o.key,
					`{"key_id":"r`+fmt.Sprint(i)+`","algorithm":"RSA-OAEP-256","key_type":"RSA","jwk":`+testJWK()+`}`)
				if a.status != 200 {
					errs <- fmt.Sprintf("create: %d %s", a.status, a.body)
				}
			}()
			go func() {
				defer wg.Done()
				if a := e.call(t, "POST", "/v1/webhooks/keys/"+k0.Id+"/reactivate", o.key, ""); a.status != 200 {
					errs <- fmt.Sprintf("reactivate: %d %s", a.status, a.body)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM webhook_encryption_keys WHERE webhook_endpoint_id = ? AND is_active = ?", ep.Id, true); n != 1 {
			t.Fatalf("%d active keys", n)
		}
		if n := e.count(t, "SELECT COUNT(*) FROM webhook_encryption_keys WHERE webhook_endpoint_id = ? AND is_active = ? AND disabled_at IS NULL", ep.Id, false); n != 0 {
			t.Fatalf("%d inactive keys without disabled_at", n)
		}
		for range store.MaxWebhookKeysPerEndpoint - 9 {
			e.createKey(t, o.key, ep.Id, "more")
		}
		wantWebhookError(t, e.call(t, "POST", "/v1/webhooks/endpoints/"+ep.Id+"/keys", o.key,
			`{"key_id":"last","algorithm":"RSA-OAEP-256","key_type":"RSA","jwk":`+testJWK()+`}`), 409, "WEBHOOK_KEY_LIMIT_REACHED", "")
	})
}

// Two rotations at once: both answer, one after the other, and the last
// one is the secret in force.
func TestWebhookRotationRace(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "wh-rot")
		ep := e.createEndpoint(t, o.key, `{"url":"https://hooks.example.com/"}`).Endpoint
		var wg sync.WaitGroup
		got := make([]string, 6)
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[i] = revealed(t, e.call(t, "POST", "/v1/webhooks/endpoints/"+ep.Id+"/signing-secret/rotate", o.key, ""))
			}()
		}
		wg.Wait()
		current := revealed(t, e.call(t, "POST", "/v1/webhooks/endpoints/"+ep.Id+"/signing-secret/reveal", o.key, ""))
		if !slices.Contains(got, current) {
			t.Fatalf("the secret in force %q is none of the answers %v", current, got)
		}
		slices.Sort(got)
		if len(slices.Compact(got)) != 6 {
			t.Fatalf("rotations answered the same secret: %v", got)
		}
		if n := len(e.auditEvents(t, o.owner, "webhook_endpoint.signing_secret.rotated")); n != 6 {
			t.Fatalf("%d rotation rows", n)
		}
	})
}

// Lists page at full precision: rows in the same millisecond, and exact
// ties, are neither skipped nor repeated.
func TestWebhookPagingTies(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "wh-ties")
		base := time.Date(2026, 5, 20, 12, 0, 0, 123000000, time.UTC)
		var ids []string
		for i := range 7 {
			ep := e.createEndpoint(t, o.key, fmt.Sprintf(`{"url":"https://t%d.example.com/"}`, i)).Endpoint
			ids = append(ids, ep.Id)
			// Three share an instant; the others are microseconds apart in one millisecond.
			at := base.Add(time.Duration(max(0, i-2)) * time.Microsecond)
			e.exec(t, "UPDATE webhook_endpoints SET created_at = ? WHERE id = ?", at, ep.Id)
		}
		seen := map[string]bool{}
		cursor := ""
		for range 10 {
			q := "/v1/webhooks/endpoints?limit=2"
			if cursor != "" {
				q += "&starting_after=" + cursor
			}
			var page struct {
				Data       []api.WebhookEndpoint `json:"data"`
				Pagination api.Pagination        `json:"pagination"`
			}
			a := e.call(t, "GET", q, o.key, "")
			wantStatus(t, a, 200)
			a.decode(t, &page)
			for _, ep := range page.Data {
				if seen[ep.Id] {
					t.Fatalf("%s repeated", ep.Id)
				}
				seen[ep.Id] = true
			}
			if !page.Pagination.HasMore {
				break
			}
			cursor = *page.Pagination.NextCursor
		}
		if len(seen) != len(ids) {
			t.Fatalf("saw %d of %d endpoints", len(seen), len(ids))
		}
		wantWebhookError(t, e.call(t, "GET", "/v1/webhooks/endpoints?starting_after=whe_unknown", o.key, ""), 400, "INVALID_CURSOR", "")
	})
}

// eventPage is an event list as answered.
type eventPage struct {
	Data       []api.WebhookEvent `json:"data"`
	Pagination api.Pagination     `json:"pagination"`
}

func TestWebhookEventsAndDeliveriesHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "whe")
		other := e.rpOrg(t, "whe-other")
		ep := e.createEndpoint(t, o.key, `{"url":"https://hooks.example.com/"}`).Endpoint
		e.createKey(t, o.key, ep.Id, "k1")
		// An endpoint without a key: its deliveries are held, not lost.
		held := e.createEndpoint(t, o.key, `{"url":"https://held.example.com/","subscribed_event_types":["verification.session.cancelled"]}`).Endpoint
		// Not subscribed: no delivery.
		e.createEndpoint(t, o.key, `{"url":"https://other.example.com/","subscribed_event_types":["verification.session.succeeded"]}`)

		s := e.createSession(t, o.key, "")
		wantStatus(t, e.call(t, "POST", "/v1/sessions/"+s.ID+"/cancel", o.key, ""), 204)
		s2 := e.createSession(t, o.key, "")
		wantStatus(t, e.call(t, "POST", "/v1/sessions/"+s2.ID+"/cancel", o.key, ""), 204)

		var events eventPage
		for _, path := range []string{"/v1/webhooks/events", "/v1/events"} {
			a := e.call(t, "GET", path+"?type=verification.session.cancelled", o.member.Token, "")
			wantStatus(t, a, 200)
			a.decode(t, &events)
			if len(events.Data) != 2 || events.Data[0].TriggerId != s2.ID || events.Data[1].TriggerId != s.ID {
				t.Fatalf("%s: %+v", path, events.Data)
			}
		}
		ev := events.Data[1]
		if ev.Type != "verification.session.cancelled" || ev.TriggerType != "verification_session" || len(ev.Deliveries) != 2 || !jsTime.MatchString(ev.CreatedAt) {
			t.Fatalf("event: %+v", ev)
		}
		var sent, kept api.WebhookEventDelivery
		for _, d := range ev.Deliveries {
			if d.WebhookEndpointId == ep.Id {
				sent = d
			} else {
				kept = d
			}
		}
		if sent.Status != "pending" || sent.PayloadRetentionReason == nil || *sent.PayloadRetentionReason != "pending_delivery" || sent.PayloadExpiresAt == nil ||
			kept.WebhookEndpointId != held.Id || *kept.PayloadRetentionReason != "no_active_key" {
			t.Fatalf("deliveries: %+v", ev.Deliveries)
		}
		// The same event on both paths; the delivery summary has nine fields.
		for _, path := range []string{"/v1/webhooks/events/", "/v1/events/"} {
			a := e.call(t, "GET", path+ev.Id, o.key, "")
			wantStatus(t, a, 200)
			var raw struct {
				Data struct {
					Deliveries []map[string]any `json:"deliveries"`
				} `json:"data"`
			}
			a.decode(t, &raw)
			if len(raw.Data.Deliveries) != 2 || len(raw.Data.Deliveries[0]) != 9 {
				t.Fatalf("%s: %s", path, a.body)
			}
			env := wantWebhookError(t, e.call(t, "GET", path+ev.Id, other.key, ""), 404, "NOT_FOUND", "Webhook event not found.")
			if env.Error.Docs != "https://kayle.id/docs/api/webhooks/events#get-by-id" {
				t.Fatalf("%+v", env.Error)
			}
		}
		// Filters and the time window.
		a := e.call(t, "GET", "/v1/events?created_to=2000-01-01T00:00:00Z", o.key, "")
		wantStatus(t, a, 200)
		a.decode(t, &events)
		if len(events.Data) != 0 {
			t.Fatalf("created_to in the past: %+v", events.Data)
		}
		wantWebhookError(t, e.call(t, "GET", "/v1/events?type=session.created", o.key, ""), 400, "BAD_REQUEST", "")
		wantWebhookError(t, e.call(t, "GET", "/v1/events?starting_after="+ev.Id, other.key, ""), 400, "INVALID_CURSOR", "")

		deliveries := func(query string) []api.WebhookDelivery {
			t.Helper()
			var page struct {
				Data []api.WebhookDelivery `json:"data"`
			}
			a := e.call(t, "GET", "/v1/webhooks/deliveries"+query, o.key, "")
			wantStatus(t, a, 200)
			a.decode(t, &page)
			return page.Data
		}
		if all := deliveries(""); len(all) != 4 {
			t.Fatalf("%d deliveries", len(all))
		}
		mine := deliveries("?event_id=" + ev.Id + "&endpoint_id=" + ep.Id)
		if len(mine) != 1 || mine[0].Id != sent.Id || mine[0].NextAttemptAt == nil || mine[0].WebhookEncryptionKeyId == nil {
			t.Fatalf("filtered: %+v", mine)
		}
		if got := deliveries("?status=succeeded"); len(got) != 0 {
			t.Fatalf("succeeded: %+v", got)
		}
		if a := e.call(t, "GET", "/v1/webhooks/deliveries", other.key, ""); !strings.Contains(string(a.body), `"data":[]`) {
			t.Fatalf("another organization's deliveries: %s", a.body)
		}

		// Retry: 200 with the requeued row, a new run.
		var retried struct {
			Data api.WebhookDelivery `json:"data"`
		}
		run := func(id string) string {
			var r string
			e.st.DB().QueryRow(e.ph("SELECT run_id FROM webhook_deliveries WHERE id = ?"), id).Scan(&r)
			return r
		}
		oldRun := run(sent.Id)
		a = e.call(t, "POST", "/v1/webhooks/deliveries/"+sent.Id+"/retry", o.key, "")
		wantStatus(t, a, 200)
		a.decode(t, &retried)
		if retried.Data.Id != sent.Id || retried.Data.Status != "pending" || retried.Data.AttemptCount != 0 || retried.Data.NextAttemptAt == nil {
			t.Fatalf("retried: %+v", retried.Data)
		}
		if newRun := run(sent.Id); newRun == oldRun || newRun == "" {
			t.Fatal("a retry did not supersede the scheduled run")
		}
		env := wantWebhookError(t, e.call(t, "POST", "/v1/webhooks/deliveries/"+sent.Id+"/retry", other.key, ""), 404, "NOT_FOUND", "Webhook delivery not found.")
		if env.Error.Docs != "https://kayle.id/docs/api/webhooks/deliveries#retry" {
			t.Fatalf("%+v", env.Error)
		}
		// A held delivery waits for a key: 409, saying so.
		env = wantWebhookError(t, e.call(t, "POST", "/v1/webhooks/deliveries/"+kept.Id+"/retry", o.key, ""), 409, "CONFLICT", "Webhook delivery cannot be retried.")
		if !strings.Contains(env.Error.Hint, "encryption key") {
			t.Fatalf("held: %+v", env.Error)
		}
		// In progress, then without a payload.
		e.exec(t, "UPDATE webhook_deliveries SET status = ? WHERE id = ?", "delivering", sent.Id)
		env = wantWebhookError(t, e.call(t, "POST", "/v1/webhooks/deliveries/"+sent.Id+"/retry", o.key, ""), 409, "CONFLICT", "Webhook delivery cannot be retried.")
		if env.Error.Hint != "The webhook delivery is already in progress." {
			t.Fatalf("%+v", env.Error)
		}
		// Replay: a delivering one blocks it with CONFLICT (the held one too).
		env = wantWebhookError(t, e.call(t, "POST", "/v1/events/"+ev.Id+"/replay", o.key, ""), 409, "CONFLICT", "Webhook event cannot be replayed.")
		if env.Error.Hint != "Only webhook events with replayable deliveries can be replayed." || env.Error.Docs != "https://kayle.id/docs/api/webhooks/events#replay" {
			t.Fatalf("%+v", env.Error)
		}
		e.exec(t, "UPDATE webhook_deliveries SET status = ?, payload = NULL, payload_retention_reason = ? WHERE id = ?", "succeeded", "delivered", sent.Id)
		env = wantWebhookError(t, e.call(t, "POST", "/v1/webhooks/deliveries/"+sent.Id+"/retry", o.key, ""), 409, "WEBHOOK_PAYLOAD_EXPIRED", "Webhook payload is no longer retained.")
		if env.Error.Hint != "Payload expired; create a new verification session or handle the event manually." ||
			env.Error.Docs != "https://kayle.id/docs/api/webhooks/deliveries#payload-retention" {
			t.Fatalf("%+v", env.Error)
		}
		// Every delivery blocked by its payload: WEBHOOK_PAYLOAD_EXPIRED.
		e.exec(t, "UPDATE webhook_deliveries SET held_payload = NULL, status = ?, payload_retention_reason = ? WHERE id = ?", "failed", "expired", kept.Id)
		wantWebhookError(t, e.call(t, "POST", "/v1/webhooks/events/"+ev.Id+"/replay", o.key, ""), 409, "WEBHOOK_PAYLOAD_EXPIRED", "")

		// Replay of the other event: 202 with its deliveries requeued.
		ev2 := ""
		for _, x := range eventsOf(t, e, o.key) {
			if x.TriggerId == s2.ID {
				ev2 = x.Id
			}
		}
		a = e.call(t, "POST", "/v1/webhooks/events/"+ev2+"/replay", o.key, "")
		wantStatus(t, a, 202)
		var replayed struct {
			Data api.WebhookEvent `json:"data"`
		}
		a.decode(t, &replayed)
		if replayed.Data.Id != ev2 || len(replayed.Data.Deliveries) != 2 {
			t.Fatalf("replayed: %+v", replayed.Data)
		}
		wantWebhookError(t, e.call(t, "POST", "/v1/webhooks/events/"+ev2+"/replay", other.key, ""), 404, "NOT_FOUND", "Webhook event not found.")
		// An event without deliveries cannot be replayed.
		s3 := e.createSession(t, other.key, "")
		wantStatus(t, e.call(t, "POST", "/v1/sessions/"+s3.ID+"/cancel", other.key, ""), 204)
		ev3 := eventsOf(t, e, other.key)[0]
		wantWebhookError(t, e.call(t, "POST", "/v1/events/"+ev3.Id+"/replay", other.key, ""), 409, "CONFLICT", "Webhook event cannot be replayed.")

		if n := len(e.auditEvents(t, o.owner, "webhook_delivery.retried")); n != 1 {
			t.Fatalf("%d retry rows", n)
		}
		if n := len(e.auditEvents(t, o.owner, "webhook_event.replayed")); n != 1 {
			t.Fatalf("%d replay rows", n)
		}

		// Deleting the endpoint takes its deliveries along.
		wantStatus(t, e.call(t, "DELETE", "/v1/webhooks/endpoints/"+ep.Id, o.key, ""), 200)
		if n := e.count(t, "SELECT COUNT(*) FROM webhook_deliveries WHERE webhook_endpoint_id = ?", ep.Id); n != 0 {
			t.Fatalf("%d deliveries left", n)
		}
	})
}

func eventsOf(t *testing.T, e *env, token string) []api.WebhookEvent {
	t.Helper()
	var page eventPage
	a := e.call(t, "GET", "/v1/webhooks/events", token, "")
	wantStatus(t, a, 200)
	a.decode(t, &page)
	return page.Data
}

// Session creation's webhook targets are the organization's enabled
// endpoints.
func TestSessionWebhookTargetsHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "wh-targets")
		other := e.rpOrg(t, "wh-targets-other")
		on := e.createEndpoint(t, o.key, `{"url":"https://on.example.com/"}`).Endpoint
		off := e.createEndpoint(t, o.key, `{"url":"https://off.example.com/","enabled":false}`).Endpoint
		foreign := e.createEndpoint(t, other.key, `{"url":"https://f.example.com/"}`).Endpoint
		s := e.createSession(t, o.key, `{"webhook_endpoint_id":["`+on.Id+`","`+on.Id+`"]}`)
		if s.WebhookEndpointID != on.Id {
			t.Fatalf("targets: %v", s.WebhookEndpointID)
		}
		for _, bad := range []string{off.Id, foreign.Id, "whe_nope"} {
			wantSessionError(t, e.call(t, "POST", "/v1/sessions", o.key, `{"webhook_endpoint_id":["`+on.Id+`","`+bad+`"]}`), 400, "WEBHOOK_ENDPOINT_UNAVAILABLE", "")
		}
	})
}

// webhookOps are the 19 operations with a request that reaches the
// handler (ids that exist), for the gate tests.
type webhookOp struct {
	method, path, body string
	write              bool
}

func TestWebhookGatesHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "wh-gates")
		noOrg := e.person("noorg")
		ep := e.createEndpoint(t, o.key, `{"url":"https://hooks.example.com/"}`).Endpoint
		k := e.createKey(t, o.key, ep.Id, "k")
		s := e.createSession(t, o.key, "")
		wantStatus(t, e.call(t, "POST", "/v1/sessions/"+s.ID+"/cancel", o.key, ""), 204)
		ev := eventsOf(t, e, o.key)[0]
		d := ev.Deliveries[0]
		ops := []webhookOp{
			{"GET", "/v1/webhooks/endpoints", "", false},
			{"POST", "/v1/webhooks/endpoints", `{"url":"https://g.example.com/"}`, true},
			{"GET", "/v1/webhooks/endpoints/" + ep.Id, "", false},
			{"PATCH", "/v1/webhooks/endpoints/" + ep.Id, `{"enabled":true}`, true},
			{"POST", "/v1/webhooks/endpoints/" + ep.Id + "/signing-secret/reveal", "", true},
			{"POST", "/v1/webhooks/endpoints/" + ep.Id + "/signing-secret/rotate", "", true},
			{"POST", "/v1/webhooks/endpoints/" + ep.Id + "/keys", `{"key_id":"g","algorithm":"RSA-OAEP-256","key_type":"RSA","jwk":` + testJWK() + `}`, true},
			{"GET", "/v1/webhooks/endpoints/" + ep.Id + "/keys", "", false},
			{"POST", "/v1/webhooks/keys/" + k.Id + "/reactivate", "", true},
			{"POST", "/v1/webhooks/keys/" + k.Id + "/deactivate", "", true},
			{"GET", "/v1/webhooks/deliveries", "", false},
			{"POST", "/v1/webhooks/deliveries/" + d.Id + "/retry", "", true},
			{"GET", "/v1/webhooks/events", "", false},
			{"GET", "/v1/webhooks/events/" + ev.Id, "", false},
			{"POST", "/v1/webhooks/events/" + ev.Id + "/replay", "", true},
			{"GET", "/v1/events", "", false},
			{"GET", "/v1/events/" + ev.Id, "", false},
			{"POST", "/v1/events/" + ev.Id + "/replay", "", true},
			{"DELETE", "/v1/webhooks/endpoints/whe_" + strings.Repeat("z", 32), "", true},
		}
		keys := map[string]string{}
		for _, scope := range store.Scopes {
			keys[scope] = e.apiKey(t, o.owner, scope)
		}
		for _, op := range ops {
			for scope, key := range keys {
				want := scope == store.ScopeWebhooksWrite || !op.write && scope == store.ScopeWebhooksRead
				a := e.call(t, op.method, op.path, key, op.body)
				if want != (a.status != 403) {
					t.Errorf("%s %s with %s: %d %s", op.method, op.path, scope, a.status, a.body)
				}
				if !want {
					wantWebhookError(t, a, 403, "FORBIDDEN", "Forbidden")
				}
			}
			if a := e.call(t, op.method, op.path, o.member.Token, op.body); op.write != (a.status == 403) {
				t.Errorf("%s %s as member: %d %s", op.method, op.path, a.status, a.body)
			}
			if a := e.call(t, op.method, op.path, o.admin.Token, op.body); a.status == 403 || a.status == 401 {
				t.Errorf("%s %s as admin: %d %s", op.method, op.path, a.status, a.body)
			}
			wantWebhookError(t, e.call(t, op.method, op.path, noOrg.Token, op.body), 403, "FORBIDDEN", "Forbidden")
			wantWebhookError(t, e.call(t, op.method, op.path, "", op.body), 401, "UNAUTHORIZED", "")
			wantWebhookError(t, e.call(t, op.method, op.path, "kk_"+strings.Repeat("x", 32), op.body), 401, "UNAUTHORIZED", "")
		}
		// Scope before schema: 403, not 400.
		wantWebhookError(t, e.call(t, "POST", "/v1/webhooks/endpoints", keys[store.ScopeWebhooksRead], `{"url":5}`), 403, "FORBIDDEN", "")
		wantWebhookError(t, e.call(t, "GET", "/v1/webhooks/endpoints?limit=abc", keys[store.ScopeSessionsRead], ""), 403, "FORBIDDEN", "")
		// Schema 400s in the envelope: limits, booleans, ids.
		for _, path := range []string{"/v1/webhooks/endpoints?limit=0", "/v1/webhooks/endpoints?limit=101", "/v1/webhooks/endpoints?limit=1.5",
			"/v1/webhooks/endpoints?enabled=1", "/v1/webhooks/endpoints/" + strings.Repeat("a", 129), "/v1/webhooks/endpoints/a.b",
			"/v1/webhooks/deliveries?status=done", "/v1/events?created_from=2026-05-20", "/v1/webhooks/endpoints/x/keys?is_active=TRUE"} {
			wantWebhookError(t, e.call(t, "GET", path, o.key, ""), 400, "BAD_REQUEST", "")
		}

		// Frozen: every key answers 410 on every method, before scopes and validation.
		scheduleDeletion(t, e, o.owner, o.id)
		for _, op := range ops {
			for _, key := range keys {
				if a := e.call(t, op.method, op.path, key, op.body); a.status != 401 {
					wantFrozenForKeys(t, a)
				}
			}
			// Dashboard callers: writes refused on both paths (upstream
			// lets /v1/events replay through), reads go on.
			a := e.call(t, op.method, op.path, o.admin.Token, op.body)
			if op.write {
				wantFrozenForKeys(t, a)
			} else if a.status != 200 {
				t.Errorf("%s %s frozen, as admin: %d %s", op.method, op.path, a.status, a.body)
			}
		}
		// The session caller's 410 comes before the schema's 400.
		wantFrozenForKeys(t, e.call(t, "POST", "/v1/webhooks/endpoints", o.admin.Token, `{"url":5}`))
		wantFrozenForKeys(t, e.call(t, "GET", "/v1/webhooks/endpoints?limit=abc", keys[store.ScopeWebhooksRead], ""))
	})
}

// A body that is not JSON answers in the envelope, never a 500.
func TestWebhookBodiesWithoutJSON(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "wh-ct")
		ep := e.createEndpoint(t, o.key, `{"url":"https://hooks.example.com/"}`).Endpoint
		auth := map[string][]string{"Authorization": {"Bearer " + o.key}}
		for _, path := range []string{"/v1/webhooks/endpoints", "/v1/webhooks/endpoints/" + ep.Id + "/keys"} {
			status, raw, _ := sendRaw(t, e, "POST", path, "", "", auth)
			if status != 400 || !strings.Contains(string(raw), `"code":"BAD_REQUEST"`) {
				t.Errorf("POST %s without a body: %d %s", path, status, raw)
			}
			for _, ct := range []string{"", "text/plain"} {
				status, raw, _ := sendRaw(t, e, "POST", path, ct, `{"url":"https://x.example.com/"}`, auth)
				if status != 415 || !strings.Contains(string(raw), "UNSUPPORTED_MEDIA_TYPE") {
					t.Errorf("POST %s typed %q: %d %s", path, ct, status, raw)
				}
			}
		}
		status, raw, _ := sendRaw(t, e, "PATCH", "/v1/webhooks/endpoints/"+ep.Id, "", "", auth)
		if status != 400 || !strings.Contains(string(raw), "At least one of") {
			t.Errorf("PATCH without a body: %d %s", status, raw)
		}
		status, raw, _ = sendRaw(t, e, "POST", "/v1/webhooks/endpoints", "application/json", `{"url":`, auth)
		if status != 400 || !strings.Contains(string(raw), `"code":"BAD_REQUEST"`) {
			t.Errorf("malformed JSON: %d %s", status, raw)
		}
	})
}

// Loopback receivers only with the development setting.
func TestWebhookLoopbackSetting(t *testing.T) {
	off := newEnv(t, "sqlite")
	o := off.rpOrg(t, "wh-lo-off")
	wantWebhookError(t, off.call(t, "POST", "/v1/webhooks/endpoints", o.key, `{"url":"http://127.0.0.1:9/hook"}`), 400, "BAD_REQUEST", "")
	on := newEnv(t, "sqlite", func(c *server.Config) { c.Webhooks.AllowLoopback = true })
	p := on.rpOrg(t, "wh-lo-on")
	for _, u := range []string{"http://127.0.0.1:9/hook", "https://localhost:3001/"} {
		on.createEndpoint(t, p.key, `{"url":"`+u+`"}`)
	}
	wantWebhookError(t, on.call(t, "POST", "/v1/webhooks/endpoints", p.key, `{"url":"https://10.0.0.1/"}`), 400, "BAD_REQUEST", "")
}

// A signing secret the configured keys cannot open: upstream's enveloped
// 500 on reveal; a database failure: the documented 500 on every operation.
func TestWebhookInternalErrors(t *testing.T) {
	e := newEnv(t, "sqlite")
	o := e.rpOrg(t, "wh-500")
	ep := e.createEndpoint(t, o.key, `{"url":"https://hooks.example.com/"}`).Endpoint
	k := e.createKey(t, o.key, ep.Id, "k")
	s := e.createSession(t, o.key, "")
	wantStatus(t, e.call(t, "POST", "/v1/sessions/"+s.ID+"/cancel", o.key, ""), 204)
	ev := eventsOf(t, e, o.key)[0]
	check := func(a answer) envelope {
		t.Helper()
		env := wantWebhookError(t, a, 500, "INTERNAL_SERVER_ERROR", "Internal server error.")
		if env.Error.Hint != "The server encountered an error." || env.Error.Docs != "https://kayle.id/docs/api/errors" || strings.Contains(string(a.body), "webhook_") {
			t.Fatalf("500: %s", a.body)
		}
		return env
	}
	e.exec(t, "UPDATE webhook_endpoints SET signing_secret_ciphertext = ? WHERE id = ?", "v1.deadbeef.AAAA.AAAA", ep.Id)
	check(e.call(t, "POST", "/v1/webhooks/endpoints/"+ep.Id+"/signing-secret/reveal", o.key, ""))
	if n := e.count(t, "SELECT COUNT(*) FROM audit_logs WHERE event = ?", "webhook_endpoint.signing_secret.revealed"); n != 0 {
		t.Fatalf("%d reveal rows for a failed reveal", n)
	}
	for _, table := range []string{"webhook_deliveries", "webhook_encryption_keys", "webhook_endpoints", "events"} {
		e.exec(t, "ALTER TABLE "+table+" RENAME TO gone_"+table)
	}
	for _, op := range []webhookOp{
		{"GET", "/v1/webhooks/endpoints", "", false},
		{"POST", "/v1/webhooks/endpoints", `{"url":"https://g.example.com/"}`, true},
		{"GET", "/v1/webhooks/endpoints/" + ep.Id, "", false},
		{"PATCH", "/v1/webhooks/endpoints/" + ep.Id, `{"enabled":true}`, true},
		{"DELETE", "/v1/webhooks/endpoints/" + ep.Id, "", true},
		{"POST", "/v1/webhooks/endpoints/" + ep.Id + "/signing-secret/reveal", "", true},
		{"POST", "/v1/webhooks/endpoints/" + ep.Id + "/signing-secret/rotate", "", true},
		{"POST", "/v1/webhooks/endpoints/" + ep.Id + "/keys", `{"key_id":"g","algorithm":"RSA-OAEP-256","key_type":"RSA","jwk":` + testJWK() + `}`, true},
		{"GET", "/v1/webhooks/endpoints/" + ep.Id + "/keys", "", false},
		{"POST", "/v1/webhooks/keys/" + k.Id + "/reactivate", "", true},
		{"POST", "/v1/webhooks/keys/" + k.Id + "/deactivate", "", true},
		{"GET", "/v1/webhooks/deliveries", "", false},
		{"POST", "/v1/webhooks/deliveries/" + ev.Deliveries[0].Id + "/retry", "", true},
		{"GET", "/v1/webhooks/events", "", false},
		{"GET", "/v1/webhooks/events/" + ev.Id, "", false},
		{"POST", "/v1/webhooks/events/" + ev.Id + "/replay", "", true},
		{"GET", "/v1/events", "", false},
		{"GET", "/v1/events/" + ev.Id, "", false},
		{"POST", "/v1/events/" + ev.Id + "/replay", "", true},
	} {
		env := check(e.call(t, op.method, op.path, o.key, op.body))
		if op.method == "GET" && !strings.Contains(op.path, ev.Id) && !strings.Contains(op.path, "/endpoints/") && (env.Pagination == nil || env.Pagination.HasMore) {
			t.Fatalf("%s: list 500 pagination %+v", op.path, env.Pagination)
		}
	}
}

// Hostile input to the webhook API never makes an endpoint or a key, and
// is always a 4xx in the envelope.
func TestHostileWebhookInput(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		o := e.rpOrg(t, "hostile-wh")
		ep := e.createEndpoint(t, o.key, `{"url":"https://hooks.example.com/"}`).Endpoint
		auth := map[string][]string{"Authorization": {"Bearer " + o.key}}
		deep := strings.Repeat(`{"a":`, 500) + "1" + strings.Repeat("}", 500)
		create := func(v string) string { return `{"url":` + v + `}` }
		labels := `["` + strings.TrimSuffix(strings.Repeat(`l","`, 10000), `","`) + `"]`
		keyBody := func(jwk string) string {
			return `{"key_id":"k","algorithm":"RSA-OAEP-256","key_type":"RSA","jwk":` + jwk + `}`
		}
		keys := "/v1/webhooks/endpoints/" + ep.Id + "/keys"
		cases := []hostile{
			{"url userinfo", "POST", "/v1/webhooks/endpoints", "application/json", create(`"https://hooks.example.com@evil.io/"`), auth},
			{"url credentials", "POST", "/v1/webhooks/endpoints", "application/json", create(`"https://u:p@hooks.example.com/"`), auth},
			{"url IDN to a private name", "POST", "/v1/webhooks/endpoints", "application/json", create(`"https://printer.ｌｏｃａｌ/"`), auth},
			{"url backslashes", "POST", "/v1/webhooks/endpoints", "application/json", create(`"https:\\\\127.0.0.1\\hook"`), auth},
			{"url NUL", "POST", "/v1/webhooks/endpoints", "application/json", create(`"https://hooks.example.com/\u0000"`), auth},
			{"url 3000 characters", "POST", "/v1/webhooks/endpoints", "application/json", create(`"https://hooks.example.com/` + strings.Repeat("a", 3000) + `"`), auth},
			{"url IPv4-mapped", "POST", "/v1/webhooks/endpoints", "application/json", create(`"https://[::ffff:127.0.0.1]/"`), auth},
			{"url decimal loopback", "POST", "/v1/webhooks/endpoints", "application/json", create(`"https://2130706433/"`), auth},
			{"url javascript", "POST", "/v1/webhooks/endpoints", "application/json", create(`"javascript:alert(1)"`), auth},
			{"url not a string", "POST", "/v1/webhooks/endpoints", "application/json", create(`["https://x.example.com/"]`), auth},
			{"huge label array", "POST", "/v1/webhooks/endpoints", "application/json", `{"url":"https://x.example.com/","labels":` + labels + `}`, auth},
			{"label NUL", "POST", "/v1/webhooks/endpoints", "application/json", `{"url":"https://x.example.com/","labels":["a\u0000b"]}`, auth},
			{"label invalid UTF-8", "POST", "/v1/webhooks/endpoints", "application/json", "{\"url\":\"https://x.example.com/\",\"labels\":[\"\xff\"]}", auth},
			{"name deep nesting", "POST", "/v1/webhooks/endpoints", "application/json", `{"url":"https://x.example.com/","name":` + deep + `}`, auth},
			{"jwk deep nesting", "POST", keys, "application/json", keyBody(`{"kty":"RSA","n":"x","e":"AQAB","x5c":` + deep + `}`), auth},
			{"jwk array", "POST", keys, "application/json", keyBody(`[1,2]`), auth},
			{"jwk null member", "POST", keys, "application/json", keyBody(`{"kty":"RSA","n":"x","e":"AQAB","oth":null}`), auth},
			{"jwk huge n", "POST", keys, "application/json", keyBody(`{"kty":"RSA","n":"` + strings.Repeat("A", 9000) + `","e":"AQAB"}`), auth},
			{"jwk e garbage", "POST", keys, "application/json", keyBody(`{"kty":"RSA","n":"` + strings.Repeat("A", 400) + `","e":"!!!"}`), auth},
			{"key_id NUL", "POST", keys, "application/json", `{"key_id":"a\u0000","algorithm":"RSA-OAEP-256","key_type":"RSA","jwk":` + testJWK() + `}`, auth},
			{"endpoint id SQL", "GET", "/v1/webhooks/endpoints/whe_x'%20OR%201=1", "", "", auth},
			{"endpoint id traversal", "GET", "/v1/webhooks/endpoints/..%2F..%2Fevents", "", "", auth},
			{"delivery id overlong", "POST", "/v1/webhooks/deliveries/whd_" + strings.Repeat("a", 200) + "/retry", "", "", auth},
			{"event id invalid UTF-8", "GET", "/v1/events/evt_%FF", "", "", auth},
			{"cursor SQL", "GET", "/v1/webhooks/deliveries?starting_after=whd_%27--", "", "", auth},
			{"limit huge", "GET", "/v1/events?limit=99999999999999999999", "", "", auth},
			{"filter injection", "GET", "/v1/webhooks/deliveries?status=pending'--", "", "", auth},
			{"malformed JSON", "POST", "/v1/webhooks/endpoints", "application/json", `{"url":`, auth},
		}
		before := e.count(t, "SELECT COUNT(*) FROM webhook_endpoints") + e.count(t, "SELECT COUNT(*) FROM webhook_encryption_keys")
		for _, h := range cases {
			status, body, sent := sendRaw(t, e, h.method, h.path, h.ctype, h.body, h.header)
			if !sent {
				continue
			}
			if status < 400 || status >= 500 {
				t.Errorf("%s: got %d %.300s, want a 4xx", h.name, status, body)
				continue
			}
			var env envelope
			if err := json.Unmarshal(body, &env); err != nil || env.Error == nil || env.Error.Code == "" || env.Error.Hint == "" || env.Error.Docs == "" {
				t.Errorf("%s: %d answer is not the error envelope: %.300s", h.name, status, body)
			}
		}
		if after := e.count(t, "SELECT COUNT(*) FROM webhook_endpoints") + e.count(t, "SELECT COUNT(*) FROM webhook_encryption_keys"); after != before {
			t.Fatalf("hostile requests made %d rows", after-before)
		}
	})
}

// The webhook writes share the credential's write limit.
func TestWebhookRateLimits(t *testing.T) {
	e := newEnv(t, "sqlite")
	o := e.rpOrg(t, "wh-limits")
	base := limitedServer(t, e, server.RateLimit{PerCredentialRead: 100, PerCredential: 1, Burst: 3})
	limited := 0
	for range 6 {
		switch status, _ := call(t, base, "POST", "/v1/webhooks/endpoints/whe_nope/signing-secret/rotate", "Bearer "+o.key, ""); status {
		case 429:
			limited++
		case 404:
		default:
			t.Fatalf("status %d", status)
		}
	}
	if limited < 2 {
		t.Fatalf("webhook writes were limited %d times in 6 calls at a burst of 3", limited)
	}
	if status, _ := call(t, base, "GET", "/v1/webhooks/endpoints", "Bearer "+o.key, ""); status != 200 {
		t.Fatalf("a read after the writes ran out: %d", status)
	}
}
