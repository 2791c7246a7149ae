package proto

import (
	"encoding/json"
	"slices"
)

// Reasons of DATA_CHUNK_RETRY (§5.7 steps 4 and 6).
const (
	RetryInvalidNFCIndex      = "invalid_nfc_index"
	RetryInvalidLivenessTotal = "invalid_liveness_artifact_total"
	RetryInvalidLivenessIndex = "invalid_liveness_artifact_index"
	RetryInvalidChunkRange    = "invalid_chunk_range"
	RetryChunkTotalMismatch   = "chunk_total_mismatch"
)

const numKinds = int(KindLivenessVideo) + 1

// Assembler holds one connection's uploads (§5.7): partial artefacts by
// kind and index, completed ones by kind, and the transfer budget.
//
// Memory: every byte it keeps was counted against MaxConnectionBytes when it
// arrived, and the counter never shrinks (upstream's rule: rewinds, replaced
// artefacts and dropped entries do not give budget back), so one connection
// holds at most 48 MiB plus the frame being handled. A chunk index sent again
// for a pending artefact counts only the bytes by which it outgrows the
// copy it replaces (zero for an identical re-send); counting nothing, as
// "not counted twice" could also be read, would let a client hold 256
// full-size chunks per artefact on a budget of 256 one-byte ones.
//
// An Assembler is not safe for concurrent use; a connection handles its
// messages in order.
type Assembler struct {
	received  uint64
	pending   []*pendingArtefact // in arrival order, as missing_chunks lists them
	artefacts [numKinds][]byte
	present   [numKinds]bool
}

type pendingArtefact struct {
	kind       DataKind
	index      uint32
	chunkTotal uint32
	chunks     [][]byte
	have       []bool
	count      int    // chunks present
	bytes      uint64 // their length
}

// NewAssembler returns an empty Assembler.
func NewAssembler() *Assembler { return &Assembler{} }

// Received is the connection's counted bytes (the budget's counter).
func (a *Assembler) Received() uint64 { return a.received }

// Add applies the rules of §5.7, in order, to one data message received
// while the connection is at phase. It returns the ack to send, or a
// *Error to send instead (the socket stays open either way).
func (a *Assembler) Add(phase Phase, p DataPayload) (string, error) {
	if err := DataPhaseAllowed(phase, p.Kind); err != nil {
		return "", err
	}
	// 1. Unreachable behind the frame limit, kept as upstream has it.
	if len(p.Raw) > MaxFrameBytes {
		return "", NewError(CodeFrameTooLarge)
	}
	// 2. Kinds.
	if p.Kind == KindSelfie {
		return "", NewError(CodeLegacySelfieKindUnsupported)
	}
	if int(p.Kind) >= numKinds {
		return "", NewError(CodeUnknownDataKind)
	}
	// 3. Budget.
	entry := a.findPending(p.Kind, p.Index)
	growth := uint64(len(p.Raw))
	if entry != nil && p.ChunkIndex < uint32(len(entry.have)) && entry.have[p.ChunkIndex] {
		growth = uint64(max(0, len(p.Raw)-len(entry.chunks[p.ChunkIndex])))
	}
	if a.received+growth > MaxConnectionBytes {
		return "", NewError(CodeTransferTooLarge)
	}
	// 4. Indices and ranges.
	chunkTotal := max(p.ChunkTotal, 1)
	switch {
	case p.Kind.IsNFC() && p.Index != 0:
		return "", retryError(p, RetryInvalidNFCIndex)
	case p.Kind == KindLivenessVideo && p.Total != 1:
		return "", retryError(p, RetryInvalidLivenessTotal)
	case p.Kind == KindLivenessVideo && p.Index != 0:
		return "", retryError(p, RetryInvalidLivenessIndex)
	case p.ChunkIndex >= chunkTotal:
		return "", retryError(p, RetryInvalidChunkRange)
	}
	// 5.
	if p.ChunkTotal > MaxChunkTotal {
		return "", NewError(CodeChunkTotalTooLarge)
	}
	// 6. A pending entry always has chunkTotal ≥ 2, so a one-chunk upload
	// of a kind with one pending is refused here too.
	if entry != nil && entry.chunkTotal != p.ChunkTotal {
		return "", retryError(p, RetryChunkTotalMismatch)
	}
	a.received += growth

	if p.ChunkTotal <= 1 {
		return a.complete(p.Kind, p.Index, p.Raw)
	}
	if entry == nil {
		entry = &pendingArtefact{
			kind: p.Kind, index: p.Index, chunkTotal: p.ChunkTotal,
			chunks: make([][]byte, p.ChunkTotal), have: make([]bool, p.ChunkTotal),
		}
		a.pending = append(a.pending, entry)
	}
	if entry.have[p.ChunkIndex] {
		entry.bytes -= uint64(len(entry.chunks[p.ChunkIndex]))
	} else {
		entry.have[p.ChunkIndex] = true
		entry.count++
	}
	entry.chunks[p.ChunkIndex] = p.Raw // DecodeClient's copy: ours to keep
	entry.bytes += uint64(len(p.Raw))
	if entry.count < len(entry.have) {
		return AckDataChunk(p.Kind, p.Index, p.ChunkIndex), nil
	}
	a.dropPending(entry)
	if entry.bytes > MaxArtefactBytes {
		return "", NewError(CodeArtifactTooLarge)
	}
	whole := make([]byte, 0, entry.bytes)
	for _, c := range entry.chunks {
		whole = append(whole, c...)
	}
	return a.complete(p.Kind, p.Index, whole)
}

