package truststore

import (
	"crypto"

	"github.com/kayle-id/orgs-api/verify/lds"
	"github.com/kayle-id/orgs-api/verify/passiveauth"
)

// verifySignature checks sig over msg with the key of spki under alg, as
// passive authentication checks every signature of the document PKI (RSA
// PKCS#1 v1.5 and PSS, ECDSA on NIST, brainpool and explicit curves).
// digest is the hash when alg names only the key type (CMS signers may say
// rsaEncryption or id-ecPublicKey and put the hash in digestAlgorithm).
func verifySignature(spki []byte, alg lds.AlgorithmIdentifier, digest crypto.Hash, msg, sig []byte) error {
	_, err := passiveauth.VerifySignature(spki, alg, digest, msg, sig)
	return err
}
