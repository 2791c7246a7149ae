package scenario

import (
	"strings"

	"github.com/google/uuid"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/internal/dnstest"
)

// domainCalls are the domain and redirect-URI operations, each answered
// against an expected status.
type domainCalls struct {
	r *runner
}

func (d domainCalls) start(by user, apex string, want int) *api.StartDnsChallengeResponse {
	x, err := d.r.c.StartDnsChallengeWithResponse(d.r.ctx, api.StartDnsChallengeJSONRequestBody{ApexDomain: apex}, d.r.bearer(by.token))
	d.r.expect("startDnsChallenge", x, err, want)
	return x
}

func (d domainCalls) verify(by user, id uuid.UUID, ack bool, want int) *api.VerifyDnsChallengeResponse {
	x, err := d.r.c.VerifyDnsChallengeWithResponse(d.r.ctx, api.VerifyDnsChallengeJSONRequestBody{ChallengeId: id, AcknowledgeTakeover: &ack}, d.r.bearer(by.token))
	d.r.expect("verifyDnsChallenge", x, err, want)
	return x
}

func (d domainCalls) list(by user, want int) {
	x, err := d.r.c.ListDomainsWithResponse(d.r.ctx, d.r.bearer(by.token))
	d.r.expect("listDomains", x, err, want)
}

func (d domainCalls) remove(by user, id uuid.UUID, want int) {
	x, err := d.r.c.DeleteDomainWithResponse(d.r.ctx, id, d.r.bearer(by.token))
	d.r.expect("deleteDomain", x, err, want)
}

func (d domainCalls) listURIs(by user, want int) {
	x, err := d.r.c.ListRedirectUrisWithResponse(d.r.ctx, d.r.bearer(by.token))
	d.r.expect("listRedirectUris", x, err, want)
}

func (d domainCalls) addURI(by user, pattern string, want int) *api.AddRedirectUriResponse {
	x, err := d.r.c.AddRedirectUriWithResponse(d.r.ctx, api.AddRedirectUriJSONRequestBody{Pattern: pattern}, d.r.bearer(by.token))
	d.r.expect("addRedirectUri", x, err, want)
	return x
}

func (d domainCalls) removeURI(by user, id uuid.UUID, want int) {
	x, err := d.r.c.DeleteRedirectUriWithResponse(d.r.ctx, id, d.r.bearer(by.token))
	d.r.expect("deleteRedirectUri", x, err, want)
}

// publish puts a challenge's TXT record in the scenario's DNS server.
func (r *runner) publish(ch *api.StartDnsChallengeResponse) {
	if ch != nil && ch.JSON200 != nil && r.o.DNS != nil {
		r.o.DNS.AddTXT(ch.JSON200.Data.RecordName, ch.JSON200.Data.RecordValue)
	}
}

