// Package scenario is a scripted walk through every operation and every
// status the server can be made to answer from outside: the conformance
// scenario. It speaks only HTTP (through the generated client), so it can
// run against the server directly or through a contract-checking proxy
// (`make contract` puts Stoplight Prism in between).
package scenario

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/internal/dnstest"
	"github.com/kayle-id/orgs-api/internal/testimg"
	"github.com/kayle-id/orgs-api/store"
)

// Admin makes users and tokens out of band (the CLI's job in real life).
type Admin interface {
	NewUser(ctx context.Context, email, name string) error
	Token(ctx context.Context, email string) (string, error)
}

// Result counts what the scenario did.
type Result struct {
	Calls    int
	Statuses map[string]map[int]int // operation -> status -> count
}

// Options configures a run.
type Options struct {
	BaseURL string
	Admin   Admin
	// MailDir is the server's outbox, where deletion codes arrive.
	MailDir string
	// Check, when set, inspects every raw response (the contract tool looks
	// for the proxy's violation report here).
	Check func(op string, resp *http.Response) error
	// Prefix keeps names unique when several runs share a database.
	Prefix string
	// Anonymous, when set, is the bearer token sent by "unauthenticated"
	// calls instead of none. Prism answers a call without credentials
	// itself, so the contract run sends a token that is no session's.
	Anonymous string
	// DNS is the DNS server the server's resolver asks: the scenario
	// publishes verification records there and makes it misbehave.
	DNS *dnstest.Server
}

type runner struct {
	ctx context.Context
	o   Options
	c   *api.ClientWithResponses
	res Result
	err []string
}

type answer interface {
	StatusCode() int
	GetBody() []byte
}

func (r *runner) expect(op string, a answer, err error, want int) {
	r.res.Calls++
	if err != nil {
		r.err = append(r.err, fmt.Sprintf("%s: %v", op, err))
		return
	}
	if r.res.Statuses[op] == nil {
		r.res.Statuses[op] = map[int]int{}
	}
	r.res.Statuses[op][a.StatusCode()]++
	if a.StatusCode() != want {
		r.err = append(r.err, fmt.Sprintf("%s: got %d %s, want %d", op, a.StatusCode(), a.GetBody(), want))
	}
}

func (r *runner) bearer(tok string) api.RequestEditorFn {
	if tok == "" {
		tok = r.o.Anonymous
	}
	return bearer(tok)
}

func bearer(tok string) api.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		return nil
	}
}

type checkingDoer struct {
	check func(op string, resp *http.Response) error
	errs  *[]string
}

func (d checkingDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err == nil && d.check != nil {
		if cerr := d.check(req.Method+" "+req.URL.Path, resp); cerr != nil {
			*d.errs = append(*d.errs, cerr.Error())
		}
	}
	return resp, err
}

type user struct {
	email, token string
}

func (r *runner) user(name string) user {
	email := fmt.Sprintf("%s-%s@example.com", r.o.Prefix, name)
	if err := r.o.Admin.NewUser(r.ctx, email, name); err != nil {
		r.err = append(r.err, fmt.Sprintf("user %s: %v", name, err))
	}
	tok, err := r.o.Admin.Token(r.ctx, email)
	if err != nil {
		r.err = append(r.err, fmt.Sprintf("token %s: %v", name, err))
	}
	return user{email, tok}
}

var codeLine = regexp.MustCompile(`Confirmation code: ([A-Z0-9]{8})`)

func (r *runner) lastCode(email string) string {
	files, _ := filepath.Glob(filepath.Join(r.o.MailDir, "*.eml"))
	sort.Strings(files)
	for i := len(files) - 1; i >= 0; i-- {
		raw, _ := os.ReadFile(files[i])
		if strings.Contains(string(raw), "<"+email+">") {
			if m := codeLine.FindStringSubmatch(string(raw)); m != nil {
				return m[1]
			}
		}
	}
	r.err = append(r.err, "no deletion code mailed to "+email)
	return "XXXXXXXX"
}

