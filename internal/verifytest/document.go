package verifytest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/verify/document/doctest"
	"github.com/kayle-id/orgs-api/verify/truststore"
)

// Document is a synthetic passport (P-256 CSCA, DSC, active and chip
// authentication keys) and the trust bundle that makes its CSCA trusted.
type Document struct {
	Chain *doctest.Chain
	*doctest.Document
	// Bundle is upstream's trust-bundle JSON (version 2) with the CSCA and
	// its CRL.
	Bundle []byte
}

// NewDocument makes a document valid now.
func NewDocument(t testing.TB) *Document {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	chain := doctest.NewChain(t, key(), key(), time.Now())
	b64 := base64.StdEncoding.EncodeToString
	bundle, err := json.Marshal(map[string]any{
		"version": 2,
		"cscas":   []map[string]any{{"derBase64": b64(chain.CSCA.Raw), "sourceCountryCode": "UT", "sourceDn": "cn=verifytest"}},
		"dscs":    []map[string]any{},
		"crls":    []map[string]any{{"derBase64": b64(chain.CRL), "sourceCountryCode": "UT", "sourceDn": "cn=verifytest"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Document{Chain: chain, Document: doctest.New(t, chain.DSC, chain.DSCKey), Bundle: bundle}
}

// Trust imports the document's CSCA and CRL into the store's trust store.
func (d *Document) Trust(t testing.TB, st *store.Store) {
	t.Helper()
	ts := truststore.New(st.DB(), truststore.Dialect(st.Dialect()), truststore.Options{})
	if _, err := ts.Import(context.Background(), truststore.Input{Bundle: bytes.NewReader(d.Bundle)}); err != nil {
		t.Fatal(err)
	}
}

// ActiveAuth is the activeAuth payload the phone uploads for a challenge:
// the challenge, then the chip's signature of it.
func (d *Document) ActiveAuth(t testing.TB, challenge []byte) []byte {
	t.Helper()
	sig := doctest.AASignP256(t, d.AAKey.(*ecdsa.PrivateKey), challenge)
	return append(append([]byte{}, challenge...), sig...)
}
