// Package mrz reads a passport or ID card's DG1 (ICAO 9303-10 §4.7.1):
// the strict BER-TLV around it, the machine readable zone inside it in
// the three formats of ICAO 9303 Parts 4 (TD3), 5 (TD1) and 6 (TD2), and
// the claims a relying party is shared from it, including
// kayle_document_id and the age gates, and the face-match threshold the
// biometric verifier is given.
//
// Unlike the reference, every check digit (ICAO 9303-3 §4.9) is verified
// and a failure names the field; DG1 is not read as text when its TLV is
// malformed; and a TD1 or TD2 document number longer than nine characters
// is read whole, from its overflow into the optional data.
//
// The package holds no state and touches no database: it is the first
// check of the document flow, run on bytes the phone read from the chip.
// What it proves: the MRZ is well formed and self-consistent. What it does
// not prove: that the chip or the MRZ is genuine (passive authentication
// does, over DG1's hash).
package mrz