// Run walks the scenario and reports every unexpected answer.
func Run(ctx context.Context, o Options) (Result, error) {
	r := &runner{ctx: ctx, o: o, res: Result{Statuses: map[string]map[int]int{}}}
	if r.o.Prefix == "" {
		r.o.Prefix = uuid.NewString()[:8]
	}
	c, err := api.NewClientWithResponses(o.BaseURL, api.WithHTTPClient(checkingDoer{o.Check, &r.err}))
	if err != nil {
		return r.res, err
	}
	r.c = c
	r.walk()
	if len(r.err) > 0 {
		return r.res, fmt.Errorf("%d problems:\n  %s", len(r.err), strings.Join(r.err, "\n  "))
	}
	return r.res, nil
}

func (r *runner) walk() {
	ctx, c, p := r.ctx, r.c, r.o.Prefix
	owner, admin, member, newcomer, outsider := r.user("owner"), r.user("admin"), r.user("member"), r.user("newcomer"), r.user("outsider")
	none := ""

	// Unauthenticated calls: 401 everywhere.
	{
		a, err := c.LeaveOrganizationWithResponse(ctx, r.bearer(none))
		r.expect("leaveOrganization", a, err, 401)
		b, err := c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{}, r.bearer("kid_wrong"))
		r.expect("listAuditLogs", b, err, 401)
		d, err := c.ListOwnedOrganizationsWithResponse(ctx, r.bearer(none))
		r.expect("listOwnedOrganizations", d, err, 401)
		e, err := c.LegacyLeaveOrganizationWithResponse(ctx, r.bearer(none))
		r.expect("legacyLeaveOrganization", e, err, 401)
		f, err := c.LegacyRemoveMemberWithResponse(ctx, r.bearer(none))
		r.expect("legacyRemoveMember", f, err, 401)
		g, err := c.ListMembersWithResponse(ctx, &api.ListMembersParams{}, r.bearer(none))
		r.expect("listMembers", g, err, 401)
	}
	// No organization selected yet: 403.
	{
		a, err := c.LeaveOrganizationWithResponse(ctx, r.bearer(owner.token))
		r.expect("leaveOrganization", a, err, 403)
		b, err := c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{}, r.bearer(owner.token))
		r.expect("listAuditLogs", b, err, 403)
		d, err := c.ListMembersWithResponse(ctx, &api.ListMembersParams{}, r.bearer(owner.token))
		r.expect("listMembers", d, err, 403)
	}
	// Create an organization (400 for a bad slug, 200, 400 for a taken one).
	bad, err := c.CreateOrganizationWithBodyWithResponse(ctx, "application/json", strings.NewReader(`{"name":"A","slug":"Not A Slug"}`), r.bearer(owner.token))
	r.expect("createOrganization", bad, err, 400)
	created, err := c.CreateOrganizationWithResponse(ctx, api.CreateOrganizationJSONRequestBody{Name: "Acme " + p, Slug: "acme-" + p}, r.bearer(owner.token))
	r.expect("createOrganization", created, err, 200)
	if created == nil || created.JSON200 == nil {
		r.err = append(r.err, "cannot continue without an organization")
		return
	}
	orgID := uuid.MustParse(created.JSON200.Data.Id)
	taken, err := c.CreateOrganizationWithResponse(ctx, api.CreateOrganizationJSONRequestBody{Name: "Again", Slug: "acme-" + p}, r.bearer(owner.token))
	r.expect("createOrganization", taken, err, 400)
	owned, err := c.ListOwnedOrganizationsWithResponse(ctx, r.bearer(owner.token))
	r.expect("listOwnedOrganizations", owned, err, 200)

	// Select it: 404 for a stranger, 200 for the owner.
	sa, err := c.SetActiveOrganizationWithResponse(ctx, api.SetActiveOrganizationJSONRequestBody{OrganizationId: orgID}, r.bearer(outsider.token))
	r.expect("setActiveOrganization", sa, err, 404)
	sa, err = c.SetActiveOrganizationWithResponse(ctx, api.SetActiveOrganizationJSONRequestBody{OrganizationId: orgID}, r.bearer(owner.token))
	r.expect("setActiveOrganization", sa, err, 200)
	sa, err = c.SetActiveOrganizationWithResponse(ctx, api.SetActiveOrganizationJSONRequestBody{OrganizationId: orgID}, r.bearer(none))
	r.expect("setActiveOrganization", sa, err, 401)

	// Invitations.
	invite := func(by user, email string, role api.MemberRole, want int) *api.CreateInvitationResponse {
		x, err := c.CreateInvitationWithResponse(ctx, api.CreateInvitationJSONRequestBody{Email: openapi_types.Email(email), Role: role}, r.bearer(by.token))
		r.expect("createInvitation", x, err, want)
		return x
	}
	accept := func(by user, id uuid.UUID, want int) *api.AcceptInvitationResponse {
		x, err := c.AcceptInvitationWithResponse(ctx, id, r.bearer(by.token))
		r.expect("acceptInvitation", x, err, want)
		return x
	}
	invite(user{}, admin.email, api.MemberRoleAdmin, 401)
	invite(outsider, admin.email, api.MemberRoleAdmin, 403)
	ia := invite(owner, admin.email, api.MemberRoleAdmin, 200)
	invite(owner, admin.email, api.MemberRoleAdmin, 409)
	im := invite(owner, member.email, api.MemberRoleMember, 200)
	if ia == nil || ia.JSON200 == nil || im == nil || im.JSON200 == nil {
		r.err = append(r.err, "cannot continue without invitations")
		return
	}
	accept(user{}, ia.JSON200.Data.Id, 401)
	accept(outsider, ia.JSON200.Data.Id, 404)
	adm := accept(admin, ia.JSON200.Data.Id, 200)
	mem := accept(member, im.JSON200.Data.Id, 200)
	if adm == nil || adm.JSON200 == nil || mem == nil || mem.JSON200 == nil {
		r.err = append(r.err, "cannot continue without members")
		return
	}
	adminID, memberID := adm.JSON200.Data.MemberId, mem.JSON200.Data.MemberId
	invite(member, newcomer.email, api.MemberRoleMember, 403)
	in := invite(admin, newcomer.email, api.MemberRoleMember, 200)

	// Pending invitations: listed and cancelled by owners and admins.
	listInv := func(by user, want int) {
		x, err := c.ListInvitationsWithResponse(ctx, &api.ListInvitationsParams{}, r.bearer(by.token))
		r.expect("listInvitations", x, err, want)
	}
	cancelInv := func(by user, id uuid.UUID, want int) {
		x, err := c.CancelInvitationWithResponse(ctx, id, r.bearer(by.token))
		r.expect("cancelInvitation", x, err, want)
	}
	listInv(user{}, 401)
	listInv(member, 403)
	listInv(admin, 200)
	if spare := invite(owner, "spare-"+p+"@example.com", api.MemberRoleMember, 200); spare != nil && spare.JSON200 != nil {
		cancelInv(user{}, spare.JSON200.Data.Id, 401)
		cancelInv(member, spare.JSON200.Data.Id, 403)
		cancelInv(owner, uuid.New(), 404)
		cancelInv(admin, spare.JSON200.Data.Id, 200)
		cancelInv(admin, spare.JSON200.Data.Id, 404)
	}

	// Members list and roles.
	lm, err := c.ListMembersWithResponse(ctx, &api.ListMembersParams{}, r.bearer(member.token))
	r.expect("listMembers", lm, err, 200)
	role := func(by user, id uuid.UUID, to api.MemberRole, want int) {
		x, err := c.UpdateMemberRoleWithResponse(ctx, id, api.UpdateMemberRoleJSONRequestBody{Role: to}, r.bearer(by.token))
		r.expect("updateMemberRole", x, err, want)
	}
	role(user{}, memberID, api.MemberRoleAdmin, 401)
	role(member, adminID, api.MemberRoleMember, 403)
	role(owner, uuid.New(), api.MemberRoleAdmin, 404)
	ownerID := uuid.Nil
	if lm != nil && lm.JSON200 != nil {
		for _, m := range lm.JSON200.Data {
			if m.Email == owner.email {
				ownerID = m.Id
			}
		}
	}
	role(owner, ownerID, api.MemberRoleAdmin, 409)
	role(owner, memberID, api.MemberRoleAdmin, 200)
	role(owner, memberID, api.MemberRoleMember, 200)

	// Leave: 409 for the last owner, 200 for the member, then 403.
	lv, err := c.LeaveOrganizationWithResponse(ctx, r.bearer(owner.token))
	r.expect("leaveOrganization", lv, err, 409)
	lv, err = c.LeaveOrganizationWithResponse(ctx, r.bearer(member.token))
	r.expect("leaveOrganization", lv, err, 200)
	lv, err = c.LeaveOrganizationWithResponse(ctx, r.bearer(member.token))
	r.expect("leaveOrganization", lv, err, 403)
	sa, err = c.SetActiveOrganizationWithResponse(ctx, api.SetActiveOrganizationJSONRequestBody{OrganizationId: orgID}, r.bearer(member.token))
	r.expect("setActiveOrganization", sa, err, 403)

	// Suspend and reinstate.
	sus := func(by user, id uuid.UUID, want int) {
		x, err := c.SuspendMemberWithResponse(ctx, id, r.bearer(by.token))
		r.expect("suspendMember", x, err, want)
	}
	rein := func(by user, id uuid.UUID, want int) {
		x, err := c.ReinstateMemberWithResponse(ctx, id, r.bearer(by.token))
		r.expect("reinstateMember", x, err, want)
	}
	sus(user{}, adminID, 401)
	sus(member, adminID, 403)
	sus(owner, uuid.New(), 404)
	sus(admin, ownerID, 409)
	rein(user{}, memberID, 401)
	rein(member, memberID, 403)
	rein(owner, adminID, 404)
	rein(admin, memberID, 200)
	sus(admin, memberID, 200)
	// Conflicts: an invitation accepted by someone already active (409), and
	// a suspended row reinstated while the user is active through another (409).
	again := invite(owner, member.email, api.MemberRoleMember, 200)
	rein(owner, memberID, 200)
	if again != nil && again.JSON200 != nil {
		accept(member, again.JSON200.Data.Id, 409)
		sus(owner, memberID, 200)
		accept(member, again.JSON200.Data.Id, 200)
		accept(member, again.JSON200.Data.Id, 404)
	}
	rein(owner, memberID, 409)

	// Audit log: owner/admin only, paginated.
	limit := 2
	al, err := c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{Limit: &limit}, r.bearer(admin.token))
	r.expect("listAuditLogs", al, err, 200)
	al, err = c.ListAuditLogsWithResponse(ctx, &api.ListAuditLogsParams{}, r.bearer(member.token))
	r.expect("listAuditLogs", al, err, 403)

	// Legacy endpoints.
	l1, err := c.LegacyLeaveOrganizationWithResponse(ctx, r.bearer(owner.token))
	r.expect("legacyLeaveOrganization", l1, err, 410)
	l2, err := c.LegacyRemoveMemberWithResponse(ctx, r.bearer(owner.token))
	r.expect("legacyRemoveMember", l2, err, 410)

	// Organization administration: API keys, logo, details, terms.
	keys := r.administer(owner, admin, member, outsider, orgID)
	// Verified domains and redirect URIs.
	fd := r.domains(owner, admin, member, outsider)
	// The relying-party API: API keys, verification sessions, analytics.
	rp := r.sessions(owner, admin, member, outsider, orgID)
	// The public verify routes, on a session of the walk's key.
	r.verify(rp)
	// Webhooks and events.
	wh := r.webhooks(admin, member, outsider)

	// Deletion: 401/403/404, codes, 409, 410 everywhere, cancel.
	reqDel := func(by user, id uuid.UUID, want int) {
		x, err := c.RequestOrganizationDeletionWithResponse(ctx, api.RequestOrganizationDeletionJSONRequestBody{OrganizationId: id}, r.bearer(by.token))
		r.expect("requestOrganizationDeletion", x, err, want)
	}
	confirm := func(by user, id uuid.UUID, code string, want int) {
		x, err := c.ConfirmOrganizationDeletionWithResponse(ctx, api.ConfirmOrganizationDeletionJSONRequestBody{OrganizationId: id, Code: code}, r.bearer(by.token))
		r.expect("confirmOrganizationDeletion", x, err, want)
	}
	cancel := func(by user, id uuid.UUID, want int) {
		x, err := c.CancelOrganizationDeletionWithResponse(ctx, api.CancelOrganizationDeletionJSONRequestBody{OrganizationId: id}, r.bearer(by.token))
		r.expect("cancelOrganizationDeletion", x, err, want)
	}
	badBody := func(op string, send func() (answer, error)) {
		x, err := send()
		r.expect(op, x, err, 400)
	}
	reqDel(user{}, orgID, 401)
	reqDel(outsider, orgID, 404)
	reqDel(admin, orgID, 403)
	badBody("requestOrganizationDeletion", func() (answer, error) {
		return c.RequestOrganizationDeletionWithBodyWithResponse(ctx, "application/json", strings.NewReader(`{}`), r.bearer(owner.token))
	})
	confirm(user{}, orgID, "AAAAAAAA", 401)
	confirm(outsider, orgID, "AAAAAAAA", 404)
	confirm(admin, orgID, "AAAAAAAA", 403)
	cancel(user{}, orgID, 401)
	cancel(outsider, orgID, 404)
	cancel(member, orgID, 403)
	cancel(owner, orgID, 404) // not scheduled
	badBody("cancelOrganizationDeletion", func() (answer, error) {
		return c.CancelOrganizationDeletionWithBodyWithResponse(ctx, "application/json", strings.NewReader(`{"organizationId":"x"}`), r.bearer(owner.token))
	})
	reqDel(owner, orgID, 200)
	confirm(owner, orgID, "WRONG123", 400)
	confirm(owner, orgID, r.lastCode(owner.email), 200)
	reqDel(owner, orgID, 409)
	confirm(owner, orgID, "AAAAAAAA", 409)
	lv, err = c.LeaveOrganizationWithResponse(ctx, r.bearer(admin.token))
	r.expect("leaveOrganization", lv, err, 410)
	sus(owner, adminID, 410)
	rein(owner, memberID, 410)
	role(owner, adminID, api.MemberRoleMember, 410)
	invite(owner, "late-"+p+"@example.com", api.MemberRoleMember, 410)
	if in != nil && in.JSON200 != nil {
		accept(newcomer, in.JSON200.Data.Id, 410)
		cancelInv(owner, in.JSON200.Data.Id, 410)
	}
	r.administerFrozen(owner, admin, orgID, keys)
	r.sessionsFrozen(admin, rp)
	r.webhooksFrozen(admin, wh)
	r.domainsFrozen(owner, fd)
	cancel(admin, orgID, 200)
}

