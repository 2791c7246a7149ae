package proto

import (
	"strings"
	"testing"
)

// The dictionary of §5.13 and the literals of §5.2/§5.5/§5.7, byte for
// byte: several messages use U+2019 (’), never '.
func TestMessages(t *testing.T) {
	want := map[string]string{
		"HELLO_REQUIRED":                           "Send hello before other messages.",
		"INVALID_MESSAGE":                          "Binary protobuf messages are required.",
		"DECODE_FAILED":                            "Failed to decode protobuf message.",
		"INTERNAL_ERROR":                           "An internal server error occurred.",
		"FRAME_TOO_LARGE":                          "Verify frame exceeds the maximum allowed size.",
		"UNKNOWN_DATA_KIND":                        "Unknown data kind.",
		"LEGACY_SELFIE_KIND_UNSUPPORTED":           "Legacy three-still selfie uploads are no longer accepted. Upgrade the client and re-attempt verification.",
		"TRANSFER_TOO_LARGE":                       "Verify transfer exceeds the maximum allowed size.",
		"CHUNK_TOTAL_TOO_LARGE":                    "chunkTotal exceeds the maximum allowed value.",
		"ARTIFACT_TOO_LARGE":                       "Verify artifact exceeds the maximum allowed size.",
		"ACTIVE_AUTH_PAYLOAD_INVALID":              "Active authentication payload is invalid.",
		"DATA_CHUNK_RETRY":                         "Retry the upload.",
		"WEBSOCKET_REQUIRED":                       "This endpoint requires a WebSocket connection.",
		"ATTEST_CHALLENGE_RATE_LIMITED":            "Too many App Attest challenge requests. Try again later.",
		"INVALID_SESSION_ID":                       "This link isn\u2019t valid. Go back and open a new one.",
		"SESSION_EXPIRED":                          "This session has expired. Start again.",
		"SESSION_NOT_FOUND":                        "We can\u2019t find this session. Start again.",
		"SESSION_IN_PROGRESS":                      "Continue on the device where you started.",
		"HELLO_AUTH_REQUIRED":                      "This connection is missing credentials. Please try again.",
		"HANDOFF_TOKEN_INVALID":                    "This code isn\u2019t valid. Scan a new one from your browser.",
		"HANDOFF_TOKEN_EXPIRED":                    "This code has expired. Generate a new one.",
		"HANDOFF_TOKEN_CONSUMED":                   "Continue on your original device or start again.",
		"HANDOFF_DEVICE_MISMATCH":                  "Use the device you started with or start again.",
		"HELLO_ATTEST_KEY_UNKNOWN":                 "Your device hasn\u2019t completed setup. Reopen the app to register and try again.",
		"HELLO_ATTEST_INVALID":                     "We couldn\u2019t confirm your device. Reinstall the app or contact support.",
		"MIN_APP_VERSION_REQUIRED":                 "Update Kayle ID to the latest version to continue this check.",
		"CANCEL_TOKEN_INVALID":                     "This session can\u2019t be cancelled from this link. Open the original verify link or contact support.",
		"CANCEL_TOKEN_USED":                        "This session has already been cancelled.",
		"INVALID_REQUEST":                          "The request payload was missing or malformed.",
		"CONSENT_REQUIRED":                         "Review and accept the required consent steps to continue.",
		"SESSION_CONNECTION_ACTIVE":                "This session is active elsewhere. Continue there or try again later.",
		"PHASE_OUT_OF_ORDER":                       "Continue from the current step.",
		"NFC_DATA_PHASE_REQUIRED":                  "Scan your document when prompted.",
		"LIVENESS_DATA_PHASE_REQUIRED":             "Follow the head-movement prompts to continue.",
		"LIVENESS_CHALLENGE_UNAVAILABLE":           "We couldn\u2019t start the liveness check on this server. Try again later or contact support.",
		"SHARE_SELECTION_REQUIRED":                 "Choose at least one detail to continue.",
		"SHARE_SELECTION_INVALID_FIELD":            "Some selected details aren\u2019t available. Review and try again.",
		"SHARE_SELECTION_MISSING_REQUIRED":         "You must keep required details selected.",
		"document_authenticity_failed":             "Kayle ID could not automatically confirm your document. Try again or use a different one.",
		"document_active_authentication_failed":    "We couldn\u2019t confirm your document chip. Try again or use a different one.",
		"document_chip_authentication_failed":      "We couldn\u2019t confirm your document chip. Try again or use a different one.",
		"document_anti_cloning_attestation_failed": "We couldn\u2019t confirm this scan came from a trusted device. Try again on the same device or contact support.",
		"document_data_invalid":                    "We couldn\u2019t read some details from your document chip. Try again or use a different one.",
		"selfie_face_mismatch":                     "Kayle ID could not automatically confirm that your face matched the document photo. Try again.",
		"liveness_failed":                          "We couldn\u2019t confirm the camera was on a live person. Try again and follow the head-movement prompts.",
	}
	for code, msg := range want {
		if got := Describe(code); got != msg {
			t.Errorf("Describe(%s) = %q, want %q", code, got, msg)
		}
		if e := NewError(code); e.Code != code || e.Message != msg {
			t.Errorf("NewError(%s) = %+v", code, e)
		}
	}
	// Nothing in the table that is not in the notes, and no ASCII apostrophe.
	for code, msg := range messages {
		if _, ok := want[code]; !ok {
			t.Errorf("unlisted code %s", code)
		}
		if strings.Contains(msg, "'") {
			t.Errorf("%s uses an ASCII apostrophe", code)
		}
	}
	// The JSON-message codes have no dictionary text here.
	for _, code := range []string{CodeNFCRequiredDataMissing, CodeLivenessRequiredDataMissing} {
		if Describe(code) != "" {
			t.Errorf("%s has a description", code)
		}
	}
}

func TestAcksAndLimits(t *testing.T) {
	if AckHelloOK != "hello_ok" || AckPhaseOK != "phase_ok" {
		t.Fatal("hello/phase acks")
	}
	if got := AckDataChunk(KindLivenessVideo, 0, 255); got != "data_chunk_ok_8_0_255" {
		t.Fatal(got)
	}
	if got := AckDataComplete(KindChipAuth, 0); got != "data_ok_7_0" {
		t.Fatal(got)
	}
	if MaxFrameBytes != 262144 || MaxChunkTotal != 256 || MaxArtefactBytes != 16777216 || MaxConnectionBytes != 50331648 {
		t.Fatal("limits")
	}
	names := []string{"dg1", "dg2", "sod", "selfie", "dg14", "dg15", "activeAuth", "chipAuth", "livenessVideo"}
	for i, n := range names {
		if DataKind(i).String() != n {
			t.Errorf("kind %d = %s", i, DataKind(i))
		}
	}
	if DataKind(9).String() != "DataKind(9)" || DataKind(9).IsNFC() || KindSelfie.IsNFC() || KindLivenessVideo.IsNFC() {
		t.Fatal("kind 9 / selfie / video")
	}
}
