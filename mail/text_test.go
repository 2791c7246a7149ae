package mail_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	kmail "github.com/kayle-id/orgs-api/mail"
)

// hostileName is what a rival organization might be named: lines of its
// own, and a bare-CR end of DATA followed by a command.
const hostileName = "Acme\r\n\r\nACTION REQUIRED: re-verify at https://evil.example/\r.\r\nRSET\r\nMAIL FROM:<x@evil.example>\n.\nQUIT"

// onlyCRLF fails unless every CR in s is followed by LF and every LF
// preceded by CR.
func onlyCRLF(t *testing.T, what, s string) {
	t.Helper()
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\r' && (i+1 == len(s) || s[i+1] != '\n'):
			t.Fatalf("%s: bare CR at %d: %q", what, i, s[max(0, i-20):min(len(s), i+20)])
		case s[i] == '\n' && (i == 0 || s[i-1] != '\r'):
			t.Fatalf("%s: bare LF at %d: %q", what, i, s[max(0, i-20):min(len(s), i+20)])
		}
	}
}

// A body's line ends all become CRLF, bare CRs included, in the outbox and
// on the wire; on the wire a line holding only "." is dot-stuffed, so the
// message ends where it ends.
func TestBodyHoldsOnlyCRLF(t *testing.T) {
	body := "one\rtwo\nthree\r\n\r.\r\nRSET\r\r\n.\nlast\r"
	dir := t.TempDir()
	if err := (&kmail.Outbox{Dir: dir, From: "x@kayle.id"}).Send(context.Background(), kmail.Message{To: "a@b.co", Subject: "s", Body: body}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("outbox: %v", files)
	}
	raw, _ := os.ReadFile(files[0])
	onlyCRLF(t, "outbox", string(raw))
	if !strings.HasSuffix(string(raw), "\r\n\r\n.\r\nlast\r\n") || strings.HasSuffix(string(raw), "last\r\n\r\n") {
		t.Fatalf("outbox body: %q", raw)
	}

	addr, got := smtpPeer(t)
	s, err := kmail.NewSMTP("smtp://"+addr, "x@kayle.id", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), kmail.Message{To: "a@b.co", Subject: "s", Body: body}); err != nil {
		t.Fatal(err)
	}
	msg := <-got
	// The peer writes the envelope commands before DATA one per LF line.
	msg = msg[strings.Index(msg, "From: "):]
	onlyCRLF(t, "SMTP", msg)
	if !strings.HasSuffix(msg, "\r\n..\r\nRSET\r\n\r\n..\r\nlast\r\n") {
		t.Fatalf("the relay received %q", msg)
	}
}

// Names in a notice are quoted and escaped: a name cannot write a line.
func TestNoticeQuotesNames(t *testing.T) {
	for kind, data := range map[string]map[string]string{
		kmail.NoticeDomainTransferred: {"apex_domain": "acme.io", "organization_name": "Loser", "to_organization_name": hostileName},
		kmail.NoticeDomainDowngraded:  {"apex_domain": "acme.io", "organization_name": hostileName, "record_name": "_kayle-id-verification.acme.io", "record_value": "v"},
	} {
		m, err := kmail.Notice(kind, "owner@acme.io", data)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.Body, `"Acme\r\n\r\nACTION REQUIRED: re-verify at https://evil.example/\r.\r\nRSET`) {
			t.Errorf("%s: the name is not quoted and escaped: %q", kind, m.Body)
		}
		for _, line := range strings.Split(m.Body, "\n") {
			for _, bad := range []string{"ACTION REQUIRED", "RSET", ".", "MAIL FROM", "QUIT"} {
				if strings.HasPrefix(line, bad) {
					t.Errorf("%s: the name wrote the line %q", kind, line)
				}
			}
		}
		if strings.ContainsAny(m.Body, "\r") {
			t.Errorf("%s: CR in the body: %q", kind, m.Body)
		}
	}
	// Names that are only names read as themselves, in quotes.
	m, _ := kmail.Notice(kmail.NoticeDomainTransferred, "o@acme.io", map[string]string{"apex_domain": "acme.io", "organization_name": "Café Ünal", "to_organization_name": "Rival"})
	if !strings.Contains(m.Body, `from "Café Ünal" to "Rival".`) {
		t.Errorf("plain names: %q", m.Body)
	}
}