// administered is what the administration walk leaves for the frozen one.
type administered struct {
	keyID uuid.UUID
}

func jsonBody(s string) *strings.Reader { return strings.NewReader(s) }

// administer walks the organization administration operations through
// every status reachable from outside before a deletion is scheduled.
func (r *runner) administer(owner, admin, member, outsider user, orgID uuid.UUID) administered {
	ctx, c := r.ctx, r.c
	var out administered
	const ct = "application/json"
	keyBody := `{"name":"Production","permissions":["sessions:read","sessions:write"],"metadata":{"team":"payments","tier":2,"live":true}}`

	// API keys.
	lk, err := c.ListApiKeysWithResponse(ctx, &api.ListApiKeysParams{}, r.bearer(""))
	r.expect("listApiKeys", lk, err, 401)
	lk, err = c.ListApiKeysWithResponse(ctx, &api.ListApiKeysParams{}, r.bearer(outsider.token))
	r.expect("listApiKeys", lk, err, 403)
	lk, err = c.ListApiKeysWithResponse(ctx, &api.ListApiKeysParams{}, r.bearer(member.token))
	r.expect("listApiKeys", lk, err, 403)
	ck, err := c.CreateApiKeyWithBodyWithResponse(ctx, ct, jsonBody(keyBody), r.bearer(""))
	r.expect("createApiKey", ck, err, 401)
	ck, err = c.CreateApiKeyWithBodyWithResponse(ctx, ct, jsonBody(keyBody), r.bearer(member.token))
	r.expect("createApiKey", ck, err, 403)
	ck, err = c.CreateApiKeyWithBodyWithResponse(ctx, ct, jsonBody(`{"name":"x","permissions":["everything"]}`), r.bearer(admin.token))
	r.expect("createApiKey", ck, err, 400)
	ck, err = c.CreateApiKeyWithBodyWithResponse(ctx, ct, jsonBody(keyBody), r.bearer(admin.token))
	r.expect("createApiKey", ck, err, 200)
	if ck != nil && ck.JSON200 != nil {
		out.keyID = uuid.MustParse(ck.JSON200.Data.Id)
	}
	ck, err = c.CreateApiKeyWithBodyWithResponse(ctx, ct, jsonBody(`{"name":"Second","permissions":["analytics:read"]}`), r.bearer(owner.token))
	r.expect("createApiKey", ck, err, 200)
	limit := 1
	lk, err = c.ListApiKeysWithResponse(ctx, &api.ListApiKeysParams{Limit: &limit}, r.bearer(admin.token))
	r.expect("listApiKeys", lk, err, 200)
	uk, err := c.UpdateApiKeyWithBodyWithResponse(ctx, out.keyID, ct, jsonBody(`{"enabled":false}`), r.bearer(""))
	r.expect("updateApiKey", uk, err, 401)
	uk, err = c.UpdateApiKeyWithBodyWithResponse(ctx, out.keyID, ct, jsonBody(`{"enabled":false}`), r.bearer(member.token))
	r.expect("updateApiKey", uk, err, 403)
	uk, err = c.UpdateApiKeyWithBodyWithResponse(ctx, uuid.New(), ct, jsonBody(`{"enabled":false}`), r.bearer(admin.token))
	r.expect("updateApiKey", uk, err, 400)
	uk, err = c.UpdateApiKeyWithBodyWithResponse(ctx, out.keyID, ct, jsonBody(`{"name":"Renamed","enabled":false,"permissions":["webhooks:read"],"metadata":{}}`), r.bearer(admin.token))
	r.expect("updateApiKey", uk, err, 200)
	if ck != nil && ck.JSON200 != nil {
		second := uuid.MustParse(ck.JSON200.Data.Id)
		dk, err := c.DeleteApiKeyWithResponse(ctx, second, r.bearer(""))
		r.expect("deleteApiKey", dk, err, 401)
		dk, err = c.DeleteApiKeyWithResponse(ctx, second, r.bearer(member.token))
		r.expect("deleteApiKey", dk, err, 403)
		dk, err = c.DeleteApiKeyWithResponse(ctx, second, r.bearer(owner.token))
		r.expect("deleteApiKey", dk, err, 200)
		dk, err = c.DeleteApiKeyWithResponse(ctx, second, r.bearer(owner.token))
		r.expect("deleteApiKey", dk, err, 400)
	}

	// Logo: upload, then make it the organization's.
	logo := `{"logo":{"data":"` + testimg.Base64(testimg.PNG(16, 16)) + `","contentType":"image/png"}}`
	ul, err := c.UploadOrganizationLogoWithBodyWithResponse(ctx, ct, jsonBody(logo), r.bearer(""))
	r.expect("uploadOrganizationLogo", ul, err, 401)
	ul, err = c.UploadOrganizationLogoWithBodyWithResponse(ctx, ct, jsonBody(logo), r.bearer(member.token))
	r.expect("uploadOrganizationLogo", ul, err, 403)
	ul, err = c.UploadOrganizationLogoWithBodyWithResponse(ctx, ct, jsonBody(`{"logo":{"data":"`+testimg.Base64(testimg.PNG(2, 2))+`","contentType":"image/jpeg"}}`), r.bearer(admin.token))
	r.expect("uploadOrganizationLogo", ul, err, 400)
	ul, err = c.UploadOrganizationLogoWithBodyWithResponse(ctx, ct, jsonBody(logo), r.bearer(admin.token))
	r.expect("uploadOrganizationLogo", ul, err, 200)
	logoURL := "null"
	if ul != nil && ul.JSON200 != nil {
		logoURL = `"` + ul.JSON200.Data.Logo + `"`
	}
	uo, err := c.UpdateOrganizationWithBodyWithResponse(ctx, ct, jsonBody(`{"data":{"logo":`+logoURL+`}}`), r.bearer(""))
	r.expect("updateOrganization", uo, err, 401)
	uo, err = c.UpdateOrganizationWithBodyWithResponse(ctx, ct, jsonBody(`{"data":{"logo":`+logoURL+`}}`), r.bearer(member.token))
	r.expect("updateOrganization", uo, err, 403)
	uo, err = c.UpdateOrganizationWithBodyWithResponse(ctx, ct, jsonBody(`{"data":{"logo":"https://elsewhere.example/logos/`+uuid.NewString()+`"}}`), r.bearer(admin.token))
	r.expect("updateOrganization", uo, err, 400)
	uo, err = c.UpdateOrganizationWithBodyWithResponse(ctx, ct, jsonBody(`{"data":{"name":"Acme `+r.o.Prefix+` Ltd","logo":`+logoURL+`}}`), r.bearer(admin.token))
	r.expect("updateOrganization", uo, err, 200)

	// Business details (owners only).
	bd := func(by user, body string, want int) {
		x, err := c.UpdateBusinessDetailsWithBodyWithResponse(ctx, ct, jsonBody(body), r.bearer(by.token))
		r.expect("updateBusinessDetails", x, err, want)
	}
	bd(user{}, `{"business_name":"Acme"}`, 401)
	bd(outsider, `{"business_name":"Acme"}`, 403)
	bd(admin, `{"business_name":"Acme"}`, 403)
	bd(owner, `{"business_type":"partnership"}`, 400)
	bd(owner, `{"business_name":"Acme\u0007"}`, 400)
	bd(owner, `{"business_type":"business","business_name":"  Acme Inc. ","business_jurisdiction":"England and Wales","business_registration_number":null}`, 200)

	// Verification terms (the organization named in the body).
	vt := func(by user, body string, want int) {
		x, err := c.AcceptVerificationTermsWithBodyWithResponse(ctx, ct, jsonBody(body), r.bearer(by.token))
		r.expect("acceptVerificationTerms", x, err, want)
	}
	named := `{"organizationId":"` + orgID.String() + `"}`
	vt(user{}, named, 401)
	vt(owner, `{"organizationId":"not-a-uuid"}`, 400)
	vt(owner, `{"organizationId":"`+uuid.NewString()+`"}`, 404)
	vt(admin, named, 403)
	vt(owner, named, 200)
	vt(owner, named, 200) // already on file

	// Kayle ID Integration Terms (the active organization).
	gt, err := c.GetRpTermsWithResponse(ctx, r.bearer(""))
	r.expect("getRpTerms", gt, err, 401)
	gt, err = c.GetRpTermsWithResponse(ctx, r.bearer(outsider.token))
	r.expect("getRpTerms", gt, err, 403)
	gt, err = c.GetRpTermsWithResponse(ctx, r.bearer(member.token))
	r.expect("getRpTerms", gt, err, 200)
	at, err := c.AcceptRpTermsWithResponse(ctx, r.bearer(""))
	r.expect("acceptRpTerms", at, err, 401)
	at, err = c.AcceptRpTermsWithResponse(ctx, r.bearer(outsider.token))
	r.expect("acceptRpTerms", at, err, 403)
	at, err = c.AcceptRpTermsWithResponse(ctx, r.bearer(admin.token))
	r.expect("acceptRpTerms", at, err, 403)
	at, err = c.AcceptRpTermsWithResponse(ctx, r.bearer(owner.token))
	r.expect("acceptRpTerms", at, err, 200)
	gt, err = c.GetRpTermsWithResponse(ctx, r.bearer(admin.token))
	r.expect("getRpTerms", gt, err, 200)
	return out
}

