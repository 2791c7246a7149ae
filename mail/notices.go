package mail

import (
	"fmt"
	"strconv"
	"strings"
)

// Notice kinds, as the store writes them into its outbox.
const (
	NoticeDomainTransferred = "domain.transferred"
	NoticeDomainDowngraded  = "domain.downgraded"
)

// DomainsURL is where an owner manages verified domains (upstream's link).
const DomainsURL = "https://kayle.id/settings/organizations/domains"

// Notice words a notice of kind for its recipient, from the facts the
// store recorded with it. Subjects are upstream's. Organization names are
// chosen by their organizations (one of them the other's rival here), so
// each is quoted and escaped: whatever a stored name holds, it reads as one
// name and writes no line of its own.
func Notice(kind, to string, data map[string]string) (Message, error) {
	org := orDefault(data["organization_name"], "your organization")
	apex := data["apex_domain"]
	if apex == "" {
		return Message{}, fmt.Errorf("mail: %s notice without an apex domain", kind)
	}
	var b strings.Builder
	switch kind {
	case NoticeDomainTransferred:
		other := orDefault(data["to_organization_name"], "another organization")
		fmt.Fprintf(&b, "Verification of %s was transferred from %s to %s.\n\n", apex, org, other)
		fmt.Fprintf(&b, "%s proved control of %s by publishing its own DNS TXT record and acknowledged taking the verification over. "+
			"Redirect URIs of %s on %s no longer work.\n\n", other, apex, org, apex)
		fmt.Fprintf(&b, "If this was not expected, check who can change the DNS records of %s. To verify the domain again, "+
			"start a new DNS challenge and acknowledge the takeover:\n%s\n", apex, DomainsURL)
		return Message{To: to, Subject: "Kayle ID — Verification of " + apex + " was transferred", Body: b.String()}, nil
	case NoticeDomainDowngraded:
		fmt.Fprintf(&b, "Verification of %s for %s was removed: the DNS TXT record that proves control of it was missing or wrong at three checks in a row.\n\n", apex, org)
		fmt.Fprintf(&b, "Redirect URIs on %s no longer work. Publish this record again:\n\n", apex)
		fmt.Fprintf(&b, "  Name:  %s\n  Type:  TXT\n  Value: %s\n\n", data["record_name"], data["record_value"])
		fmt.Fprintf(&b, "The verification recovers at the next daily check once the record is back, or at once when you verify the domain again:\n%s\n", DomainsURL)
		return Message{To: to, Subject: "Kayle ID — Verification of " + apex + " was removed", Body: b.String()}, nil
	}
	return Message{}, fmt.Errorf("mail: unknown notice kind %q", kind)
}

// orDefault is the name s quoted (Quote), or def when s is blank.
func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return Quote(s)
}

// Quote is a name as mail shows it: in double quotes, with line breaks,
// other control characters, invisible format characters (bidi overrides
// among them) and invalid UTF-8 escaped as Go escapes them, so the name
// stays on one line and reads as one name.
func Quote(name string) string { return strconv.Quote(name) }
