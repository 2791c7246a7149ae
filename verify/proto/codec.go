package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	capnp "capnproto.org/go/capnp/v3"

	vc "github.com/kayle-id/orgs-api/gen/verifycapnp"
)

// Decoder work bounds. A frame is at most MaxFrameBytes (the caller's
// check); these keep what the decoder does proportional to the bytes it got.
const (
	// maxSegments: encoders put these small messages in one segment, or a
	// few when a big Data field spills into another; 16 leaves room and
	// keeps the segment table under 72 bytes.
	maxSegments = 16
	// traverseFactor bounds the bytes the reader may visit to this many
	// times the frame's size (minimum traverseFloor): a well-formed message
	// is read about once, so only pointer aliasing (amplification) reaches it.
	traverseFactor = 4
	traverseFloor  = 1 << 10
	// maxDepth: ClientMessage → union member → List(Text) → Text is 4 deep.
	maxDepth = 8
)

// ErrDecode wraps every DecodeClient and DecodeServer failure; the socket
// answers DECODE_FAILED for any of them.
var ErrDecode = errors.New("proto: undecodable message")

func decodeErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrDecode, fmt.Sprintf(format, args...))
}

// ClientKind says which member of ClientMessage's union a message carries.
type ClientKind uint16

const (
	ClientHello          ClientKind = ClientKind(vc.ClientMessage_Which_hello)
	ClientPhase          ClientKind = ClientKind(vc.ClientMessage_Which_phase)
	ClientData           ClientKind = ClientKind(vc.ClientMessage_Which_data)
	ClientShareSelection ClientKind = ClientKind(vc.ClientMessage_Which_shareSelection)
)

// ClientMessage is a decoded ClientMessage: Kind says which one field is set.
type ClientMessage struct {
	Kind           ClientKind
	Hello          Hello
	Phase          PhaseUpdate
	Data           DataPayload
	ShareSelection ShareSelection
}

// Hello is ClientHello. DecodeClient trims its text fields (§5.5 step 1).
type Hello struct {
	SessionID              string
	MobileWriteToken       string
	DeviceID               string
	AppVersion             string
	AttestKeyID            string
	HelloAssertion         []byte
	RuntimeIntegritySignal uint32
}

// PhaseUpdate is PhaseUpdate; the phase string is kept as sent.
type PhaseUpdate struct {
	Phase           string
	Error           string
	AttestAssertion []byte
}

// DataPayload is DataPayload. Raw is a copy, owned by the caller.
type DataPayload struct {
	Kind       DataKind
	Raw        []byte
	Index      uint32
	Total      uint32
	ChunkIndex uint32
	ChunkTotal uint32
}

// ShareSelection is ShareSelection, normalised as §5.11 reads it: the
// session id trimmed; keys trimmed, blanks dropped, duplicates merged
// (first occurrence kept). An empty list and a list of blanks both end
// empty, which the caller answers SHARE_SELECTION_REQUIRED either way.
type ShareSelection struct {
	SessionID         string
	SelectedFieldKeys []string
}

// readMessage checks the stream framing (segment table) and opens the
// message with the work bounds set.
func readMessage(frame []byte) (*capnp.Message, error) {
	if len(frame) < 8 {
		return nil, decodeErr("frame of %d bytes is shorter than a segment table", len(frame))
	}
	n := uint64(binary.LittleEndian.Uint32(frame)) + 1
	if n > maxSegments {
		return nil, decodeErr("%d segments (at most %d)", n, maxSegments)
	}
	hdr := (4 + 4*n + 7) &^ 7 // the table is padded to a word
	if uint64(len(frame)) < hdr {
		return nil, decodeErr("truncated segment table")
	}
	total := hdr
	for i := uint64(0); i < n; i++ {
		total += 8 * uint64(binary.LittleEndian.Uint32(frame[4+4*i:]))
	}
	// capnp-go panics reading the root of an empty first segment.
	if binary.LittleEndian.Uint32(frame[4:]) == 0 {
		return nil, decodeErr("empty first segment")
	}
	// One message per frame (§5.2): bytes after it are as wrong as missing ones.
	if total != uint64(len(frame)) {
		return nil, decodeErr("segments total %d bytes in a %d-byte frame", total, len(frame))
	}
	msg, err := capnp.Unmarshal(frame)
	if err != nil {
		return nil, decodeErr("%v", err)
	}
	msg.TraverseLimit = max(traverseFactor*uint64(len(frame)), traverseFloor)
	msg.DepthLimit = maxDepth
	// No msg.Release, ever: for an unmarshalled message it hands the
	// caller's frame to capnp's buffer pool, which zeroes and reuses it.
	return msg, nil
}

