package verifytest

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/kayle-id/orgs-api/verify/document/doctest"
)

// toolTB lets doctest's builders, which take a testing.TB, run outside a
// test: Fatal and Fatalf panic with a toolFailure that MakeDocument turns
// into its error. Only the methods doctest calls are implemented; the
// embedded nil interface makes any other call panic loudly.
type toolTB struct{ testing.TB }

type toolFailure string

func (toolTB) Helper()                           {}
func (toolTB) Fatal(args ...any)                 { panic(toolFailure(fmt.Sprint(args...))) }
func (toolTB) Fatalf(format string, args ...any) { panic(toolFailure(fmt.Sprintf(format, args...))) }

// MakeDocument is NewDocument outside a test (tools and walkthroughs).
func MakeDocument() (d *Document, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(toolFailure)
			if !ok {
				panic(r)
			}
			d, err = nil, errors.New("verifytest: "+string(f))
		}
	}()
	return NewDocument(toolTB{}), nil
}

// documentFile is a document as a tool keeps it between runs: the chip's
// files and the active-authentication key (the only secret a phone run
// needs: the CA transcript is recorded once).
type documentFile struct {
	DG1, DG2, DG14, DG15, SOD, CATranscript []byte
	AAKey                                   []byte // PKCS #8
	Bundle                                  json.RawMessage
}

// MarshalFile encodes the document for LoadDocument. It holds a private
// key: a synthetic document's, trusted only where its bundle was imported.
func (d *Document) MarshalFile() ([]byte, error) {
	k, err := x509.MarshalPKCS8PrivateKey(d.AAKey)
	if err != nil {
		return nil, err
	}
	return json.MarshalIndent(documentFile{DG1: d.DG1, DG2: d.DG2, DG14: d.DG14, DG15: d.DG15, SOD: d.SOD,
		CATranscript: d.CATranscript, AAKey: k, Bundle: d.Bundle}, "", "  ")
}

// LoadDocument reads what MarshalFile wrote. The result can be uploaded
// and answer active-authentication challenges (Artefacts, Answer); its
// Chain is nil.
func LoadDocument(b []byte) (*Document, error) {
	var f documentFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(f.AAKey)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || len(f.DG1) == 0 || len(f.SOD) == 0 {
		return nil, errors.New("verifytest: not a document file")
	}
	return &Document{Document: &doctest.Document{DG1: f.DG1, DG2: f.DG2, DG14: f.DG14, DG15: f.DG15, SOD: f.SOD,
		CATranscript: f.CATranscript, AAKey: ek}, Bundle: f.Bundle}, nil
}
