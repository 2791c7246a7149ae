package sessions

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
)

// Profile is what the onboarding gate reads of an organization: its
// business details and logo (columns), its metadata (raw JSON text, as
// stored), whether the owner's own ID check is recorded and whether the
// current relying-party terms are accepted.
type Profile struct {
	BusinessType, BusinessName, BusinessJurisdiction, BusinessRegistrationNumber, Logo *string
	Metadata                                                                           *string
	OwnerIDChecked, RPTermsAccepted                                                    bool
}

// The missing item that alone answers RP_TERMS_ACCEPTANCE_REQUIRED.
const termsItem = "rpIntegrationTermsAcceptance"

// CheckOnboarding is the gate before a session is created: nil, or an
// *Error naming what is missing (upstream's four steps, fields in
// upstream's order; privacyPolicyUrl is in two steps and named twice).
func CheckOnboarding(p Profile) error {
	meta := parseMetadata(p.Metadata)
	var steps, fields []string
	step := func(name string, missing []string) {
		if len(missing) > 0 {
			steps = append(steps, name)
			fields = append(fields, missing...)
		}
	}

	var business []string
	if p.BusinessType == nil || (*p.BusinessType != "sole" && *p.BusinessType != "business") {
		business = append(business, "businessType")
	}
	business = appendAbsent(business, "businessName", p.BusinessName)
	business = appendAbsent(business, "businessJurisdiction", p.BusinessJurisdiction)
	business = appendAbsent(business, "businessRegistrationNumber", p.BusinessRegistrationNumber)
	step("business", business)

	public := appendAbsent(nil, "logo", p.Logo)
	for _, k := range []string{"website", "description", "privacyPolicyUrl", "termsOfServiceUrl"} {
		public = appendAbsent(public, k, meta.strings[k])
	}
	step("public", public)

	var compliance []string
	for _, k := range []string{"legalControllerName", "controllerJurisdiction", "privacyPolicyUrl", "supportEmail", "article6Basis", "article9Condition"} {
		compliance = appendAbsent(compliance, k, meta.strings[k])
	}
	consequential, isBool := meta.consequential, meta.hasConsequential
	if !isBool {
		compliance = append(compliance, "usesKayleForConsequentialDecisions")
	} else if consequential {
		compliance = appendAbsent(compliance, "fallbackIdvUrl", meta.strings["fallbackIdvUrl"])
		compliance = appendAbsent(compliance, "appealUrl", meta.strings["appealUrl"])
	}
	if !p.RPTermsAccepted {
		compliance = append(compliance, termsItem)
	}
	step("compliance", compliance)

	if !p.OwnerIDChecked {
		step("owner_id", []string{"ownerIdCheck"})
	}

	switch {
	case len(fields) == 0:
		return nil
	case len(fields) == 1 && fields[0] == termsItem:
		return errRPTermsRequired()
	}
	return errOnboardingIncomplete("Missing onboarding steps: " + strings.Join(steps, ", ") +
		". Finish the organization onboarding flow at /onboarding (missing fields: " + strings.Join(fields, ", ") + ").")
}

// appendAbsent adds name when v is not present: present is a string that
// is non-empty after JavaScript trimming.
func appendAbsent(missing []string, name string, v *string) []string {
	if v == nil || jsTrim(*v) == "" {
		return append(missing, name)
	}
	return missing
}

type metadata struct {
	strings          map[string]*string
	consequential    bool
	hasConsequential bool
}

// parseMetadata reads the organization's metadata as upstream does: JSON
// text; anything but an object counts as no metadata; only string values
// are kept (null is kept as absent), and the consequential-decisions flag
// only as a boolean. A repeated key keeps its last value, as JSON.parse.
func parseMetadata(text *string) metadata {
	if text == nil {
		return metadata{strings: map[string]*string{}}
	}
	// Every session creation of an organization reads the same metadata:
	// its parse is kept (read-only), keyed by the text itself.
	metaCache.Lock()
	m, ok := metaCache.m[*text]
	metaCache.Unlock()
	if ok {
		return m
	}
	m = decodeMetadata(*text)
	metaCache.Lock()
	if len(metaCache.m) >= metaCacheSize {
		clear(metaCache.m)
	}
	metaCache.m[*text] = m
	metaCache.Unlock()
	return m
}

// metaCache holds recent metadata parses; a full cache starts over, which
// bounds it without bookkeeping.
var metaCache = struct {
	sync.Mutex
	m map[string]metadata
}{m: map[string]metadata{}}

const metaCacheSize = 256

func decodeMetadata(text string) metadata {
	m := metadata{strings: map[string]*string{}}
	raw := []byte(strings.TrimSpace(text))
	var obj map[string]json.RawMessage
	if !bytes.HasPrefix(raw, []byte("{")) || json.Unmarshal(raw, &obj) != nil {
		return m
	}
	for k, v := range obj {
		var s string
		if json.Unmarshal(v, &s) == nil && bytes.HasPrefix(v, []byte(`"`)) {
			m.strings[k] = &s
		}
	}
	if v, ok := obj["usesKayleForConsequentialDecisions"]; ok {
		m.hasConsequential = json.Unmarshal(v, &m.consequential) == nil && !bytes.Equal(v, []byte("null"))
	}
	return m
}
