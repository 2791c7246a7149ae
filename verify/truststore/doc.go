// Package truststore is the document trust store (ICAO 9303-12) in the
// server's own database: CSCAs from the ICAO PKD master lists, DSCs and
// CRLs from the PKD objects file, or all three from upstream's bundle
// JSON; and the lookups passive authentication makes (CSCA by subject or
// key identifier, DSC by issuer and serial or key identifier, an issuer's
// CRLs and their revoked serials), each an indexed query behind a small
// cache.
//
// The importer reads the two PKD LDIF downloads in every form RFC 2849
// allows (URL values refused), verifies each master list's CMS signature
// and its signer's certificate against a CSCA of the same list before
// taking any of its certificates, and is idempotent: a re-import replaces
// its source's set; CRLs are merged per issuer, the newer kept.
//
// Nothing here verifies a document, and a stored CRL's signature is not
// checked on import: passive authentication checks it against the CSCA.
package truststore
