package store

import (
	"slices"
	"testing"

	"github.com/kayle-id/orgs-api/sessions"
)

// The share_contract_hash vector of behaviour-verify.md §3.2.
func TestShareContractHash(t *testing.T) {
	c := sessions.Contract{"kayle_document_id": {Required: true, Reason: `Sharing "Kayle Document ID"`, Source: "default"}}
	if got := ShareContractHash(c); got != "ee03fefe8fc6a46627520b943a9dbee16bfbf19a77647dd8caa55e6d53fa1711" {
		t.Fatalf("hash %s", got)
	}
	// JSON.stringify's escapes: no HTML escapes, U+2028 as it is.
	if jsString("<a&b>\u2028\"\n") != "\"<a&b>\u2028\\\"\\n\"" {
		t.Fatalf("jsString %q", jsString("<a&b>\u2028\"\n"))
	}
}

// localeCompare orders as ICU's root collation for ASCII keys:
// punctuation, digits, letters (case a tie-break).
func TestLocaleCompare(t *testing.T) {
	keys := []string{"b", "a1", "a_b", "A", "a", "age_over_21", "age_over_18", "ab", "B"}
	slices.SortFunc(keys, localeCompare)
	want := []string{"a", "A", "a_b", "a1", "ab", "age_over_18", "age_over_21", "b", "B"}
	if !slices.Equal(keys, want) {
		t.Fatalf("%v, want %v", keys, want)
	}
}
