package truststore

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// What an import reads, before anything is written: the parsed sets.
type parsed struct {
	cscas       map[string]*cscaItem // by fingerprint
	masterLists MasterListCounts
	dscs        map[string]*item
	crls        map[string]*crlItem
	objects     ObjectCounts
	hasObjects  bool
	hasMLs      bool
	hasBundle   bool
	bundle      BundleCounts
	bundleCSCAs map[string]*cscaItem
	bundleDSCs  map[string]*item
	bundleCRLs  map[string]*crlItem
}

type item struct {
	cert                    *certFields
	sourceCountry, sourceDN string
}

type mlSource struct {
	DN          string `json:"dn"`
	CountryCode string `json:"countryCode"`
}

type cscaItem struct {
	item
	sources []mlSource
}

type crlItem struct {
	crl                     *crlFields
	sourceCountry, sourceDN string
}

// MasterListCounts is what the master lists file held.
type MasterListCounts struct {
	Read     int               `json:"read"`
	Verified int               `json:"verified"`
	Refused  []RefusedListJSON `json:"refused"`
	// Certificates counts every certificate of the verified lists; CSCAs
	// the distinct ones (a CSCA is in many countries' lists).
	Certificates int `json:"certificates"`
	CSCAs        int `json:"cscas"`
}

// RefusedListJSON names a master list not imported, and why.
type RefusedListJSON struct {
	DN     string `json:"dn"`
	Reason string `json:"reason"`
}

// ObjectCounts is what the objects file held.
type ObjectCounts struct {
	Entries       int `json:"entries"`
	DSCs          int `json:"dscs"`
	CRLs          int `json:"crls"`
	Revocations   int `json:"revocations"`
	IgnoredBCSC   int `json:"ignoredBcsc"`
	IgnoredBCSCNC int `json:"ignoredBcscNc"`
	// Other counts entries with none of the PKD's attributes (the tree's
	// country and container entries).
	Other int `json:"other"`
}

// BundleCounts is what the bundle JSON held.
type BundleCounts struct {
	CSCAs int `json:"cscas"`
	DSCs  int `json:"dscs"`
	CRLs  int `json:"crls"`
}

// dnValues returns, for each attribute type, its values in a DN's order.
// PKD DNs are plain (no escaped commas in the o= and c= parts it reads);
// a value with an escaped comma only loses its own part.
func dnValue(dn, typ string, allowed ...string) string {
	var last string
	for _, rdn := range splitDN(dn) {
		k, v, ok := strings.Cut(rdn, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), typ) {
			continue
		}
		v = strings.TrimSpace(v)
		if len(allowed) == 0 {
			last = v
			continue
		}
		for _, a := range allowed {
			if strings.EqualFold(v, a) {
				last = strings.ToLower(v)
			}
		}
	}
	return last
}

func splitDN(dn string) []string {
	var out []string
	start := 0
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++
		case ',', '+':
			out = append(out, dn[start:i])
			start = i + 1
		}
	}
	return append(out, dn[start:])
}

// readObjects reads the PKD objects file (icaopkd-001): DSCs, CRLs and
// barcode signers, the object type being the last o= of the DN among the
// PKD's (ICAO PKD interface specification) and the source country the
// last c=.
func (p *parsed) readObjects(r io.Reader, lim Limits) error {
	p.hasObjects = true
	lr := NewLDIFReader(r, lim)
	for {
		rec, err := lr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("objects file: %w", err)
		}
		p.objects.Entries++
		kind := dnValue(rec.DN, "o", "bcsc", "bcsc-nc", "cr", "crl", "dsc")
		country := strings.ToUpper(dnValue(rec.DN, "c"))
		certs, crls := rec.Values("userCertificate"), rec.Values("certificateRevocationList")
		switch {
		case kind == "bcsc" && len(certs) > 0:
			p.objects.IgnoredBCSC++
			continue
		case kind == "bcsc-nc" && len(certs) > 0:
			p.objects.IgnoredBCSCNC++
			continue
		case len(certs) == 0 && len(crls) == 0:
			p.objects.Other++
			continue
		}
		for _, der := range certs {
			c, err := parseCert(der)
			if err != nil {
				return fmt.Errorf("objects file, entry at line %d (%s): %w", rec.Line, rec.DN, err)
			}
			p.objects.DSCs++
			p.dscs[c.fingerprint] = &item{cert: c, sourceCountry: country, sourceDN: rec.DN}
		}
		for _, der := range crls {
			c, err := parseCRL(der)
			if err != nil {
				return fmt.Errorf("objects file, entry at line %d (%s): %w", rec.Line, rec.DN, err)
			}
			p.objects.CRLs++
			p.objects.Revocations += len(c.revoked)
			p.crls[c.fingerprint] = &crlItem{crl: c, sourceCountry: country, sourceDN: rec.DN}
		}
	}
}

