// Package flow is the verify socket's per-connection controller: the phone
// protocol of behaviour notes §5 (hello, phases, chunked chip data, the
// selfie video, share selection) over the document checks of
// verify/document, App Attest (verify/appattest) and the biometric
// verifier (verify/biometric), with every state change written through the
// store's conditional updates.
//
// It knows nothing of WebSockets: a transport hands it each binary
// message in order and sends what it answers. Messages are handled
// strictly one after another (upstream handles them concurrently, §5.2), so
// a check never races an upload of the same connection.
//
// Where it differs from upstream on purpose (behaviour notes §11):
//   - The artefacts that passed the document checks are frozen: the
//     liveness check and the claims use that snapshot, and a later
//     connection must present artefacts with the same digest (recorded with
//     the nfc_complete phase) before its liveness check runs.
//   - Challenges are fresh: the active-authentication challenge is random
//     per hello, the liveness nonce random each time a connection enters
//     (or re-enters) liveness_capturing and spent by the check that uses it,
//     and a resume at liveness_capturing gets a nonce of its own.
//   - A resume must carry the session's App Attest key when the gate is on.
//   - A verifier outage (verify/biometric.ErrUnavailable) answers
//     LIVENESS_CHALLENGE_UNAVAILABLE and spends no liveness try.
//   - Hello on an ended session answers SESSION_EXPIRED, not
//     SESSION_NOT_FOUND.
package flow
