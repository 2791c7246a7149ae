package passiveauth

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
)

// TrustStore is what passive authentication asks of the trust store (the
// ICAO PKD's CSCAs, DSCs and CRLs; verify/truststore implements it over
// the database). Each method returns DER encodings, possibly none; an
// error means the store could not answer, which fails the check (it is
// never read as "not found"). Lookups are by key so that no check loads the
// whole store.
type TrustStore interface {
	// CSCAsBySubject: CSCA (and link) certificates whose subject Name DER
	// equals subject.
	CSCAsBySubject(ctx context.Context, subject []byte) ([][]byte, error)
	// CSCAsBySKI: CSCAs whose subjectKeyIdentifier equals ski.
	CSCAsBySKI(ctx context.Context, ski []byte) ([][]byte, error)
	// CSCAsByCountry: CSCAs whose subject C is the alpha-2 code country.
	CSCAsByCountry(ctx context.Context, country string) ([][]byte, error)
	// DSCsByIssuerSerial: DSCs with that issuer Name DER and serial
	// (the INTEGER's content octets as encoded).
	DSCsByIssuerSerial(ctx context.Context, issuer, serial []byte) ([][]byte, error)
	// DSCsBySKI: DSCs whose subjectKeyIdentifier equals ski.
	DSCsBySKI(ctx context.Context, ski []byte) ([][]byte, error)
	// CRLsByIssuer: CRLs whose issuer Name DER equals issuer.
	CRLsByIssuer(ctx context.Context, issuer []byte) ([][]byte, error)
}

// MemoryStore is an in-memory TrustStore, for tests and small
// deployments. It indexes certificates as they are added.
type MemoryStore struct {
	mu    sync.RWMutex
	cscas []*Certificate
	dscs  []*Certificate
	crls  map[string][][]byte // issuer DER hex -> CRLs
}

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{crls: map[string][][]byte{}} }

// AddCSCA adds a CSCA or link certificate.
func (m *MemoryStore) AddCSCA(der []byte) error {
	c, err := ParseCertificate(der)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cscas = append(m.cscas, c)
	return nil
}

// AddDSC adds a document signer certificate.
func (m *MemoryStore) AddDSC(der []byte) error {
	c, err := ParseCertificate(der)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dscs = append(m.dscs, c)
	return nil
}

// AddCRL adds a CRL, indexed by its issuer.
func (m *MemoryStore) AddCRL(der []byte) error {
	crl, err := parseCRL(der)
	if err != nil {
		return fmt.Errorf("crl: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := hex.EncodeToString(crl.RawIssuer)
	m.crls[k] = append(m.crls[k], der)
	return nil
}

func (m *MemoryStore) find(list []*Certificate, match func(*Certificate) bool) [][]byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out [][]byte
	for _, c := range list {
		if match(c) {
			out = append(out, c.Raw)
		}
	}
	return out
}

func (m *MemoryStore) CSCAsBySubject(_ context.Context, subject []byte) ([][]byte, error) {
	return m.find(m.cscas, func(c *Certificate) bool { return bytes.Equal(c.RawSubject, subject) }), nil
}

func (m *MemoryStore) CSCAsBySKI(_ context.Context, ski []byte) ([][]byte, error) {
	return m.find(m.cscas, func(c *Certificate) bool { return c.SubjectKeyID != nil && bytes.Equal(c.SubjectKeyID, ski) }), nil
}

func (m *MemoryStore) CSCAsByCountry(_ context.Context, country string) ([][]byte, error) {
	return m.find(m.cscas, func(c *Certificate) bool { return strings.EqualFold(c.SubjectCountry, country) }), nil
}

func (m *MemoryStore) DSCsByIssuerSerial(_ context.Context, issuer, serial []byte) ([][]byte, error) {
	return m.find(m.dscs, func(c *Certificate) bool {
		return bytes.Equal(c.RawIssuer, issuer) && bytes.Equal(c.SerialBytes, serial)
	}), nil
}

func (m *MemoryStore) DSCsBySKI(_ context.Context, ski []byte) ([][]byte, error) {
	return m.find(m.dscs, func(c *Certificate) bool { return c.SubjectKeyID != nil && bytes.Equal(c.SubjectKeyID, ski) }), nil
}

func (m *MemoryStore) CRLsByIssuer(_ context.Context, issuer []byte) ([][]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.crls[hex.EncodeToString(issuer)], nil
}
