package truststore

import (
	"container/list"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// Certificate is a stored CSCA or DSC. Keys are as the lookups take them
// (lowercase hex, see the migration).
type Certificate struct {
	Fingerprint       string
	Source            string
	CountryCode       string // the subject's C=
	SubjectKey        string
	SubjectName       string
	IssuerKey         string
	SerialNumberHex   string
	SKIHex, AKIHex    string // "" when absent
	NotBefore         time.Time
	NotAfter          time.Time
	DER               []byte
	SourceCountryCode string
	SourceDN          string
	ImportedAt        time.Time
}

// CRL is a stored CRL. Passive authentication verifies DER's signature
// against the CSCA before trusting it, then asks Revoked.
type CRL struct {
	Fingerprint string
	Source      string
	CountryCode string
	IssuerKey   string
	IssuerName  string
	AKIHex      string
	ThisUpdate  time.Time
	NextUpdate  time.Time // zero when the CRL has none
	DER         []byte
}

const selectCert = "SELECT fingerprint, source, country_code, subject_key, subject_name, issuer_key, serial_number_hex, ski_hex, aki_hex, not_before, not_after, der, source_country_code, source_dn, imported_at FROM "

// maxLookup bounds the rows one lookup returns (a subject or key
// identifier shared by more certificates than this is not a trust set).
const maxLookup = 64

func (s *Store) certs(ctx context.Context, key, query string, args ...any) ([]Certificate, error) {
	if v, ok := s.cache.get(key); ok {
		return v.([]Certificate), nil
	}
	rows, err := s.db.QueryContext(ctx, s.q(query+" ORDER BY not_before DESC, fingerprint LIMIT ?"), append(args, maxLookup)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Certificate
	seen := map[string]bool{}
	for rows.Next() {
		var c Certificate
		var ski, aki sql.NullString
		if err := rows.Scan(&c.Fingerprint, &c.Source, &c.CountryCode, &c.SubjectKey, &c.SubjectName, &c.IssuerKey, &c.SerialNumberHex,
			&ski, &aki, &c.NotBefore, &c.NotAfter, &c.DER, &c.SourceCountryCode, &c.SourceDN, &c.ImportedAt); err != nil {
			return nil, err
		}
		if seen[c.Fingerprint] { // the same certificate from two sources
			continue
		}
		seen[c.Fingerprint] = true
		c.SKIHex, c.AKIHex = ski.String, aki.String
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.cache.put(key, out)
	return out, nil
}

// CSCAsBySubject returns the CSCAs whose subject is the Name (DER), newest first.
func (s *Store) CSCAsBySubject(ctx context.Context, name []byte) ([]Certificate, error) {
	k := hex.EncodeToString(name)
	return s.certs(ctx, "cs|"+k, selectCert+"trust_store_cscas WHERE subject_key = ?", k)
}

// CSCAsBySKI returns the CSCAs with that subject key identifier.
func (s *Store) CSCAsBySKI(ctx context.Context, ski []byte) ([]Certificate, error) {
	k := hex.EncodeToString(ski)
	return s.certs(ctx, "ck|"+k, selectCert+"trust_store_cscas WHERE ski_hex = ?", k)
}

// CSCAsByCountry returns (up to 64 of) a country's CSCAs.
func (s *Store) CSCAsByCountry(ctx context.Context, country string) ([]Certificate, error) {
	return s.certs(ctx, "cc|"+country, selectCert+"trust_store_cscas WHERE country_code = ?", country)
}

// DSCsByIssuerSerial returns the DSCs an IssuerAndSerialNumber names: the
// issuer's Name DER and the serial INTEGER's content octets as encoded.
func (s *Store) DSCsByIssuerSerial(ctx context.Context, issuer, serial []byte) ([]Certificate, error) {
	i, n := hex.EncodeToString(issuer), hex.EncodeToString(serial)
	return s.certs(ctx, "di|"+i+"|"+n, selectCert+"trust_store_dscs WHERE issuer_key = ? AND serial_number_hex = ?", i, n)
}

// DSCsBySKI returns the DSCs with that subject key identifier.
func (s *Store) DSCsBySKI(ctx context.Context, ski []byte) ([]Certificate, error) {
	k := hex.EncodeToString(ski)
	return s.certs(ctx, "dk|"+k, selectCert+"trust_store_dscs WHERE ski_hex = ?", k)
}

// CRLs returns the CRLs of an issuer (Name DER), newest first.
func (s *Store) CRLs(ctx context.Context, issuer []byte) ([]CRL, error) {
	k := hex.EncodeToString(issuer)
	if v, ok := s.cache.get("rl|" + k); ok {
		return v.([]CRL), nil
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT fingerprint, source, country_code, issuer_key, issuer_name, aki_hex, this_update, next_update, der
		FROM trust_store_crls WHERE issuer_key = ? ORDER BY this_update DESC LIMIT ?`), k, maxLookup)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []CRL
	for rows.Next() {
		var c CRL
		var aki sql.NullString
		var next sql.NullTime
		if err := rows.Scan(&c.Fingerprint, &c.Source, &c.CountryCode, &c.IssuerKey, &c.IssuerName, &aki, &c.ThisUpdate, &next, &c.DER); err != nil {
			return nil, err
		}
		c.AKIHex, c.NextUpdate = aki.String, next.Time
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	s.cache.put("rl|"+k, out)
	return out, nil
}

// Revoked reports whether the CRL (by fingerprint) lists the serial
// (INTEGER content octets as encoded).
func (s *Store) Revoked(ctx context.Context, crlFingerprint string, serial []byte) (bool, error) {
	var one int
	err := s.db.QueryRowContext(ctx, s.q("SELECT 1 FROM trust_store_crl_revocations WHERE crl_fingerprint = ? AND serial_number_hex = ?"),
		crlFingerprint, hex.EncodeToString(serial)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// Status is what /readyz reports of the store.
type Status struct {
	// Empty: nothing was ever imported.
	Empty bool `json:"empty"`
	// ImportedAt is the last import; AgeSeconds how long ago it was.
	ImportedAt *time.Time   `json:"importedAt,omitempty"`
	AgeSeconds int64        `json:"ageSeconds,omitempty"`
	Counts     *StoreCounts `json:"counts,omitempty"`
	// StalestCRL is the stored CRL whose nextUpdate comes first: past it,
	// revocation for that issuer is unknown until a refresh.
	StalestCRL *StalestCRL `json:"stalestCrl,omitempty"`
}

// StalestCRL names the CRL due first.
type StalestCRL struct {
	IssuerName string    `json:"issuer"`
	NextUpdate time.Time `json:"nextUpdate"`
	Overdue    bool      `json:"overdue"`
}

// Status reads the last import and the stalest CRL: two indexed queries.
func (s *Store) Status(ctx context.Context) (Status, error) {
	var st Status
	var at time.Time
	var counts string
	err := s.db.QueryRowContext(ctx, "SELECT imported_at, counts FROM trust_store_imports ORDER BY imported_at DESC LIMIT 1").Scan(&at, &counts)
	if errors.Is(err, sql.ErrNoRows) {
		return Status{Empty: true}, nil
	}
	if err != nil {
		return st, err
	}
	now := s.now()
	at = at.UTC()
	st.ImportedAt, st.AgeSeconds = &at, int64(now.Sub(at)/time.Second)
	var rep Report
	if json.Unmarshal([]byte(counts), &rep) == nil {
		st.Counts = &rep.Store
	}
	var name string
	var next time.Time
	err = s.db.QueryRowContext(ctx, "SELECT issuer_name, next_update FROM trust_store_crls WHERE next_update IS NOT NULL ORDER BY next_update LIMIT 1").Scan(&name, &next)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return st, err
	default:
		st.StalestCRL = &StalestCRL{IssuerName: name, NextUpdate: next.UTC(), Overdue: next.Before(now)}
	}
	return st, nil
}

// lookupCache is a small LRU with a time to live: a check asks for the
// same few CSCAs and CRLs again and again, and an import elsewhere shows
// after the TTL (an import through this Store clears it at once).
type lookupCache struct {
	mu   sync.Mutex
	max  int
	ttl  time.Duration
	now  func() time.Time
	ll   *list.List
	byID map[string]*list.Element
}

type cacheEntry struct {
	key string
	val any
	at  time.Time
}

func newCache(max int, ttl time.Duration, now func() time.Time) *lookupCache {
	return &lookupCache{max: max, ttl: ttl, now: now, ll: list.New(), byID: map[string]*list.Element{}}
}

func (c *lookupCache) get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byID[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if c.now().Sub(e.at) > c.ttl {
		c.ll.Remove(el)
		delete(c.byID, key)
		return nil, false
	}
	c.ll.MoveToFront(el)
	return e.val, true
}

func (c *lookupCache) put(key string, val any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byID[key]; ok {
		el.Value = &cacheEntry{key: key, val: val, at: c.now()}
		c.ll.MoveToFront(el)
		return
	}
	c.byID[key] = c.ll.PushFront(&cacheEntry{key: key, val: val, at: c.now()})
	for c.ll.Len() > c.max {
		last := c.ll.Back()
		c.ll.Remove(last)
		delete(c.byID, last.Value.(*cacheEntry).key)
	}
}

func (c *lookupCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ll.Init()
	c.byID = map[string]*list.Element{}
}

func (s *Store) cached() int {
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	return s.cache.ll.Len()
}