// domains walks verification, takeover and redirect URIs for an
// organization whose owner, admin and member are given; nobody has no
// organization selected. It returns what the frozen walk needs.
func (r *runner) domains(owner, admin, member, nobody user) frozenDomains {
	d := domainCalls{r}
	apex := "acme-" + strings.ToLower(r.o.Prefix) + ".io"
	none := user{}
	some := uuid.New()

	d.list(none, 401)
	d.listURIs(none, 401)
	d.start(none, apex, 401)
	d.verify(none, some, false, 401)
	d.remove(none, some, 401)
	d.addURI(none, "https://"+apex+"/", 401)
	d.removeURI(none, some, 401)
	d.list(nobody, 403)
	d.listURIs(nobody, 403)
	d.start(nobody, apex, 403)
	d.verify(nobody, some, false, 403)
	d.remove(nobody, some, 403)
	d.addURI(nobody, "https://"+apex+"/", 403)
	d.removeURI(nobody, some, 403)

	// Challenge and verification.
	d.start(admin, apex, 403)
	d.start(owner, "co.uk", 400)
	ch := d.start(owner, "www."+apex, 200)
	if ch == nil || ch.JSON200 == nil {
		r.err = append(r.err, "cannot continue without a challenge")
		return frozenDomains{}
	}
	id := ch.JSON200.Data.ChallengeId
	d.verify(admin, id, false, 403)
	d.verify(owner, some, false, 404)
	d.verify(owner, id, false, 409) // not published yet
	bad, err := r.c.VerifyDnsChallengeWithBodyWithResponse(r.ctx, "application/json", strings.NewReader(`{"challenge_id":"not-a-uuid"}`), r.bearer(owner.token))
	r.expect("verifyDnsChallenge", bad, err, 400)
	if r.o.DNS != nil {
		name := ch.JSON200.Data.RecordName
		r.o.DNS.SetMode(name, dnstest.ServFail)
		d.verify(owner, id, false, 503)
		r.o.DNS.SetMode(name, dnstest.Garbage)
		d.verify(owner, id, false, 502)
		r.o.DNS.SetMode(name, dnstest.Normal)
	}
	r.publish(ch)
	v := d.verify(owner, id, false, 200)
	d.list(member, 200)
	domainID := uuid.Nil
	if v != nil && v.JSON200 != nil {
		domainID = v.JSON200.Data.DomainId
	}

	// Redirect URIs.
	d.addURI(owner, "http://app."+apex+"/cb", 400)
	d.addURI(owner, "https://localhost/cb", 400)
	d.addURI(admin, "https://app."+apex+"/cb", 403)
	d.addURI(owner, "https://app.elsewhere-"+strings.ToLower(r.o.Prefix)+".io/cb", 422)
	u := d.addURI(owner, "HTTPS://App."+apex+":443/cb", 200)
	d.addURI(owner, "https://app."+apex+"/cb", 200) // the same, once normalised
	d.listURIs(member, 200)
	d.removeURI(admin, some, 403)
	d.removeURI(owner, some, 404)
	if u != nil && u.JSON200 != nil {
		d.removeURI(owner, u.JSON200.Data.Id, 204)
	}
	keep := d.addURI(owner, "https://app."+apex+"/kept", 200)

	// Another organization takes the domain over.
	rival := r.user("rival")
	rc, err := r.c.CreateOrganizationWithResponse(r.ctx, api.CreateOrganizationJSONRequestBody{Name: "Rival " + r.o.Prefix, Slug: "rival-" + strings.ToLower(r.o.Prefix)}, r.bearer(rival.token))
	r.expect("createOrganization", rc, err, 200)
	rch := d.start(rival, apex, 200)
	if rch != nil && rch.JSON200 != nil {
		d.verify(rival, rch.JSON200.Data.ChallengeId, false, 409) // takeover not acknowledged
		r.publish(rch)
		d.verify(rival, rch.JSON200.Data.ChallengeId, true, 200)
	}
	// Taken back by the owner, so its redirect URI works again.
	back := d.start(owner, apex, 200)
	r.publish(back)
	if back != nil && back.JSON200 != nil {
		d.verify(owner, back.JSON200.Data.ChallengeId, true, 200)
	}

	// Removal.
	d.remove(admin, domainID, 403)
	d.remove(owner, some, 404)
	extra := d.start(owner, "extra-"+apex, 200)
	r.publish(extra)
	var extraID uuid.UUID
	if extra != nil && extra.JSON200 != nil {
		if ev := d.verify(owner, extra.JSON200.Data.ChallengeId, false, 200); ev != nil && ev.JSON200 != nil {
			extraID = ev.JSON200.Data.DomainId
		}
	}
	d.remove(owner, extraID, 204)

	f := frozenDomains{domainID: domainID, challengeID: id}
	if keep != nil && keep.JSON200 != nil {
		f.uriID = keep.JSON200.Data.Id
	}
	if p := d.start(owner, "later-"+apex, 200); p != nil && p.JSON200 != nil {
		f.challengeID = p.JSON200.Data.ChallengeId
	}
	return f
}

// frozenDomains is what the walk over a frozen organization refers to.
type frozenDomains struct {
	domainID, challengeID, uriID uuid.UUID
}

// domainsFrozen: every change answers 410 once the organization is
// scheduled for deletion; the lists still answer.
func (r *runner) domainsFrozen(owner user, f frozenDomains) {
	d := domainCalls{r}
	apex := "acme-" + strings.ToLower(r.o.Prefix) + ".io"
	d.start(owner, apex, 410)
	d.verify(owner, f.challengeID, false, 410)
	d.remove(owner, f.domainID, 410)
	d.addURI(owner, "https://app."+apex+"/late", 410)
	d.removeURI(owner, f.uriID, 410)
	d.list(owner, 200)
	d.listURIs(owner, 200)
}