// recoverDecode turns a panic inside capnp-go (an alpha library; one such
// panic is guarded above) into a decode error, so hostile bytes cannot take
// the connection's goroutine down.
func recoverDecode(err *error) {
	if r := recover(); r != nil {
		*err = decodeErr("capnp panic: %v", r)
	}
}

// DecodeClient decodes one client frame: a standard (unpacked) Cap'n Proto
// message with its segment table, root ClientMessage. Every failure wraps
// ErrDecode, including an unknown union member.
func DecodeClient(frame []byte) (_ ClientMessage, err error) {
	defer recoverDecode(&err)
	msg, err := readMessage(frame)
	if err != nil {
		return ClientMessage{}, err
	}
	ptr, err := msg.Root()
	if err != nil {
		return ClientMessage{}, decodeErr("root: %v", err)
	}
	if !ptr.Struct().IsValid() {
		return ClientMessage{}, decodeErr("root is not a struct")
	}
	root := vc.ClientMessage(ptr.Struct())
	var out ClientMessage
	var r reader
	switch w := root.Which(); w {
	case vc.ClientMessage_Which_hello:
		out.Kind = ClientHello
		h, err := root.Hello()
		r.member(root.HasHello(), h.IsValid(), err)
		out.Hello = Hello{
			SessionID:              jsTrim(r.text(h.HasSessionId, h.SessionIdBytes)),
			MobileWriteToken:       jsTrim(r.text(h.HasMobileWriteToken, h.MobileWriteTokenBytes)),
			DeviceID:               jsTrim(r.text(h.HasDeviceId, h.DeviceIdBytes)),
			AppVersion:             jsTrim(r.text(h.HasAppVersion, h.AppVersionBytes)),
			AttestKeyID:            jsTrim(r.text(h.HasAttestKeyId, h.AttestKeyIdBytes)),
			HelloAssertion:         r.data(h.HasHelloAssertion, h.HelloAssertion),
			RuntimeIntegritySignal: h.RuntimeIntegritySignal(),
		}
	case vc.ClientMessage_Which_phase:
		out.Kind = ClientPhase
		p, err := root.Phase()
		r.member(root.HasPhase(), p.IsValid(), err)
		out.Phase = PhaseUpdate{
			Phase:           r.text(p.HasPhase, p.PhaseBytes),
			Error:           r.text(p.HasError, p.ErrorBytes),
			AttestAssertion: r.data(p.HasAttestAssertion, p.AttestAssertion),
		}
	case vc.ClientMessage_Which_data:
		out.Kind = ClientData
		d, err := root.Data()
		r.member(root.HasData(), d.IsValid(), err)
		out.Data = DataPayload{
			Kind:       DataKind(d.Kind()),
			Raw:        r.data(d.HasRaw, d.Raw),
			Index:      d.Index(),
			Total:      d.Total(),
			ChunkIndex: d.ChunkIndex(),
			ChunkTotal: d.ChunkTotal(),
		}
	case vc.ClientMessage_Which_shareSelection:
		out.Kind = ClientShareSelection
		sel, err := root.ShareSelection()
		r.member(root.HasShareSelection(), sel.IsValid(), err)
		out.ShareSelection = ShareSelection{
			SessionID:         jsTrim(r.text(sel.HasSessionId, sel.SessionIdBytes)),
			SelectedFieldKeys: normaliseKeys(r.texts(sel.SelectedFieldKeys())),
		}
	default:
		return ClientMessage{}, decodeErr("unknown ClientMessage member %d", uint16(w))
	}
	if r.err != nil {
		return ClientMessage{}, decodeErr("%v", r.err)
	}
	return out, nil
}

