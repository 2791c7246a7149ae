package proto

import "strconv"

// Limits of §5.2 and §5.7.
const (
	MaxFrameBytes      = 256 << 10 // one WebSocket message, and one chunk's raw bytes
	MaxChunkTotal      = 256       // chunkTotal above this is refused
	MaxArtefactBytes   = 16 << 20  // one reassembled artefact
	MaxConnectionBytes = 48 << 20  // every raw byte accepted on one connection
	// An activeAuth payload is the 8-byte challenge the chip signed, then the
	// signature; 8 bytes or fewer cannot hold both.
	ActiveAuthChallengeBytes = 8
)

// Protocol error codes (§5.13). The socket-only ones carry the literal
// messages below; the rest use the dictionary's description (Describe).
const (
	CodeHelloRequired                = "HELLO_REQUIRED"
	CodeInvalidMessage               = "INVALID_MESSAGE"
	CodeDecodeFailed                 = "DECODE_FAILED"
	CodeInternalError                = "INTERNAL_ERROR"
	CodeFrameTooLarge                = "FRAME_TOO_LARGE"
	CodeUnknownDataKind              = "UNKNOWN_DATA_KIND"
	CodeLegacySelfieKindUnsupported  = "LEGACY_SELFIE_KIND_UNSUPPORTED"
	CodeTransferTooLarge             = "TRANSFER_TOO_LARGE"
	CodeDataChunkRetry               = "DATA_CHUNK_RETRY"
	CodeChunkTotalTooLarge           = "CHUNK_TOTAL_TOO_LARGE"
	CodeArtifactTooLarge             = "ARTIFACT_TOO_LARGE"
	CodeActiveAuthPayloadInvalid     = "ACTIVE_AUTH_PAYLOAD_INVALID"
	CodeNFCRequiredDataMissing       = "NFC_REQUIRED_DATA_MISSING"
	CodeLivenessRequiredDataMissing  = "LIVENESS_REQUIRED_DATA_MISSING"
	CodeInvalidSessionID             = "INVALID_SESSION_ID"
	CodeSessionExpired               = "SESSION_EXPIRED"
	CodeSessionNotFound              = "SESSION_NOT_FOUND"
	CodeSessionInProgress            = "SESSION_IN_PROGRESS"
	CodeHelloAuthRequired            = "HELLO_AUTH_REQUIRED"
	CodeHandoffTokenInvalid          = "HANDOFF_TOKEN_INVALID"
	CodeHandoffTokenExpired          = "HANDOFF_TOKEN_EXPIRED"
	CodeHandoffTokenConsumed         = "HANDOFF_TOKEN_CONSUMED"
	CodeHandoffDeviceMismatch        = "HANDOFF_DEVICE_MISMATCH"
	CodeHelloAttestKeyUnknown        = "HELLO_ATTEST_KEY_UNKNOWN"
	CodeHelloAttestInvalid           = "HELLO_ATTEST_INVALID"
	CodeMinAppVersionRequired        = "MIN_APP_VERSION_REQUIRED"
	CodeCancelTokenInvalid           = "CANCEL_TOKEN_INVALID"
	CodeCancelTokenUsed              = "CANCEL_TOKEN_USED"
	CodeInvalidRequest               = "INVALID_REQUEST"
	CodeConsentRequired              = "CONSENT_REQUIRED"
	CodeSessionConnectionActive      = "SESSION_CONNECTION_ACTIVE"
	CodePhaseOutOfOrder              = "PHASE_OUT_OF_ORDER"
	CodeNFCDataPhaseRequired         = "NFC_DATA_PHASE_REQUIRED"
	CodeLivenessDataPhaseRequired    = "LIVENESS_DATA_PHASE_REQUIRED"
	CodeLivenessChallengeUnavailable = "LIVENESS_CHALLENGE_UNAVAILABLE"
	CodeShareSelectionRequired       = "SHARE_SELECTION_REQUIRED"
	CodeShareSelectionInvalidField   = "SHARE_SELECTION_INVALID_FIELD"
	CodeShareSelectionMissingReq     = "SHARE_SELECTION_MISSING_REQUIRED"
	CodeWebSocketRequired            = "WEBSOCKET_REQUIRED"            // HTTP 426 at upgrade (§5.1)
	CodeAttestChallengeRateLimited   = "ATTEST_CHALLENGE_RATE_LIMITED" // HTTP 429 (§3.6)
)

