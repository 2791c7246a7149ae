package server_test

import (
	"context"
	"testing"

	"github.com/kayle-id/orgs-api/internal/scenario"
)

// The conformance scenario (what `make contract` replays through Prism)
// passes against the server itself, on both databases.
func TestConformanceScenario(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		res, err := scenario.Run(context.Background(), scenario.Options{BaseURL: e.srv.URL, Admin: scenario.StoreAdmin{Store: e.st}, MailDir: e.outbox, DNS: e.dns})
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range []string{"startDnsChallenge", "verifyDnsChallenge", "listDomains", "deleteDomain", "listRedirectUris", "addRedirectUri", "deleteRedirectUri",
			"verifyConsent", "verifyHandoff", "verifyStatus", "verifyCancel", "verifySocket", "verifyAttestRegister"} {
			if len(res.Statuses[op]) < 2 {
				t.Errorf("the scenario gave %s only %v", op, res.Statuses[op])
			}
		}
		if res.Calls < 80 {
			t.Fatalf("the scenario made only %d calls", res.Calls)
		}
	})
}