// reader collects the first getter error, so field lists stay readable.
type reader struct{ err error }

func (r *reader) set(err error) {
	if err != nil && r.err == nil {
		r.err = err
	}
}

// text reads a Text field strictly, as the C++ and TypeScript readers do:
// null is "", and a pointer that is not NUL-terminated text is an error
// (capnp-go alone would read it as "").
func (r *reader) text(has func() bool, get func() ([]byte, error)) string {
	b, err := get()
	r.set(err)
	if err == nil && b == nil && has() {
		r.set(errors.New("a Text field is not text"))
	}
	return string(b)
}

// data reads a Data field strictly (null is empty, a non-byte list an
// error) and copies it out of the frame.
func (r *reader) data(has func() bool, get func() ([]byte, error)) []byte {
	b, err := get()
	r.set(err)
	if err == nil && b == nil && has() {
		r.set(errors.New("a Data field is not data"))
	}
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// member checks that a union member's pointer, when set, is a struct.
func (r *reader) member(has bool, valid bool, err error) {
	r.set(err)
	if err == nil && has && !valid {
		r.set(errors.New("a struct field is not a struct"))
	}
}

// texts reads a List(Text) strictly: capnp-go refuses a list of another
// element size, and each element must be null or text.
func (r *reader) texts(l capnp.TextList, err error) []string {
	if err != nil {
		r.set(err)
		return nil
	}
	pl := capnp.PointerList(capnp.List(l))
	out := make([]string, 0, l.Len())
	for i := 0; i < l.Len(); i++ {
		p, err := pl.At(i)
		r.set(err)
		b := p.TextBytes()
		if err == nil && b == nil && p.IsValid() {
			r.set(errors.New("a List(Text) element is not text"))
		}
		out = append(out, string(b))
	}
	return out
}

// normaliseKeys trims each key, drops blanks and merges duplicates, keeping
// the first occurrence's position (§5.11).
func normaliseKeys(keys []string) []string {
	out := make([]string, 0, len(keys))
	seen := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		k = jsTrim(k)
		if k == "" {
			continue
		}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		out = append(out, k)
	}
	return out
}

// jsTrim is JavaScript's String.prototype.trim, which upstream applies:
// ECMAScript WhiteSpace and LineTerminator. It differs from
// strings.TrimSpace on U+0085 (not trimmed) and U+FEFF (trimmed).
func jsTrim(s string) string {
	return strings.TrimFunc(s, isJSSpace)
}

func isJSSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000, 0xFEFF:
		return true
	}
	return r >= 0x2000 && r <= 0x200A
}

// newMessage starts a single-segment message for an encoder.
func newMessage() (*capnp.Message, *capnp.Segment) {
	msg, seg, err := capnp.NewMessage(capnp.SingleSegment(nil))
	if err != nil {
		// Only an arena that is not empty fails here, and this one is new.
		panic(err)
	}
	return msg, seg
}

// encoder collects the first setter error of one message.
type encoder struct{ err error }

func (e *encoder) set(err error) {
	if err != nil && e.err == nil {
		e.err = err
	}
}

func finish(msg *capnp.Message, e *encoder) ([]byte, error) {
	if e.err != nil {
		return nil, fmt.Errorf("proto: encode: %w", e.err)
	}
	b, err := msg.Marshal()
	if err != nil {
		return nil, fmt.Errorf("proto: encode: %w", err)
	}
	return b, nil
}

func setTextList(e *encoder, newList func(int32) (capnp.TextList, error), keys []string) {
	l, err := newList(int32(len(keys)))
	e.set(err)
	if err != nil {
		return
	}
	for i, k := range keys {
		e.set(l.Set(i, k))
	}
}