// readMasterLists reads the PKD master lists file (icaopkd-002): each
// entry's pkdMasterListContent (the PKD's name; CscaMasterListData is
// read too) is a CMS-signed CSCA master list, verified before any of its
// certificates is taken; a list that fails is refused and named in the
// counts. Every certificate of a verified list becomes a CSCA,
// de-duplicated by DER with the lists that carried it merged.
func (p *parsed) readMasterLists(r io.Reader, lim Limits) error {
	p.hasMLs = true
	lr := NewLDIFReader(r, lim)
	for {
		rec, err := lr.Next()
		if err == io.EOF {
			p.masterLists.CSCAs = len(p.cscas)
			return nil
		}
		if err != nil {
			return fmt.Errorf("master lists file: %w", err)
		}
		values := append(rec.Values("pkdMasterListContent"), rec.Values("CscaMasterListData")...)
		country := strings.ToUpper(dnValue(rec.DN, "c"))
		for _, der := range values {
			p.masterLists.Read++
			certs, err := verifyMasterList(der)
			if err != nil {
				p.masterLists.Refused = append(p.masterLists.Refused, RefusedListJSON{DN: rec.DN, Reason: err.Error()})
				continue
			}
			p.masterLists.Verified++
			src := mlSource{DN: rec.DN, CountryCode: country}
			for _, c := range certs {
				p.masterLists.Certificates++
				if have, ok := p.cscas[c.fingerprint]; ok {
					have.sources = appendSource(have.sources, src)
					continue
				}
				p.cscas[c.fingerprint] = &cscaItem{item: item{cert: c, sourceCountry: country, sourceDN: rec.DN}, sources: []mlSource{src}}
			}
		}
	}
}

func appendSource(list []mlSource, s mlSource) []mlSource {
	for _, have := range list {
		if have == s {
			return list
		}
	}
	return append(list, s)
}

// bundleJSON is upstream's version-2 trust bundle (its
// tests/fixtures/passive-auth/trust-bundle.json is one). Only each
// entry's DER and source are read: every other field is recomputed from
// the DER, so a bundle cannot index a certificate under a key it does not
// have.
type bundleJSON struct {
	Version int           `json:"version"`
	CSCAs   []bundleEntry `json:"cscas"`
	DSCs    []bundleEntry `json:"dscs"`
	CRLs    []bundleEntry `json:"crls"`
}

type bundleEntry struct {
	DERBase64         string     `json:"derBase64"`
	SourceCountryCode string     `json:"sourceCountryCode"`
	SourceDN          string     `json:"sourceDn"`
	MasterListSources []mlSource `json:"masterListSources"`
}

// maxBundle bounds the bundle JSON read.
const maxBundle = 512 << 20

// readBundle reads upstream's bundle JSON. Its CSCAs carry no master-list
// signature (upstream never kept one), so they are trusted as the file
// says: import a bundle only from a source you trust.
func (p *parsed) readBundle(r io.Reader) error {
	p.hasBundle = true
	dec := json.NewDecoder(io.LimitReader(r, maxBundle))
	var b bundleJSON
	if err := dec.Decode(&b); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if b.Version != 2 {
		return fmt.Errorf("bundle: version %d (2 expected)", b.Version)
	}
	for i, e := range b.CSCAs {
		c, err := decodeEntry(e, parseCert)
		if err != nil {
			return fmt.Errorf("bundle: cscas[%d]: %w", i, err)
		}
		it := &cscaItem{item: item{cert: c, sourceCountry: strings.ToUpper(e.SourceCountryCode), sourceDN: e.SourceDN}, sources: e.MasterListSources}
		p.bundleCSCAs[c.fingerprint] = it
	}
	for i, e := range b.DSCs {
		c, err := decodeEntry(e, parseCert)
		if err != nil {
			return fmt.Errorf("bundle: dscs[%d]: %w", i, err)
		}
		p.bundleDSCs[c.fingerprint] = &item{cert: c, sourceCountry: strings.ToUpper(e.SourceCountryCode), sourceDN: e.SourceDN}
	}
	for i, e := range b.CRLs {
		c, err := decodeEntry(e, parseCRL)
		if err != nil {
			return fmt.Errorf("bundle: crls[%d]: %w", i, err)
		}
		p.bundleCRLs[c.fingerprint] = &crlItem{crl: c, sourceCountry: strings.ToUpper(e.SourceCountryCode), sourceDN: e.SourceDN}
	}
	p.bundle = BundleCounts{CSCAs: len(p.bundleCSCAs), DSCs: len(p.bundleDSCs), CRLs: len(p.bundleCRLs)}
	return nil
}

func decodeEntry[T any](e bundleEntry, parse func([]byte) (T, error)) (T, error) {
	der, err := base64.StdEncoding.DecodeString(e.DERBase64)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("derBase64: %w", err)
	}
	if len(der) == 0 {
		var zero T
		return zero, errors.New("derBase64 is empty")
	}
	return parse(der)
}
