package verifytest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
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

// Artefacts are what the phone uploads for challenge: the document's data
// groups, its SOD, the chip's answer and the chip-authentication
// transcript.
func (d *Document) Artefacts(challenge []byte) (*Artefacts, error) {
	aa, err := d.Answer(challenge)
	if err != nil {
		return nil, err
	}
	return &Artefacts{DG1: d.DG1, DG2: d.DG2, SOD: d.SOD, DG14: d.DG14, DG15: d.DG15, ActiveAuth: aa, ChipAuth: d.CATranscript}, nil
}

// Answer is ActiveAuth without a testing.TB (for load tests' goroutines
// and tools): the chip's plain ECDSA P-256 signature over SHA-256 of the
// challenge (BSI TR-03111 §5.2.1), after the challenge.
func (d *Document) Answer(challenge []byte) ([]byte, error) {
	k, ok := d.AAKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("verifytest: AA key %T", d.AAKey)
	}
	h := sha256.Sum256(challenge)
	r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
	if err != nil {
		return nil, err
	}
	out := append(append(make([]byte, 0, len(challenge)+64), challenge...), make([]byte, 64)...)
	r.FillBytes(out[len(challenge) : len(challenge)+32])
	s.FillBytes(out[len(challenge)+32:])
	return out, nil
}
