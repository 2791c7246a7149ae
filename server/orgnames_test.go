package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
)

const msgInvalidName = "Organization name must be between 1 and 120 characters and cannot contain control characters."

// Organization names follow upstream's rule on create and update: trimmed
// as JavaScript trims, 1..120 UTF-16 units, no C0 control or DEL; a
// refused name is 400 INVALID_ORGANIZATION_NAME, after the role check and
// the slug's, and changes nothing.
func TestOrganizationNameRule(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner, member := e.person("owner"), e.person("member")
		orgID := e.org(owner, "names-"+string(e.kind))
		e.join(owner, member, "member")
		e.org(e.person("other"), "names-taken-"+string(e.kind))
		create := func(name, slug string) answer {
			b, _ := json.Marshal(map[string]string{"name": name, "slug": slug})
			return e.call(t, "POST", "/v1/auth/orgs", e.person("creator").Token, string(b))
		}
		update := func(p person, fields map[string]string) answer {
			b, _ := json.Marshal(map[string]any{"data": fields})
			return e.call(t, "POST", "/v1/auth/organization/update", p.Token, string(b))
		}
		storedName := func() string {
			var n string
			if err := e.st.DB().QueryRow(`SELECT name FROM organizations WHERE id = $1`, orgID.String()).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := storedName()
		emoji := func(n int) string { return strings.Repeat("\U0001F600", n) }
		for i, bad := range []string{"Acme\nInc", "Acme\r\n\r\nACTION REQUIRED", "Acme\rInc", "\u001cAcme", "Acme\u007f", "Acme\tInc", "   ", emoji(61)} {
			env := wantError(t, create(bad, "bad-name-"+string(rune('a'+i))), 400, "INVALID_ORGANIZATION_NAME", msgInvalidName)
			if env.Error.Docs != "https://kayle.id/docs/api/errors#bad_request" {
				t.Errorf("docs %q", env.Error.Docs)
			}
			wantError(t, update(owner, map[string]string{"name": bad}), 400, "INVALID_ORGANIZATION_NAME", msgInvalidName)
		}
		if got := storedName(); got != before {
			t.Fatalf("a refused name was stored: %q", got)
		}
		// Upstream's order: the role first, then the slug, then the name.
		wantError(t, update(member, map[string]string{"name": "Acme\nInc"}), 403, "FORBIDDEN", "")
		wantError(t, update(owner, map[string]string{"name": "Acme\nInc", "slug": "names-taken-" + string(e.kind)}), 400, "SLUG_TAKEN", "")
		// Trimmed as JavaScript trims; counted in UTF-16 units; C1 and
		// format characters are text, as upstream.
		for sent, kept := range map[string]string{"Acme\n": "Acme", "\u000bAcme\u000b": "Acme", "\ufeffAcme\u3000": "Acme", emoji(60): emoji(60),
			"Acme\u0085Inc": "Acme\u0085Inc", "Acme\u200bInc": "Acme\u200bInc"} {
			wantStatus(t, update(owner, map[string]string{"name": sent}), 200)
			if got := storedName(); got != kept {
				t.Errorf("update %q stored %q, want %q", sent, got, kept)
			}
		}
		wantStatus(t, create(" Acme\n", "good-name-"+string(e.kind)), 200)
	})
}

// A name stored with control characters (before the rule, or written
// around it) still cannot write into another organization's mail: the
// takeover notice reaches a real SMTP relay with the name quoted, and with
// CRLF line ends only, so no bare-CR "\r.\r\n" ends DATA early.
func TestStoredNameCannotWriteMail(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		loser, winner := e.person("loser"), e.person("winner")
		e.org(loser, "loser-"+string(e.kind))
		winnerOrg := e.org(winner, "winner-"+string(e.kind))
		const hostile = "Acme\r\n\r\nACTION REQUIRED: re-verify at https://evil.example/\r.\r\nRSET\r\nQUIT"
		if _, err := e.st.DB().Exec(`UPDATE organizations SET name = $1 WHERE id = $2`, hostile, winnerOrg.String()); err != nil {
			t.Fatal(err)
		}
		e.verifyDomain(loser, "smuggle.io", false)
		e.verifyDomain(winner, "smuggle.io", true)

		relay := newRelay(t)
		relay.replies <- "250 queued"
		mailer, err := mail.NewSMTP("smtp://"+relay.addr, "Kayle ID <no-reply@kayle.id>", nil)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := server.DeliverMail(ctx, e.st, mailer, nil, nil); err != nil || n != 1 {
			t.Fatalf("delivered %d: %v", n, err)
		}
		var msg string
		select {
		case msg = <-relay.messages:
		case <-time.After(10 * time.Second):
			t.Fatal("the relay received no message")
		}
		for i := 0; i < len(msg); i++ {
			if msg[i] == '\r' && (i+1 == len(msg) || msg[i+1] != '\n') || msg[i] == '\n' && (i == 0 || msg[i-1] != '\r') {
				t.Fatalf("a line end other than CRLF at %d: %q", i, msg)
			}
		}
		if !strings.Contains(msg, `"Acme\r\n\r\nACTION REQUIRED: re-verify at https://evil.example/\r.\r\nRSET\r\nQUIT"`) {
			t.Fatalf("the name is not quoted: %q", msg)
		}
		for _, line := range strings.Split(msg, "\r\n") {
			if strings.HasPrefix(line, "ACTION REQUIRED") || line == "RSET" || line == "QUIT" || strings.HasPrefix(line, ".") {
				t.Fatalf("the name wrote the line %q into the mail: %q", line, msg)
			}
		}
		if !strings.Contains(msg, mail.DomainsURL) {
			t.Fatalf("the relay did not receive the whole message: %q", msg)
		}
	})
}
