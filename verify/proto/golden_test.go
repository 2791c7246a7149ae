package proto

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// The capnp tool (Debian's capnproto) is the independent implementation:
// messages it encodes from text must decode here, and frames encoded here
// must print as the expected text through it.

var (
	capnpOnce sync.Once
	capnpPath string
	capnpStd  string
	capnpErr  string
)

func capnpTool(t testing.TB) (bin, std string) {
	t.Helper()
	capnpOnce.Do(func() {
		p, err := exec.LookPath("capnp")
		if err != nil {
			capnpErr = "capnp not installed (apt-get install capnproto)"
			return
		}
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "capnproto.org/go/capnp/v3").Output()
		if err != nil {
			capnpErr = "go list capnproto.org/go/capnp/v3: " + err.Error()
			return
		}
		capnpPath, capnpStd = p, filepath.Join(strings.TrimSpace(string(out)), "std")
	})
	if capnpErr != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the capnp tool is required under CI: %s", capnpErr)
		}
		t.Skip(capnpErr)
	}
	return capnpPath, capnpStd
}

const schemaFile = "../../api/verify.capnp"

func runCapnp(t testing.TB, stdin []byte, args ...string) []byte {
	t.Helper()
	bin, std := capnpTool(t)
	cmd := exec.Command(bin, append([]string{args[0], "-I" + std}, args[1:]...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("capnp %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// toolEncode is `capnp encode api/verify.capnp <root>` of a text message.
func toolEncode(t testing.TB, root, text string) []byte {
	return runCapnp(t, []byte(text), "encode", schemaFile, root)
}

// toolDecode is `capnp decode --short api/verify.capnp <root>` of a frame.
func toolDecode(t testing.TB, root string, frame []byte) string {
	return strings.TrimSpace(string(runCapnp(t, frame, "decode", "--short", schemaFile, root)))
}

type clientCase struct {
	name string
	text string        // what capnp encode reads
	want ClientMessage // what DecodeClient makes of it
	enc  func() ([]byte, error)
	// short is what capnp decode --short prints for enc's frame (it writes
	// bytes in octal and leaves out null pointers: capnp-go stores "" as null,
	// which every reader reads as "").
	short string
}

func clientCases() []clientCase {
	return []clientCase{
		{
			name: "hello",
			// JavaScript's trim: tab, NBSP, newline, space and the ideographic space go.
			text: "(hello = (sessionId = \"  vs_abc\\t\", mobileWriteToken = \"\u00a0tok \", deviceId = \"device-a\\n\", appVersion = \" 1.6.0\", attestKeyId = \"key\u3000\", helloAssertion = 0x\"a1 02\", runtimeIntegritySignal = 3))",
			want: ClientMessage{Kind: ClientHello, Hello: Hello{
				SessionID: "vs_abc", MobileWriteToken: "tok", DeviceID: "device-a", AppVersion: "1.6.0",
				AttestKeyID: "key", HelloAssertion: []byte{0xa1, 0x02}, RuntimeIntegritySignal: 3,
			}},
			enc: func() ([]byte, error) {
				return EncodeHello(Hello{SessionID: "vs_abc", MobileWriteToken: "tok", DeviceID: "device-a",
					AppVersion: "1.6.0", AttestKeyID: "key", HelloAssertion: []byte{0xa1, 0x02}, RuntimeIntegritySignal: 3})
			},
			short: `(hello = (sessionId = "vs_abc", mobileWriteToken = "tok", deviceId = "device-a", appVersion = "1.6.0", attestKeyId = "key", helloAssertion = "\241\002", runtimeIntegritySignal = 3))`,
		},
		{
			name: "hello empty",
			text: `(hello = ())`,
			want: ClientMessage{Kind: ClientHello},
		},
		{
			name: "phase",
			text: `(phase = (phase = "nfc_complete", error = "ignored", attestAssertion = 0x"00ff"))`,
			want: ClientMessage{Kind: ClientPhase, Phase: PhaseUpdate{Phase: "nfc_complete", Error: "ignored", AttestAssertion: []byte{0, 0xff}}},
			enc: func() ([]byte, error) {
				return EncodePhase(PhaseUpdate{Phase: "nfc_complete", Error: "ignored", AttestAssertion: []byte{0, 0xff}})
			},
			short: `(phase = (phase = "nfc_complete", error = "ignored", attestAssertion = "\000\377"))`,
		},
		{
			name: "phase kept as sent",
			text: `(phase = (phase = " mrz_scanning"))`,
			want: ClientMessage{Kind: ClientPhase, Phase: PhaseUpdate{Phase: " mrz_scanning"}},
		},
		{
			name: "data",
			text: `(data = (kind = dg2, raw = 0x"010203", index = 0, total = 1, chunkIndex = 2, chunkTotal = 3))`,
			want: ClientMessage{Kind: ClientData, Data: DataPayload{Kind: KindDG2, Raw: []byte{1, 2, 3}, Total: 1, ChunkIndex: 2, ChunkTotal: 3}},
			enc: func() ([]byte, error) {
				return EncodeData(DataPayload{Kind: KindDG2, Raw: []byte{1, 2, 3}, Total: 1, ChunkIndex: 2, ChunkTotal: 3})
			},
			short: `(data = (kind = dg2, raw = "\001\002\003", index = 0, total = 1, chunkIndex = 2, chunkTotal = 3))`,
		},
		{
			name: "data liveness video",
			text: `(data = (kind = livenessVideo, raw = "mp4", total = 1))`,
			want: ClientMessage{Kind: ClientData, Data: DataPayload{Kind: KindLivenessVideo, Raw: []byte("mp4"), Total: 1}},
		},
		{
			name: "data empty",
			text: `(data = (kind = dg1, raw = ""))`,
			want: ClientMessage{Kind: ClientData, Data: DataPayload{Kind: KindDG1}},
		},
		{
			name: "data selfie",
			text: `(data = (kind = selfie))`,
			want: ClientMessage{Kind: ClientData, Data: DataPayload{Kind: KindSelfie}},
		},
		{
			name: "shareSelection",
			text: `(shareSelection = (sessionId = " vs_abc ", selectedFieldKeys = [" given_name", "", "family_name", "given_name ", "  "]))`,
			want: ClientMessage{Kind: ClientShareSelection, ShareSelection: ShareSelection{SessionID: "vs_abc", SelectedFieldKeys: []string{"given_name", "family_name"}}},
			enc: func() ([]byte, error) {
				return EncodeShareSelection(ShareSelection{SessionID: "vs_abc", SelectedFieldKeys: []string{"given_name", "family_name"}})
			},
			short: `(shareSelection = (sessionId = "vs_abc", selectedFieldKeys = ["given_name", "family_name"]))`,
		},
		{
			name: "shareSelection empty",
			text: `(shareSelection = (sessionId = "vs_abc"))`,
			want: ClientMessage{Kind: ClientShareSelection, ShareSelection: ShareSelection{SessionID: "vs_abc", SelectedFieldKeys: []string{}}},
		},
	}
}

func TestGoldenClientMessages(t *testing.T) {
	for _, c := range clientCases() {
		t.Run(c.name, func(t *testing.T) {
			frame := toolEncode(t, "ClientMessage", c.text)
			got, err := DecodeClient(frame)
			if err != nil {
				t.Fatalf("DecodeClient(capnp encode %s): %v", c.text, err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("DecodeClient(capnp encode %s)\n got %#v\nwant %#v", c.text, got, c.want)
			}
			if c.enc == nil {
				return
			}
			ours, err := c.enc()
			if err != nil {
				t.Fatal(err)
			}
			if s := toolDecode(t, "ClientMessage", ours); s != c.short {
				t.Fatalf("capnp decode of our frame:\n got %s\nwant %s", s, c.short)
			}
			back, err := DecodeClient(ours)
			if err != nil || !reflect.DeepEqual(back, c.want) {
				t.Fatalf("round trip: %#v, %v; want %#v", back, err, c.want)
			}
		})
	}
}

type serverCase struct {
	name  string
	enc   func() ([]byte, error)
	short string        // capnp decode --short of enc's frame; also fed to capnp encode
	want  ServerMessage // DecodeServer of either frame
}

func serverCases() []serverCase {
	share := ShareRequest{ContractVersion: ContractVersion, SessionID: "vs_abc", Fields: []ShareField{
		{Key: "age_over_18", Reason: "Age check", Required: true},
		{Key: "given_name", Reason: "", Required: false},
	}}
	notConfirmed := CheckResult{
		Outcome: OutcomeNotConfirmed, ReasonCode: FailureDocumentAuthenticity,
		ReasonMessage: Describe(FailureDocumentAuthenticity), RetryAllowed: true,
		FailedCheck: CheckNFC, RemainingNFCRetries: 2, RemainingLivenessRetries: 3,
	}
	confirmed := CheckResult{Outcome: OutcomeConfirmed, FailedCheck: CheckNone, RemainingNFCRetries: 3, RemainingLivenessRetries: 3}
	return []serverCase{
		{
			name:  "ack",
			enc:   func() ([]byte, error) { return EncodeAck(AckHelloOK) },
			short: `(ack = (message = "hello_ok"))`,
			want:  ServerMessage{Kind: ServerAck, Ack: "hello_ok"},
		},
		{
			name:  "ack data",
			enc:   func() ([]byte, error) { return EncodeAck(AckDataChunk(KindDG2, 0, 2)) },
			short: `(ack = (message = "data_chunk_ok_1_0_2"))`,
			want:  ServerMessage{Kind: ServerAck, Ack: "data_chunk_ok_1_0_2"},
		},
		{
			name:  "error",
			enc:   func() ([]byte, error) { return EncodeError(NewError(CodeSessionNotFound)) },
			short: `(error = (code = "SESSION_NOT_FOUND", message = "We can’t find this session. Start again."))`,
			want:  ServerMessage{Kind: ServerError, Error: Error{Code: "SESSION_NOT_FOUND", Message: "We can’t find this session. Start again."}},
		},
		{
			name:  "checkResult notConfirmed",
			enc:   func() ([]byte, error) { return EncodeCheckResult(notConfirmed) },
			short: `(checkResult = (outcome = notConfirmed, reasonCode = "document_authenticity_failed", reasonMessage = "Kayle ID could not automatically confirm your document. Try again or use a different one.", retryAllowed = true, failedCheck = nfc, remainingNfcRetries = 2, remainingLivenessRetries = 3))`,
			want:  ServerMessage{Kind: ServerCheckResult, CheckResult: notConfirmed},
		},
		{
			name:  "checkResult confirmed",
			enc:   func() ([]byte, error) { return EncodeCheckResult(confirmed) },
			short: `(checkResult = (outcome = confirmed, retryAllowed = false, failedCheck = none, remainingNfcRetries = 3, remainingLivenessRetries = 3))`,
			want:  ServerMessage{Kind: ServerCheckResult, CheckResult: confirmed},
		},
		{
			name:  "shareRequest",
			enc:   func() ([]byte, error) { return EncodeShareRequest(share) },
			short: `(shareRequest = (contractVersion = 1, sessionId = "vs_abc", fields = [(key = "age_over_18", reason = "Age check", required = true), (key = "given_name", required = false)]))`,
			want:  ServerMessage{Kind: ServerShareRequest, ShareRequest: share},
		},
		{
			name: "shareReady",
			enc: func() ([]byte, error) {
				return EncodeShareReady(ShareReady{SessionID: "vs_abc", SelectedFieldKeys: []string{"age_over_18"}})
			},
			short: `(shareReady = (sessionId = "vs_abc", selectedFieldKeys = ["age_over_18"]))`,
			want:  ServerMessage{Kind: ServerShareReady, ShareReady: ShareReady{SessionID: "vs_abc", SelectedFieldKeys: []string{"age_over_18"}}},
		},
		{
			name: "activeAuthChallenge",
			enc: func() ([]byte, error) {
				return EncodeActiveAuthChallenge([]byte{0x5d, 0x7d, 0x73, 0xe2, 0xaf, 0xd9, 0x1f, 0xf6})
			},
			short: `(activeAuthChallenge = (challenge = "]}s\342\257\331\037\366"))`,
			want:  ServerMessage{Kind: ServerActiveAuthChallenge, ActiveAuthChallenge: []byte{0x5d, 0x7d, 0x73, 0xe2, 0xaf, 0xd9, 0x1f, 0xf6}},
		},
		{
			name: "livenessChallenge",
			enc: func() ([]byte, error) {
				return EncodeLivenessChallenge(LivenessChallenge{MaxDurationMs: LivenessMaxDurationMs, ChallengeNonce: []byte{0x8b, 0x57, 0xe2, 0xfe}})
			},
			short: `(livenessChallenge = (maxDurationMs = 8000, challengeNonce = "\213W\342\376"))`,
			want:  ServerMessage{Kind: ServerLivenessChallenge, LivenessChallenge: LivenessChallenge{MaxDurationMs: 8000, ChallengeNonce: []byte{0x8b, 0x57, 0xe2, 0xfe}}},
		},
	}
}

func TestGoldenServerMessages(t *testing.T) {
	for _, c := range serverCases() {
		t.Run(c.name, func(t *testing.T) {
			ours, err := c.enc()
			if err != nil {
				t.Fatal(err)
			}
			if s := toolDecode(t, "ServerMessage", ours); s != c.short {
				t.Fatalf("capnp decode of our frame:\n got %s\nwant %s", s, c.short)
			}
			for what, frame := range map[string][]byte{"ours": ours, "capnp encode": toolEncode(t, "ServerMessage", c.short)} {
				got, err := DecodeServer(frame)
				if err != nil {
					t.Fatalf("DecodeServer(%s): %v", what, err)
				}
				if !reflect.DeepEqual(got, c.want) {
					t.Fatalf("DecodeServer(%s)\n got %#v\nwant %#v", what, got, c.want)
				}
			}
		})
	}
}
