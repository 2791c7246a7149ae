package chipauth

import (
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// ErrTranscript: the transcript is malformed.
var ErrTranscript = errors.New("chipauth: malformed transcript")

// TranscriptVersion is the only layout version (behaviour notes §6.5).
const TranscriptVersion = 1

// maxTranscriptLen bounds the input: a 4096-bit DH exchange fits easily.
const maxTranscriptLen = 16 << 10

// Transcript is the chip-authentication exchange as the phone records it
// (behaviour notes §6.5, the layout the iOS app and the reference's
// mirror encoder write). All integers big-endian:
//
//	u8 version = 1
//	u16 oidLen, OID as dotted ASCII       (the CA protocol OID)
//	u8 keyIdLen (0 = none), key id        (unsigned)
//	u16 skLen, sk_PCD                     (terminal ephemeral private key)
//	u16 pkLen, PK_PCD                     (its public key, 04‖X‖Y for EC)
//	u8 nonceLen, r_PICC
//	u8 tokenLen, T_PICC
//
// with no trailing bytes and OID, sk, pk, nonce and token non-empty.
type Transcript struct {
	OID             asn1.ObjectIdentifier
	KeyID           []byte // nil: none
	TerminalPrivate []byte
	TerminalPublic  []byte
	Nonce           []byte
	Token           []byte
}

type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if r.bad || n > len(r.b) {
		r.bad = true
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() int {
	v := r.take(1)
	if v == nil {
		return 0
	}
	return int(v[0])
}

func (r *reader) u16() int {
	v := r.take(2)
	if v == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(v))
}

// ParseTranscript reads the layout above.
func ParseTranscript(b []byte) (*Transcript, error) {
	if len(b) > maxTranscriptLen {
		return nil, ErrTranscript
	}
	r := &reader{b: b}
	if r.u8() != TranscriptVersion {
		return nil, ErrTranscript
	}
	oid := r.take(r.u16())
	t := &Transcript{}
	if n := r.u8(); n > 0 {
		t.KeyID = r.take(n)
	}
	t.TerminalPrivate = r.take(r.u16())
	t.TerminalPublic = r.take(r.u16())
	t.Nonce = r.take(r.u8())
	t.Token = r.take(r.u8())
	if r.bad || len(r.b) != 0 || len(oid) == 0 || len(t.TerminalPrivate) == 0 ||
		len(t.TerminalPublic) == 0 || len(t.Nonce) == 0 || len(t.Token) == 0 {
		return nil, ErrTranscript
	}
	var err error
	if t.OID, err = parseDotted(string(oid)); err != nil {
		return nil, err
	}
	return t, nil
}

// parseDotted reads "0.4.0.127…": at most 32 arcs, each a plain decimal
// that fits an int32, the first 0–2.
func parseDotted(s string) (asn1.ObjectIdentifier, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 32 {
		return nil, ErrTranscript
	}
	oid := make(asn1.ObjectIdentifier, len(parts))
	for i, p := range parts {
		if p == "" || len(p) > 9 || (len(p) > 1 && p[0] == '0') || strings.TrimLeft(p, "0123456789") != "" {
			return nil, ErrTranscript
		}
		v, err := strconv.Atoi(p)
		if err != nil {
			return nil, ErrTranscript
		}
		oid[i] = v
	}
	if oid[0] > 2 || (oid[0] < 2 && oid[1] > 39) {
		return nil, ErrTranscript
	}
	return oid, nil
}

// Marshal writes the layout (for tests and tools that record exchanges).
func (t *Transcript) Marshal() ([]byte, error) {
	oid := t.OID.String()
	if len(oid) > 0xFFFF || len(t.KeyID) > 0xFF || len(t.TerminalPrivate) > 0xFFFF ||
		len(t.TerminalPublic) > 0xFFFF || len(t.Nonce) > 0xFF || len(t.Token) > 0xFF {
		return nil, ErrTranscript
	}
	out := []byte{TranscriptVersion}
	out = binary.BigEndian.AppendUint16(out, uint16(len(oid)))
	out = append(out, oid...)
	out = append(out, byte(len(t.KeyID)))
	out = append(out, t.KeyID...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(t.TerminalPrivate)))
	out = append(out, t.TerminalPrivate...)
	out = binary.BigEndian.AppendUint16(out, uint16(len(t.TerminalPublic)))
	out = append(out, t.TerminalPublic...)
	out = append(out, byte(len(t.Nonce)))
	out = append(out, t.Nonce...)
	out = append(out, byte(len(t.Token)))
	out = append(out, t.Token...)
	return out, nil
}
