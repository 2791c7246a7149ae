// Package biometric is the client of the biometric verifier's HTTP
// contract (behaviour-verify §6.7): GET /health until the verifier says
// it is ready, POST /prewarm when a person starts the selfie step, and
// POST /verify with the chip's DG2, the liveness video, the liveness
// nonce and the face-match threshold, answered by a liveness, PAD and
// face-match verdict.
//
// The verifier is run by the operator beside the server; the client
// treats its answers as hostile all the same. Every call has a deadline,
// the answer is read up to MaxAnswer bytes and decoded strictly (exact
// keys, no duplicates, types and ranges as the contract says), and
// anything short of a well-formed verdict is an error wrapping
// ErrUnavailable. That split is the point of the package: a negative
// verdict is the person's failed try, an unavailable verifier is the
// operator's outage, and the caller must be able to tell them apart so
// that an outage does not spend the person's liveness tries (upstream
// reports both as the same failed verdict).
//
// Outbound connections go through egress: no proxy from the environment,
// no redirect followed, and loopback or private addresses only when the
// operator says the verifier lives there (Config.AllowPrivate).
package biometric