func (a *Assembler) complete(kind DataKind, index uint32, data []byte) (string, error) {
	if len(data) > MaxArtefactBytes {
		return "", NewError(CodeArtifactTooLarge)
	}
	if kind == KindActiveAuth && len(data) <= ActiveAuthChallengeBytes {
		return "", NewError(CodeActiveAuthPayloadInvalid)
	}
	a.artefacts[kind] = data
	a.present[kind] = true
	return AckDataComplete(kind, index), nil
}

func (a *Assembler) findPending(kind DataKind, index uint32) *pendingArtefact {
	for _, e := range a.pending {
		if e.kind == kind && e.index == index {
			return e
		}
	}
	return nil
}

func (a *Assembler) dropPending(entry *pendingArtefact) {
	a.pending = slices.DeleteFunc(a.pending, func(e *pendingArtefact) bool { return e == entry })
}

// Artefact returns the completed artefact of kind, if any. The slice is
// the Assembler's; callers must not change it.
func (a *Assembler) Artefact(kind DataKind) ([]byte, bool) {
	if int(kind) >= numKinds || !a.present[kind] {
		return nil, false
	}
	return a.artefacts[kind], true
}

// ActiveAuth splits the activeAuth artefact into the challenge the chip
// signed (its first 8 bytes) and the signature.
func (a *Assembler) ActiveAuth() (challenge, signature []byte, ok bool) {
	b, ok := a.Artefact(KindActiveAuth)
	if !ok {
		return nil, nil, false
	}
	return b[:ActiveAuthChallengeBytes], b[ActiveAuthChallengeBytes:], true
}

// ClearNFC drops every NFC artefact, complete or partial (the rewind
// nfc_complete → nfc_reading, §5.6 step 5). The budget is not given back.
func (a *Assembler) ClearNFC() {
	a.clear(DataKind.IsNFC)
}

// ClearLivenessVideo drops the video, complete or partial (the rewind
// liveness_complete → liveness_capturing).
func (a *Assembler) ClearLivenessVideo() {
	a.clear(func(k DataKind) bool { return k == KindLivenessVideo })
}

func (a *Assembler) clear(match func(DataKind) bool) {
	for k := range numKinds {
		if match(DataKind(k)) {
			a.artefacts[k], a.present[k] = nil, false
		}
	}
	a.pending = slices.DeleteFunc(a.pending, func(e *pendingArtefact) bool { return match(e.kind) })
}

// MissingChunk is one entry of missing_chunks (§5.6 step 2).
type MissingChunk struct {
	Kind                DataKind `json:"kind"`
	Index               uint32   `json:"index"`
	ChunkTotal          uint32   `json:"chunk_total"`
	MissingChunkIndices []uint32 `json:"missing_chunk_indices"`
}

// Field order is the JSON's key order.
type nfcMissing struct {
	MissingArtifacts []string       `json:"missing_artifacts"`
	MissingChunks    []MissingChunk `json:"missing_chunks"`
}

type livenessMissing struct {
	ReceivedBytes uint64         `json:"received_bytes"`
	MissingChunks []MissingChunk `json:"missing_chunks"`
}

func (a *Assembler) missingChunks(match func(DataKind) bool) (out []MissingChunk, bytes uint64) {
	out = []MissingChunk{}
	for _, e := range a.pending {
		if !match(e.kind) {
			continue
		}
		m := MissingChunk{Kind: e.kind, Index: e.index, ChunkTotal: e.chunkTotal, MissingChunkIndices: []uint32{}}
		for i, ok := range e.have {
			if !ok {
				m.MissingChunkIndices = append(m.MissingChunkIndices, uint32(i))
			}
		}
		out = append(out, m)
		bytes += e.bytes
	}
	return out, bytes
}

// MissingNFC is §5.6 step 2 for nfc_complete: nil when DG1, DG2 and SOD are
// complete and no NFC artefact is half-received, else
// NFC_REQUIRED_DATA_MISSING with the JSON message
// {"missing_artifacts":[…],"missing_chunks":[…]}.
func (a *Assembler) MissingNFC() error {
	m := nfcMissing{MissingArtifacts: []string{}}
	for _, k := range []DataKind{KindDG1, KindDG2, KindSOD} {
		if !a.present[k] {
			m.MissingArtifacts = append(m.MissingArtifacts, k.String())
		}
	}
	m.MissingChunks, _ = a.missingChunks(DataKind.IsNFC)
	if len(m.MissingArtifacts) == 0 && len(m.MissingChunks) == 0 {
		return nil
	}
	return &Error{Code: CodeNFCRequiredDataMissing, Message: mustJSON(m)}
}

// MissingLiveness is §5.6 step 2 for liveness_complete: MissingNFC's
// answer if it has one; nil when the video is complete; else
// LIVENESS_REQUIRED_DATA_MISSING with
// {"received_bytes":N,"missing_chunks":[…]}, N being the bytes of the
// video's partial upload.
func (a *Assembler) MissingLiveness() error {
	if err := a.MissingNFC(); err != nil {
		return err
	}
	if a.present[KindLivenessVideo] {
		return nil
	}
	var m livenessMissing
	m.MissingChunks, m.ReceivedBytes = a.missingChunks(func(k DataKind) bool { return k == KindLivenessVideo })
	return &Error{Code: CodeLivenessRequiredDataMissing, Message: mustJSON(m)}
}

type retryMessage struct {
	Kind       DataKind `json:"kind"`
	Index      uint32   `json:"index"`
	ChunkIndex uint32   `json:"chunkIndex"`
	Reason     string   `json:"reason"`
}

func retryError(p DataPayload, reason string) *Error {
	return &Error{Code: CodeDataChunkRetry, Message: mustJSON(retryMessage{p.Kind, p.Index, p.ChunkIndex, reason})}
}

// mustJSON marshals the package's own message structs, which cannot fail.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
