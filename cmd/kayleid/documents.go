package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/verify/document"
	"github.com/kayle-id/orgs-api/verify/passiveauth"
	"github.com/kayle-id/orgs-api/verify/truststore"
)

// errDocumentFailed is a document that failed its check: exit status 1,
// after the report.
var errDocumentFailed = errors.New("documents check: the document failed")

// Run checks a document (see document.Check) and prints the report.
func (c *documentsCheckCmd) Run(e *runEnv) error {
	var f document.Inputs
	for _, in := range []struct {
		path string
		dst  *[]byte
	}{{c.DG1, &f.DG1}, {c.SOD, &f.SOD}, {c.DG2, &f.DG2}, {c.DG14, &f.DG14}, {c.DG15, &f.DG15},
		{c.AASignature, &f.AASignature}, {c.CATranscript, &f.CATranscript}} {
		if in.path == "" {
			continue
		}
		b, err := os.ReadFile(in.path)
		if err != nil {
			return inputf("documents check: %v", err)
		}
		*in.dst = b
	}
	if c.AAChallenge != "" {
		b, err := hex.DecodeString(c.AAChallenge)
		if err != nil || len(b) == 0 {
			return usagef("documents check: --aa-challenge %q is not hex", c.AAChallenge)
		}
		f.AAChallenge = b
	}
	opts := document.Options{Secret: c.AuthSecret, OrgID: c.Org, RequireActiveAuth: c.RequireAA, RequireChipAuth: c.RequireCA}
	if c.At != "" {
		t, err := time.Parse(time.RFC3339, c.At)
		if err != nil {
			return usagef("documents check: --at %q is not an RFC 3339 time", c.At)
		}
		opts.Now = t
	}
	if c.AllowUnknown {
		opts.Revocation = passiveauth.AllowUnknownRevocation
	}
	db, err := c.DB.database(e)
	if err != nil {
		return err
	}
	st, err := openStore(e.ctx, db, nil, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	ts := truststore.New(st.DB(), truststore.Dialect(st.Dialect()), truststore.Options{}).PassiveAuth()
	rep := document.Check(e.ctx, f, ts, opts)
	if err := writeJSON(e.stdout, rep); err != nil {
		return err
	}
	if !rep.Passed() {
		names := make([]string, len(rep.FailedChecks))
		for i, n := range rep.FailedChecks {
			names[i] = string(n)
		}
		return fmt.Errorf("%w: %s", errDocumentFailed, strings.Join(names, ", "))
	}
	return nil
}