// Check failure codes (§5.10), sent as checkResult's reasonCode with their
// description as reasonMessage.
const (
	FailureDocumentAuthenticity         = "document_authenticity_failed"
	FailureDocumentActiveAuthentication = "document_active_authentication_failed"
	FailureDocumentChipAuthentication   = "document_chip_authentication_failed"
	FailureDocumentAntiCloning          = "document_anti_cloning_attestation_failed"
	FailureDocumentDataInvalid          = "document_data_invalid"
	FailureSelfieFaceMismatch           = "selfie_face_mismatch"
	FailureLiveness                     = "liveness_failed"
)

// messages holds every code's message as the socket sends it. Several
// contain the typographic apostrophe U+2019, not '.
var messages = map[string]string{
	// Socket-only literals (§5.2, §5.5, §5.7).
	CodeHelloRequired:               "Send hello before other messages.",
	CodeInvalidMessage:              "Binary protobuf messages are required.", // sic: upstream's wording
	CodeDecodeFailed:                "Failed to decode protobuf message.",
	CodeInternalError:               "An internal server error occurred.",
	CodeFrameTooLarge:               "Verify frame exceeds the maximum allowed size.",
	CodeUnknownDataKind:             "Unknown data kind.",
	CodeLegacySelfieKindUnsupported: "Legacy three-still selfie uploads are no longer accepted. Upgrade the client and re-attempt verification.",
	CodeTransferTooLarge:            "Verify transfer exceeds the maximum allowed size.",
	CodeChunkTotalTooLarge:          "chunkTotal exceeds the maximum allowed value.",
	CodeArtifactTooLarge:            "Verify artifact exceeds the maximum allowed size.",
	CodeActiveAuthPayloadInvalid:    "Active authentication payload is invalid.",
	// The dictionary's description; the socket sends a JSON message instead
	// (RetryMessage), like the two *_REQUIRED_DATA_MISSING codes.
	CodeDataChunkRetry:             "Retry the upload.",
	CodeWebSocketRequired:          "This endpoint requires a WebSocket connection.",
	CodeAttestChallengeRateLimited: "Too many App Attest challenge requests. Try again later.",

	// The dictionary (§5.13), HTTP and socket alike.
	CodeInvalidSessionID:             "This link isn’t valid. Go back and open a new one.",
	CodeSessionExpired:               "This session has expired. Start again.",
	CodeSessionNotFound:              "We can’t find this session. Start again.",
	CodeSessionInProgress:            "Continue on the device where you started.",
	CodeHelloAuthRequired:            "This connection is missing credentials. Please try again.",
	CodeHandoffTokenInvalid:          "This code isn’t valid. Scan a new one from your browser.",
	CodeHandoffTokenExpired:          "This code has expired. Generate a new one.",
	CodeHandoffTokenConsumed:         "Continue on your original device or start again.",
	CodeHandoffDeviceMismatch:        "Use the device you started with or start again.",
	CodeHelloAttestKeyUnknown:        "Your device hasn’t completed setup. Reopen the app to register and try again.",
	CodeHelloAttestInvalid:           "We couldn’t confirm your device. Reinstall the app or contact support.",
	CodeMinAppVersionRequired:        "Update Kayle ID to the latest version to continue this check.",
	CodeCancelTokenInvalid:           "This session can’t be cancelled from this link. Open the original verify link or contact support.",
	CodeCancelTokenUsed:              "This session has already been cancelled.",
	CodeInvalidRequest:               "The request payload was missing or malformed.",
	CodeConsentRequired:              "Review and accept the required consent steps to continue.",
	CodeSessionConnectionActive:      "This session is active elsewhere. Continue there or try again later.",
	CodePhaseOutOfOrder:              "Continue from the current step.",
	CodeNFCDataPhaseRequired:         "Scan your document when prompted.",
	CodeLivenessDataPhaseRequired:    "Follow the head-movement prompts to continue.",
	CodeLivenessChallengeUnavailable: "We couldn’t start the liveness check on this server. Try again later or contact support.",
	CodeShareSelectionRequired:       "Choose at least one detail to continue.",
	CodeShareSelectionInvalidField:   "Some selected details aren’t available. Review and try again.",
	CodeShareSelectionMissingReq:     "You must keep required details selected.",

	FailureDocumentAuthenticity:         "Kayle ID could not automatically confirm your document. Try again or use a different one.",
	FailureDocumentActiveAuthentication: "We couldn’t confirm your document chip. Try again or use a different one.",
	FailureDocumentChipAuthentication:   "We couldn’t confirm your document chip. Try again or use a different one.",
	FailureDocumentAntiCloning:          "We couldn’t confirm this scan came from a trusted device. Try again on the same device or contact support.",
	FailureDocumentDataInvalid:          "We couldn’t read some details from your document chip. Try again or use a different one.",
	FailureSelfieFaceMismatch:           "Kayle ID could not automatically confirm that your face matched the document photo. Try again.",
	FailureLiveness:                     "We couldn’t confirm the camera was on a live person. Try again and follow the head-movement prompts.",
}

