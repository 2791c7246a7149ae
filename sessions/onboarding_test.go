package sessions_test

import (
	"errors"
	"testing"

	"github.com/kayle-id/orgs-api/sessions"
)

func ptr(s string) *string { return &s }

const fullMetadata = `{"website":"https://acme.co","description":"Acme","privacyPolicyUrl":"https://acme.co/p","termsOfServiceUrl":"https://acme.co/t",
"legalControllerName":"Acme Ltd","controllerJurisdiction":"UK","supportEmail":"help@acme.co","article6Basis":"contract","article9Condition":"consent",
"usesKayleForConsequentialDecisions":false}`

func complete() sessions.Profile {
	return sessions.Profile{BusinessType: ptr("business"), BusinessName: ptr("Acme"), BusinessJurisdiction: ptr("GB"),
		BusinessRegistrationNumber: ptr("123"), Logo: ptr("logos/a.png"), Metadata: ptr(fullMetadata), OwnerIDChecked: true, RPTermsAccepted: true}
}

const incomplete = "Finish onboarding the organization before creating verification sessions."

func TestCheckOnboarding(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*sessions.Profile)
		code   string
		hint   string
		expect string // message
	}{
		{"complete", func(*sessions.Profile) {}, "", "", ""},
		{"nothing filled in", func(p *sessions.Profile) { *p = sessions.Profile{} }, "ONBOARDING_INCOMPLETE",
			"Missing onboarding steps: business, public, compliance, owner_id. Finish the organization onboarding flow at /onboarding (missing fields: businessType, businessName, businessJurisdiction, businessRegistrationNumber, logo, website, description, privacyPolicyUrl, termsOfServiceUrl, legalControllerName, controllerJurisdiction, privacyPolicyUrl, supportEmail, article6Basis, article9Condition, usesKayleForConsequentialDecisions, rpIntegrationTermsAcceptance, ownerIdCheck).",
			incomplete},
		{"only the terms", func(p *sessions.Profile) { p.RPTermsAccepted = false }, "RP_TERMS_ACCEPTANCE_REQUIRED",
			"An owner must accept the current Kayle ID Integration Terms in the organization settings.",
			"Accept the current relying-party integration terms before creating production verification sessions."},
		{"terms and owner check", func(p *sessions.Profile) { p.RPTermsAccepted, p.OwnerIDChecked = false, false }, "ONBOARDING_INCOMPLETE",
			"Missing onboarding steps: compliance, owner_id. Finish the organization onboarding flow at /onboarding (missing fields: rpIntegrationTermsAcceptance, ownerIdCheck).", incomplete},
		{"unknown business type, blank name", func(p *sessions.Profile) { p.BusinessType, p.BusinessName = ptr("Business"), ptr(" \ufeff\u00a0") }, "ONBOARDING_INCOMPLETE",
			"Missing onboarding steps: business. Finish the organization onboarding flow at /onboarding (missing fields: businessType, businessName).", incomplete},
		{"sole still needs a registration number", func(p *sessions.Profile) { p.BusinessType, p.BusinessRegistrationNumber = ptr("sole"), ptr("") }, "ONBOARDING_INCOMPLETE",
			"Missing onboarding steps: business. Finish the organization onboarding flow at /onboarding (missing fields: businessRegistrationNumber).", incomplete},
		{"metadata not an object", func(p *sessions.Profile) { p.Metadata = ptr(`["website"]`); p.Logo = nil }, "ONBOARDING_INCOMPLETE",
			"Missing onboarding steps: public, compliance. Finish the organization onboarding flow at /onboarding (missing fields: logo, website, description, privacyPolicyUrl, termsOfServiceUrl, legalControllerName, controllerJurisdiction, privacyPolicyUrl, supportEmail, article6Basis, article9Condition, usesKayleForConsequentialDecisions).", incomplete},
		{"metadata not JSON", func(p *sessions.Profile) { p.Metadata = ptr(`{"website":`) }, "ONBOARDING_INCOMPLETE",
			"Missing onboarding steps: public, compliance. Finish the organization onboarding flow at /onboarding (missing fields: website, description, privacyPolicyUrl, termsOfServiceUrl, legalControllerName, controllerJurisdiction, privacyPolicyUrl, supportEmail, article6Basis, article9Condition, usesKayleForConsequentialDecisions).", incomplete},
		{"non-string values and a string flag", func(p *sessions.Profile) {
			p.Metadata = ptr(`{"website":1,"description":null,"privacyPolicyUrl":"p","termsOfServiceUrl":{"a":"b"},"legalControllerName":"l","controllerJurisdiction":"c","supportEmail":"s","article6Basis":"a","article9Condition":"a","usesKayleForConsequentialDecisions":"false"}`)
		}, "ONBOARDING_INCOMPLETE",
			"Missing onboarding steps: public, compliance. Finish the organization onboarding flow at /onboarding (missing fields: website, description, termsOfServiceUrl, usesKayleForConsequentialDecisions).", incomplete},
		{"consequential decisions need fallback and appeal", func(p *sessions.Profile) {
			p.Metadata = ptr(fullMetadata[:len(fullMetadata)-len("false}")] + `true,"appealUrl":" "}`)
		}, "ONBOARDING_INCOMPLETE",
			"Missing onboarding steps: compliance. Finish the organization onboarding flow at /onboarding (missing fields: fallbackIdvUrl, appealUrl).", incomplete},
		{"repeated key keeps the last", func(p *sessions.Profile) {
			p.Metadata = ptr(fullMetadata[:len(fullMetadata)-1] + `,"website":""}`)
		}, "ONBOARDING_INCOMPLETE",
			"Missing onboarding steps: public. Finish the organization onboarding flow at /onboarding (missing fields: website).", incomplete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := complete()
			tc.edit(&p)
			err := sessions.CheckOnboarding(p)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var e *sessions.Error
			if !errors.As(err, &e) || e.Code != tc.code || e.Message != tc.expect || e.Hint != tc.hint || e.Docs != sessions.Docs {
				t.Fatalf("got %+v\nwant %s %q %q", err, tc.code, tc.expect, tc.hint)
			}
		})
	}
	p := complete()
	p.Metadata = ptr(fullMetadata[:len(fullMetadata)-len("false}")] + `true,"fallbackIdvUrl":"f","appealUrl":"a"}`)
	if err := sessions.CheckOnboarding(p); err != nil {
		t.Fatal(err)
	}
}
