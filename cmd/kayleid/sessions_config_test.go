package main

import (
	"strings"
	"testing"
)

// The relying-party settings: the verify URL is validated at start-up
// (https in production), and the sandbox is refused with production.
func TestSessionSettings(t *testing.T) {
	get := func(over map[string]string) func(setting) string {
		return func(s setting) string {
			if v, ok := over[s.env]; ok {
				return v
			}
			return s.def
		}
	}
	var c Config
	if err := sessionConfig(&c, get(nil)); err != nil || c.VerifyURL.String() != "http://localhost:2999" || c.Production || c.Sandbox {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for over, want := range map[string]string{
		"KAYLE_SANDBOX=true KAYLE_PRODUCTION=true":                       "cannot be used with KAYLE_PRODUCTION",
		"KAYLE_PRODUCTION=true":                                          "must be https in production",
		"KAYLE_VERIFY_URL=verify.kayle.id":                               "invalid KAYLE_VERIFY_URL",
		"KAYLE_VERIFY_URL=ftp://verify.kayle.id":                         "invalid KAYLE_VERIFY_URL",
		"KAYLE_VERIFY_URL=https://u:p@verify.kayle.id":                   "invalid KAYLE_VERIFY_URL",
		"KAYLE_SANDBOX=maybe":                                            "KAYLE_SANDBOX",
		"KAYLE_SESSION_EXPIRY_INTERVAL=soon":                             "session-expiry-interval",
		"KAYLE_PRODUCTION=true KAYLE_VERIFY_URL=https://verify.kayle.id": "",
	} {
		m := map[string]string{}
		for _, kv := range strings.Fields(over) {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		var c Config
		err := sessionConfig(&c, get(m))
		if want == "" {
			if err != nil || !c.Production || c.VerifyURL.Host != "verify.kayle.id" {
				t.Errorf("%s: %+v %v", over, c, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", over, err, want)
		}
	}
}
