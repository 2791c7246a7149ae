package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The relying-party settings: the verify URL is validated at start-up
// (https in production), and the sandbox is refused with production; each
// refusal names what was set.
func TestSessionSettings(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	base := map[string]string{"DATABASE_URL": db, "KAYLE_CREATE_DB": "true"}
	c, err := serveConfig(t, base)
	if err != nil || c.VerifyURL.String() != "http://localhost:2999" || c.Production || c.Sandbox {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for over, want := range map[string]string{
		"KAYLE_SANDBOX=true KAYLE_PRODUCTION=true":                       "KAYLE_SANDBOX cannot be used with KAYLE_PRODUCTION",
		"KAYLE_PRODUCTION=true":                                          "--verify-url must be an https URL in production (KAYLE_PRODUCTION)",
		"KAYLE_VERIFY_URL=verify.kayle.id":                               "KAYLE_VERIFY_URL",
		"KAYLE_VERIFY_URL=ftp://verify.kayle.id":                         "KAYLE_VERIFY_URL",
		"KAYLE_VERIFY_URL=https://u:p@verify.kayle.id":                   "KAYLE_VERIFY_URL",
		"KAYLE_SANDBOX=maybe":                                            "KAYLE_SANDBOX",
		"KAYLE_SESSION_EXPIRY_INTERVAL=soon":                             "KAYLE_SESSION_EXPIRY_INTERVAL",
		"KAYLE_PRODUCTION=true KAYLE_VERIFY_URL=https://verify.kayle.id": "",
		"KAYLE_SANDBOX=true":                                             "",
	} {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for _, kv := range strings.Fields(over) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		c, err := serveConfig(t, env)
		if want == "" {
			if err != nil || (env["KAYLE_PRODUCTION"] == "true") != c.Production || (env["KAYLE_SANDBOX"] == "true") != c.Sandbox {
				t.Errorf("%s: %+v %v", over, c, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", over, err, want)
		}
	}
	if _, err := serveConfig(t, base, "--sandbox", "--production"); err == nil || !strings.Contains(err.Error(), "--sandbox cannot be used with --production") {
		t.Errorf("flags: %v", err)
	}
}