// administerFrozen checks the administration operations' 410s once the
// organization is scheduled for deletion.
func (r *runner) administerFrozen(owner, admin user, orgID uuid.UUID, adm administered) {
	ctx, c := r.ctx, r.c
	const ct = "application/json"
	ck, err := c.CreateApiKeyWithBodyWithResponse(ctx, ct, jsonBody(`{"name":"Late","permissions":["sessions:read"]}`), r.bearer(admin.token))
	r.expect("createApiKey", ck, err, 410)
	uk, err := c.UpdateApiKeyWithBodyWithResponse(ctx, adm.keyID, ct, jsonBody(`{"enabled":true}`), r.bearer(admin.token))
	r.expect("updateApiKey", uk, err, 410)
	dk, err := c.DeleteApiKeyWithResponse(ctx, adm.keyID, r.bearer(owner.token))
	r.expect("deleteApiKey", dk, err, 410)
	lk, err := c.ListApiKeysWithResponse(ctx, &api.ListApiKeysParams{}, r.bearer(owner.token))
	r.expect("listApiKeys", lk, err, 200)
	ul, err := c.UploadOrganizationLogoWithBodyWithResponse(ctx, ct,
		jsonBody(`{"logo":{"data":"`+testimg.Base64(testimg.GIF(4, 4))+`","contentType":"image/gif"}}`), r.bearer(admin.token))
	r.expect("uploadOrganizationLogo", ul, err, 410)
	uo, err := c.UpdateOrganizationWithBodyWithResponse(ctx, ct, jsonBody(`{"data":{"name":"Too late"}}`), r.bearer(admin.token))
	r.expect("updateOrganization", uo, err, 410)
	bd, err := c.UpdateBusinessDetailsWithBodyWithResponse(ctx, ct, jsonBody(`{"business_name":"Too late"}`), r.bearer(owner.token))
	r.expect("updateBusinessDetails", bd, err, 410)
	vt, err := c.AcceptVerificationTermsWithBodyWithResponse(ctx, ct, jsonBody(`{"organizationId":"`+orgID.String()+`"}`), r.bearer(owner.token))
	r.expect("acceptVerificationTerms", vt, err, 410)
	at, err := c.AcceptRpTermsWithResponse(ctx, r.bearer(owner.token))
	r.expect("acceptRpTerms", at, err, 410)
	gt, err := c.GetRpTermsWithResponse(ctx, r.bearer(owner.token))
	r.expect("getRpTerms", gt, err, 200)
}

// StoreAdmin makes users and tokens directly in the store, as the CLI does.
type StoreAdmin struct{ Store *store.Store }

// NewUser creates a user.
func (a StoreAdmin) NewUser(ctx context.Context, email, name string) error {
	_, err := a.Store.CreateUser(ctx, email, name)
	return err
}

// Token issues an hour-long session token for the user.
func (a StoreAdmin) Token(ctx context.Context, email string) (string, error) {
	t, err := a.Store.CreateSession(ctx, email, nil, time.Hour)
	return t.Token, err
}
