# The phone protocol of Kayle ID's verify WebSocket: one ClientMessage or
# ServerMessage per binary frame, standard (unpacked) framing.
#
# Origin: upstream Kayle ID's packages/capnp/verify.capnp (Business Source
# License 1.1, Kayle Inc.). This file is not a copy of it: it is written from
# the protocol description in behaviour-verify.md §5.2–§5.3, and every name,
# ordinal and type was checked against the newest stored upstream copy
# (KayleAI/kayle-id-v1 at 08df16c9), which predates the version the notes
# describe (d76dd36). Changes from that stored copy, as the notes state them:
#   - ClientHello @0 is `sessionId` (was `attemptId`; same slot, same type).
#   - ServerCheckResult: `remainingAttempts @4` is gone; `failedCheck`,
#     `remainingNfcRetries` and `remainingLivenessRetries` are new, with the
#     CheckKind enum. The notes list the fields in the order outcome,
#     reasonCode, reasonMessage, retryAllowed, failedCheck,
#     remainingNfcRetries, remainingLivenessRetries without ordinals; the
#     ordinals @4, @5, @6 of the last three are INFERRED from that order.
#   - The Go annotations below ($Go.name renames two Go accessors). Type ids are not on the wire, so they leave
#     the encoding unchanged; the file id is upstream's.
# Everything else (ordinals, types, enum values) is as in the stored copy.
@0xef7e0b8fbd1f2ab3;

using Go = import "/go.capnp";
$Go.package("verifycapnp");
$Go.import("github.com/kayle-id/orgs-api/gen/verifycapnp");

struct ClientHello {
  sessionId @0 :Text;
  mobileWriteToken @1 :Text;
  deviceId @2 :Text;
  appVersion @3 :Text;
  attestKeyId @4 :Text;              # Apple App Attest key id
  helloAssertion @5 :Data;           # CBOR App Attest assertion
  runtimeIntegritySignal @6 :UInt32; # bit 0 debugger, bit 1 App Attest swizzled; logged only
}

struct PhaseUpdate {
  phase @0 :Text;
  error @1 :Text;                    # ignored by the server
  attestAssertion @2 :Data;          # read only with phase "nfc_complete"
}

enum DataKind {
  dg1 @0;
  dg2 @1;
  sod @2;
  selfie @3;                         # retired kind, refused; the ordinal stays taken
  dg14 @4;
  dg15 @5;
  activeAuth @6;
  chipAuth @7;
  livenessVideo @8;
}

struct DataPayload {
  kind @0 :DataKind;
  raw @1 :Data;
  index @2 :UInt32;
  total @3 :UInt32;
  chunkIndex @4 :UInt32;
  chunkTotal @5 :UInt32;
}

struct ShareSelection {
  sessionId @0 :Text;
  selectedFieldKeys @1 :List(Text);
}

struct ClientMessage {
  union {
    hello @0 :ClientHello;
    phase @1 :PhaseUpdate;
    data @2 :DataPayload;
    shareSelection @3 :ShareSelection;
  }
}

struct ServerAck {
  message @0 :Text $Go.name("text");       # Go name only: Message() is capnp.Struct's
}

struct ServerError {
  code @0 :Text;
  message @1 :Text $Go.name("text");       # Go name only, as in ServerAck
}

enum CheckOutcome {
  confirmed @0;
  notConfirmed @1;
}

enum CheckKind {
  mrz @0;
  nfc @1;
  liveness @2;
  none @3;
}

struct ServerCheckResult {
  outcome @0 :CheckOutcome;
  reasonCode @1 :Text;
  reasonMessage @2 :Text;
  retryAllowed @3 :Bool;
  failedCheck @4 :CheckKind;               # ordinal inferred (see header)
  remainingNfcRetries @5 :UInt32;          # ordinal inferred (see header)
  remainingLivenessRetries @6 :UInt32;     # ordinal inferred (see header)
}

struct ShareRequestField {
  key @0 :Text;
  reason @1 :Text;
  required @2 :Bool;
}

struct ShareRequest {
  contractVersion @0 :UInt32;
  sessionId @1 :Text;
  fields @2 :List(ShareRequestField);
}

struct ShareReady {
  sessionId @0 :Text;
  selectedFieldKeys @1 :List(Text);
}

struct ServerActiveAuthChallenge {
  challenge @0 :Data;
}

struct ServerLivenessChallenge {
  reservedPoseSequence @0 :List(UInt8);    # retired; always sent empty
  maxDurationMs @1 :UInt32;
  challengeNonce @2 :Data;
}

struct ServerMessage {
  union {
    ack @0 :ServerAck;
    error @1 :ServerError;
    checkResult @2 :ServerCheckResult;
    shareRequest @3 :ShareRequest;
    shareReady @4 :ShareReady;
    activeAuthChallenge @5 :ServerActiveAuthChallenge;
    livenessChallenge @6 :ServerLivenessChallenge;
  }
}
