// Package chipauth checks a recorded chip authentication (ICAO 9303-11
// §6.2; BSI TR-03110-2 §3.4, CA version 2; TR-03110-3 §A.2.3–A.2.4, §A.3):
// the phone agreed a key with the chip's static key from DG14 using an
// ephemeral terminal key, and the chip answered with a nonce r_PICC and an
// authentication token T_PICC = MAC(K_MAC, PK_PCD). The phone uploads the
// exchange, terminal private key included, as a transcript (ParseTranscript).
//
// What a server-side check proves, and what it does not (behaviour notes
// §11). Because the transcript carries the terminal's private key, anyone
// who knows DG14's public key (it is in every copy of the chip's data) can
// compute a matching token without a chip: Verify passing shows the
// transcript is self-consistent with DG14 and the standard's KDF and MAC,
// not that a genuine chip took part. It proves nothing against a client
// that lies; only a trusted client (App Attest, outside this package) or a
// live exchange the server drives itself can make it evidence. Treat it as
// a consistency check; active authentication (verify/activeauth) is the
// check a cloned chip cannot pass. CA version 1 has no token at all (the
// chip proves itself only by the secure-messaging keys that follow), so
// Requirement reports version-1-only documents as skipped.
//
// Beyond the reference: brainpool and explicit-parameter chip keys (through
// verify/ecc), DH (the group from DG14's parameters), 3DES (retail MAC) as
// well as AES, and the token's public key object carries the protocol OID
// (id-CA-…) as TR-03110-3 §A.2.4.2 / D.3.4 says; the reference puts id-PK-…
// there, which Options.ReferenceTokenOID reproduces for its own vectors.
package chipauth