// Describe returns code's message, or "" for a code this package does not
// know (NFC_REQUIRED_DATA_MISSING and LIVENESS_REQUIRED_DATA_MISSING have
// only JSON messages, built by the Assembler).
func Describe(code string) string { return messages[code] }

// Error is a protocol error: what the server sends as ServerMessage.error.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// NewError returns the error for code with its message of §5.13.
func NewError(code string) *Error { return &Error{Code: code, Message: Describe(code)} }

// Acknowledgements (§5.3).
const (
	AckHelloOK = "hello_ok"
	AckPhaseOK = "phase_ok"
)

// AckDataChunk is the ack of a chunk that leaves its artefact incomplete.
func AckDataChunk(kind DataKind, index, chunkIndex uint32) string {
	return "data_chunk_ok_" + strconv.Itoa(int(kind)) + "_" + strconv.FormatUint(uint64(index), 10) +
		"_" + strconv.FormatUint(uint64(chunkIndex), 10)
}

// AckDataComplete is the ack of a completed, stored artefact.
func AckDataComplete(kind DataKind, index uint32) string {
	return "data_ok_" + strconv.Itoa(int(kind)) + "_" + strconv.FormatUint(uint64(index), 10)
}

// DataKind is DataPayload.kind. Values outside the schema's enum decode as
// they are (the Assembler answers UNKNOWN_DATA_KIND).
type DataKind uint16

// Data kinds, with the schema's ordinals.
const (
	KindDG1           DataKind = 0
	KindDG2           DataKind = 1
	KindSOD           DataKind = 2
	KindSelfie        DataKind = 3 // retired: refused with LEGACY_SELFIE_KIND_UNSUPPORTED
	KindDG14          DataKind = 4
	KindDG15          DataKind = 5
	KindActiveAuth    DataKind = 6
	KindChipAuth      DataKind = 7
	KindLivenessVideo DataKind = 8
)

var kindNames = [...]string{"dg1", "dg2", "sod", "selfie", "dg14", "dg15", "activeAuth", "chipAuth", "livenessVideo"}

// String is the schema's enumerant name ("dg1", "livenessVideo"), the name
// missing_artifacts uses.
func (k DataKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "DataKind(" + strconv.Itoa(int(k)) + ")"
}

// IsNFC reports whether k is a chip artefact (gated at nfc_reading).
func (k DataKind) IsNFC() bool {
	switch k {
	case KindDG1, KindDG2, KindSOD, KindDG14, KindDG15, KindActiveAuth, KindChipAuth:
		return true
	}
	return false
}

// CheckOutcome is ServerCheckResult.outcome.
type CheckOutcome uint16

const (
	OutcomeConfirmed    CheckOutcome = 0
	OutcomeNotConfirmed CheckOutcome = 1
)

// CheckKind is ServerCheckResult.failedCheck.
type CheckKind uint16

const (
	CheckMRZ      CheckKind = 0
	CheckNFC      CheckKind = 1
	CheckLiveness CheckKind = 2
	CheckNone     CheckKind = 3
)

// Values of the happy path (§5.3, §1).
const (
	// ContractVersion is ShareRequest.contractVersion.
	ContractVersion = 1
	// LivenessMaxDurationMs is ServerLivenessChallenge.maxDurationMs.
	LivenessMaxDurationMs = 8000
	// LivenessNonceBytes is the length of ServerLivenessChallenge.challengeNonce.
	LivenessNonceBytes = 4
)
