// Package sessions: TEMPORARY stand-in for the rules branch's package, with
// its agreed signatures and a rough subset of its checks, so the sessions
// branch builds before the merge. Deleted when `rules` is merged.
package sessions

import (
	"encoding/json"
	"strconv"
	"strings"
)

type Field struct {
	Required bool   `json:"required"`
	Reason   string `json:"reason"`
	Source   string `json:"source"`
}

type Contract map[string]Field

type Error struct{ Code, Message, Hint, Docs string }

func (e *Error) Error() string { return e.Code + ": " + e.Message }

const docs = "https://kayle.id/docs/api/sessions#create"

var claims = []string{"document_type_code", "issuing_country_code", "family_name", "given_names",
	"document_number", "nationality_code", "date_of_birth", "sex_marker", "document_expiry_date",
	"mrz_optional_data", "kayle_document_id", "kayle_human_id"}

func ClaimKeys() []string { return append([]string(nil), claims...) }

func ParseShareFields(raw json.RawMessage) (Contract, error) {
	c := Contract{}
	if raw == nil {
		for _, k := range claims {
			c[k] = Field{Required: k == "kayle_document_id", Reason: "Sharing \"" + k + "\"", Source: "default"}
		}
		return c, nil
	}
	var m map[string]struct {
		Required *bool   `json:"required"`
		Reason   *string `json:"reason"`
	}
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, &Error{"INVALID_SHARE_FIELDS", "Invalid share_fields payload.", "share_fields must be an object map of claim keys.", docs}
	}
	if len(m) > 32 {
		return nil, &Error{"TOO_MANY_SHARE_FIELDS", "Too many share fields requested.", "The maximum number of share fields is 32.", docs}
	}
	for k, v := range m {
		if v.Reason == nil || (strings.TrimSpace(*v.Reason) == "" && !strings.HasPrefix(k, "age_over_")) {
			return nil, &Error{"REASON_REQUIRED", "Each share field requires a reason.", "Provide a non-empty reason for every requested claim.", docs}
		}
		if v.Required == nil {
			return nil, &Error{"INVALID_SHARE_FIELDS", "Invalid share_fields payload.", "share_fields must be an object map of claim keys.", docs}
		}
		known := false
		for _, cl := range claims {
			known = known || cl == k
		}
		if n, err := strconv.Atoi(strings.TrimPrefix(k, "age_over_")); strings.HasPrefix(k, "age_over_") && err == nil && n >= 12 && n <= 130 {
			known = true
		}
		if !known {
			return nil, &Error{"UNKNOWN_CLAIM_KEY", "Unknown claim key.", "Use a supported claim key from the share contract allowlist.", docs}
		}
		c[k] = Field{Required: *v.Required, Reason: strings.TrimSpace(*v.Reason), Source: "rc"}
	}
	if f, ok := c["kayle_document_id"]; ok {
		f.Required = true
		c["kayle_document_id"] = f
	} else {
		c["kayle_document_id"] = Field{Required: true, Reason: "Sharing \"Kayle Document ID\"", Source: "default"}
	}
	return c, nil
}

func (c Contract) AgeGate() (string, int, bool) {
	for k := range c {
		if n, err := strconv.Atoi(strings.TrimPrefix(k, "age_over_")); strings.HasPrefix(k, "age_over_") && err == nil {
			return k, n, true
		}
	}
	return "", 0, false
}

func (c Contract) AgeOnly() bool {
	_, _, ok := c.AgeGate()
	if !ok {
		return false
	}
	for k := range c {
		if !strings.HasPrefix(k, "age_over_") && k != "kayle_document_id" && k != "kayle_human_id" {
			return false
		}
	}
	return true
}

type Profile struct {
	BusinessType, BusinessName, BusinessJurisdiction, BusinessRegistrationNumber, Logo *string
	Metadata                                                                           *string
	OwnerIDChecked, RPTermsAccepted                                                    bool
}

func CheckOnboarding(p Profile) error {
	present := func(s *string) bool { return s != nil && strings.TrimSpace(*s) != "" }
	if !present(p.BusinessType) || !present(p.BusinessName) || !present(p.BusinessJurisdiction) ||
		!present(p.BusinessRegistrationNumber) || !present(p.Logo) || !present(p.Metadata) || !p.OwnerIDChecked {
		return &Error{"ONBOARDING_INCOMPLETE", "Finish onboarding the organization before creating verification sessions.", "Missing onboarding steps (stub).", docs}
	}
	if !p.RPTermsAccepted {
		return &Error{"RP_TERMS_ACCEPTANCE_REQUIRED", "Accept the current relying-party integration terms before creating production verification sessions.", "An owner must accept the current Kayle ID Integration Terms in the organization settings.", docs}
	}
	return nil
}
