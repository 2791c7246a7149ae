package server_test

import (
	"bytes"
	"testing"

	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
	"github.com/kayle-id/orgs-api/verify/flow"
	"github.com/kayle-id/orgs-api/verify/proto"
)

// step sends a phase and reads its answer: phase_ok, or the error code.
func (p *phone) step(name string, want string) {
	p.t.Helper()
	p.phase(name)
	if want == proto.AckPhaseOK {
		p.ack(proto.AckPhaseOK)
		return
	}
	p.wantError(want)
}

// data sends one data message and reads its ack; the ack text is
// returned, or the error when want names one.
func (p *phone) data(d proto.DataPayload, want string) proto.ServerMessage {
	p.t.Helper()
	p.must(p.c.Data(p.ctx, d))
	m := p.recv()
	switch {
	case m.Kind == proto.ServerAck && m.Ack == want:
	case m.Kind == proto.ServerError && m.Error.Code == want:
	default:
		p.t.Fatalf("data %v %d/%d: %s, want %s", d.Kind, d.ChunkIndex, d.ChunkTotal, describe(m), want)
	}
	return m
}

func describe(m proto.ServerMessage) string {
	switch m.Kind {
	case proto.ServerAck:
		return "ack " + m.Ack
	case proto.ServerError:
		return "error " + m.Error.Code + " " + m.Error.Message
	}
	return "another message"
}

// upload sends a whole artefact in one message and wants it stored.
func (p *phone) upload(kind proto.DataKind, raw []byte) {
	p.t.Helper()
	p.data(proto.DataPayload{Kind: kind, Raw: raw, Total: 1, ChunkTotal: 1}, proto.AckDataComplete(kind, 0))
}

func TestVerifySocketPhases(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "phases")
		id, token := e.handoff(t, o.key, "")
		p := e.dial(t, id)
		ch := p.hello(token, "device-a")
		const oo = proto.CodePhaseOutOfOrder
		// At mobile_connected: the same phase, forward by one, or nothing.
		p.step("mobile_connected", proto.AckPhaseOK)
		p.step("mrz_complete", oo)
		p.step("liveness_capturing", oo)
		// The data check precedes the transition check.
		p.phase("nfc_complete")
		wantMessage(t, p.wantError(proto.CodeNFCRequiredDataMissing), `{"missing_artifacts":["dg1","dg2","sod"],"missing_chunks":[]}`)
		p.phase("liveness_complete")
		p.wantError(proto.CodeNFCRequiredDataMissing)
		// An untracked phase is acknowledged and changes nothing.
		p.step("somewhere_else", proto.AckPhaseOK)
		p.step("mrz_complete", oo)
		p.step("mrz_scanning", proto.AckPhaseOK)
		p.step("mrz_complete", proto.AckPhaseOK)
		// The MRZ rewind.
		p.step("mrz_scanning", proto.AckPhaseOK)
		if v := e.phaseOf(t, id); v != "mrz_scanning" {
			t.Fatalf("row phase %q after the rewind", v)
		}
		p.step("mrz_complete", proto.AckPhaseOK)
		p.step("nfc_reading", proto.AckPhaseOK)
		// Backwards other than the three rewinds.
		p.step("mrz_scanning", oo)
		p.step("mobile_connected", oo)
		p.step("mrz_complete", oo)
		// NFC_REQUIRED_DATA_MISSING names what is absent and the chunks a
		// half-received artefact lacks.
		p.upload(proto.KindDG1, e.doc.DG1)
		third := (len(e.doc.DG2) + 2) / 3
		for i := range 2 {
			p.data(proto.DataPayload{Kind: proto.KindDG2, Raw: e.doc.DG2[i*third : (i+1)*third], Total: 1, ChunkIndex: uint32(i), ChunkTotal: 3},
				proto.AckDataChunk(proto.KindDG2, 0, uint32(i)))
		}
		p.phase("nfc_complete")
		wantMessage(t, p.wantError(proto.CodeNFCRequiredDataMissing),
			`{"missing_artifacts":["dg2","sod"],"missing_chunks":[{"kind":1,"index":0,"chunk_total":3,"missing_chunk_indices":[2]}]}`)
		p.data(proto.DataPayload{Kind: proto.KindDG2, Raw: e.doc.DG2[2*third:], Total: 1, ChunkIndex: 2, ChunkTotal: 3}, proto.AckDataComplete(proto.KindDG2, 0))
		for _, a := range []struct {
			kind proto.DataKind
			raw  []byte
		}{{proto.KindSOD, e.doc.SOD}, {proto.KindDG14, e.doc.DG14}, {proto.KindDG15, e.doc.DG15},
			{proto.KindActiveAuth, e.doc.ActiveAuth(t, ch)}, {proto.KindChipAuth, e.doc.CATranscript}} {
			p.upload(a.kind, a.raw)
		}
		p.step("liveness_capturing", oo)
		p.step("nfc_complete", proto.AckPhaseOK)
		// A repeat re-runs the checks and passes again.
		p.step("nfc_complete", proto.AckPhaseOK)
		// The NFC rewind drops every chip artefact.
		p.step("nfc_reading", proto.AckPhaseOK)
		p.phase("nfc_complete")
		wantMessage(t, p.wantError(proto.CodeNFCRequiredDataMissing), `{"missing_artifacts":["dg1","dg2","sod"],"missing_chunks":[]}`)
		p.scanData(e, ch)
		p.step("nfc_complete", proto.AckPhaseOK)
		p.step("liveness_complete", proto.CodeLivenessRequiredDataMissing)
		// Liveness: nothing received, then half a video.
		p.phase("liveness_capturing")
		p.expect(proto.ServerLivenessChallenge)
		p.ack(proto.AckPhaseOK)
		p.phase("liveness_complete")
		wantMessage(t, p.wantError(proto.CodeLivenessRequiredDataMissing), `{"received_bytes":0,"missing_chunks":[]}`)
		video := biotest.StubVideo(biotest.Accept)
		p.data(proto.DataPayload{Kind: proto.KindLivenessVideo, Raw: video[:10], Total: 1, ChunkTotal: 2}, proto.AckDataChunk(proto.KindLivenessVideo, 0, 0))
		p.phase("liveness_complete")
		wantMessage(t, p.wantError(proto.CodeLivenessRequiredDataMissing),
			`{"received_bytes":10,"missing_chunks":[{"kind":8,"index":0,"chunk_total":2,"missing_chunk_indices":[1]}]}`)
		p.data(proto.DataPayload{Kind: proto.KindLivenessVideo, Raw: video[10:], Total: 1, ChunkIndex: 1, ChunkTotal: 2}, proto.AckDataComplete(proto.KindLivenessVideo, 0))
		p.step("nfc_reading", oo)
		p.phase("liveness_complete")
		p.expect(proto.ServerCheckResult)
		p.expect(proto.ServerShareRequest)
		// The liveness rewind: a new challenge, and the video is gone.
		p.phase("liveness_capturing")
		p.expect(proto.ServerLivenessChallenge)
		p.ack(proto.AckPhaseOK)
		p.phase("liveness_complete")
		wantMessage(t, p.wantError(proto.CodeLivenessRequiredDataMissing), `{"received_bytes":0,"missing_chunks":[]}`)
		if v := e.phaseOf(t, id); v != "liveness_capturing" {
			t.Fatalf("row phase %q", v)
		}
	})
}

// scanData uploads the whole document at nfc_reading.
func (p *phone) scanData(e *verifyEnv, challenge []byte) {
	p.t.Helper()
	for _, a := range []struct {
		kind proto.DataKind
		raw  []byte
	}{{proto.KindDG1, e.doc.DG1}, {proto.KindDG2, e.doc.DG2}, {proto.KindSOD, e.doc.SOD}, {proto.KindDG14, e.doc.DG14},
		{proto.KindDG15, e.doc.DG15}, {proto.KindActiveAuth, e.doc.ActiveAuth(p.t, challenge)}, {proto.KindChipAuth, e.doc.CATranscript}} {
		p.upload(a.kind, a.raw)
	}
}

func (e *verifyEnv) phaseOf(t *testing.T, id string) string {
	t.Helper()
	var ph *string
	if err := e.st.DB().QueryRow(e.ph("SELECT current_phase FROM verification_sessions WHERE id = ?"), id).Scan(&ph); err != nil {
		t.Fatal(err)
	}
	if ph == nil {
		return ""
	}
	return *ph
}

func TestVerifySocketData(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "data")
		id, token := e.handoff(t, o.key, "")
		p := e.dial(t, id)
		p.hello(token, "device-a")
		// The phase gates.
		p.data(proto.DataPayload{Kind: proto.KindDG1, Raw: e.doc.DG1, ChunkTotal: 1}, proto.CodeNFCDataPhaseRequired)
		p.data(proto.DataPayload{Kind: proto.KindChipAuth, Raw: []byte{1}, ChunkTotal: 1}, proto.CodeNFCDataPhaseRequired)
		p.data(proto.DataPayload{Kind: proto.KindLivenessVideo, Raw: []byte{1}, Total: 1, ChunkTotal: 1}, proto.CodeLivenessDataPhaseRequired)
		for _, ph := range []string{"mrz_scanning", "mrz_complete", "nfc_reading"} {
			p.step(ph, proto.AckPhaseOK)
		}
		p.data(proto.DataPayload{Kind: proto.KindLivenessVideo, Raw: []byte{1}, Total: 1, ChunkTotal: 1}, proto.CodeLivenessDataPhaseRequired)
		// Retired and unknown kinds.
		m := p.data(proto.DataPayload{Kind: proto.KindSelfie, Raw: []byte{1}, ChunkTotal: 1}, proto.CodeLegacySelfieKindUnsupported)
		wantMessage(t, m.Error, "Legacy three-still selfie uploads are no longer accepted. Upgrade the client and re-attempt verification.")
		m = p.data(proto.DataPayload{Kind: 9, Raw: []byte{1}, ChunkTotal: 1}, proto.CodeUnknownDataKind)
		wantMessage(t, m.Error, "Unknown data kind.")
		// DATA_CHUNK_RETRY, with its JSON message.
		retry := func(d proto.DataPayload, msg string) {
			t.Helper()
			wantMessage(t, p.data(d, proto.CodeDataChunkRetry).Error, msg)
		}
		retry(proto.DataPayload{Kind: proto.KindDG1, Raw: []byte{1}, Index: 1, ChunkTotal: 1},
			`{"kind":0,"index":1,"chunkIndex":0,"reason":"invalid_nfc_index"}`)
		retry(proto.DataPayload{Kind: proto.KindSOD, Raw: []byte{1}, ChunkIndex: 2, ChunkTotal: 2},
			`{"kind":2,"index":0,"chunkIndex":2,"reason":"invalid_chunk_range"}`)
		retry(proto.DataPayload{Kind: proto.KindSOD, Raw: []byte{1}, ChunkIndex: 1, ChunkTotal: 0},
			`{"kind":2,"index":0,"chunkIndex":1,"reason":"invalid_chunk_range"}`)
		m = p.data(proto.DataPayload{Kind: proto.KindDG2, Raw: []byte{1}, ChunkTotal: 257}, proto.CodeChunkTotalTooLarge)
		wantMessage(t, m.Error, "chunkTotal exceeds the maximum allowed value.")
		// 256 chunks are allowed; a pending artefact keeps its chunk total.
		p.data(proto.DataPayload{Kind: proto.KindDG2, Raw: []byte{1}, ChunkIndex: 255, ChunkTotal: 256}, proto.AckDataChunk(proto.KindDG2, 0, 255))
		retry(proto.DataPayload{Kind: proto.KindDG2, Raw: []byte{1}, ChunkIndex: 0, ChunkTotal: 3},
			`{"kind":1,"index":0,"chunkIndex":0,"reason":"chunk_total_mismatch"}`)
		// Active authentication needs more than the 8-byte challenge.
		m = p.data(proto.DataPayload{Kind: proto.KindActiveAuth, Raw: bytes.Repeat([]byte{7}, 8), ChunkTotal: 1}, proto.CodeActiveAuthPayloadInvalid)
		wantMessage(t, m.Error, "Active authentication payload is invalid.")
		// Chunk acks; a repeated chunk replaces the earlier bytes; the
		// artefact completes in index order, whatever the arrival order.
		sod := e.doc.SOD
		half := len(sod) / 2
		p.data(proto.DataPayload{Kind: proto.KindSOD, Raw: sod[half:], ChunkIndex: 1, ChunkTotal: 2}, proto.AckDataChunk(proto.KindSOD, 0, 1))
		p.data(proto.DataPayload{Kind: proto.KindSOD, Raw: []byte("junk"), ChunkIndex: 1, ChunkTotal: 2}, proto.AckDataChunk(proto.KindSOD, 0, 1))
		p.data(proto.DataPayload{Kind: proto.KindSOD, Raw: sod[half:], ChunkIndex: 1, ChunkTotal: 2}, proto.AckDataChunk(proto.KindSOD, 0, 1))
		p.data(proto.DataPayload{Kind: proto.KindSOD, Raw: sod[:half], ChunkIndex: 0, ChunkTotal: 2}, proto.AckDataComplete(proto.KindSOD, 0))
		// The pending DG2 holds its chunk total until a rewind drops it.
		retry(proto.DataPayload{Kind: proto.KindDG2, Raw: e.doc.DG2, ChunkTotal: 1},
			`{"kind":1,"index":0,"chunkIndex":0,"reason":"chunk_total_mismatch"}`)
		p.step("nfc_complete", proto.CodeNFCRequiredDataMissing)

		// The video's rules, at liveness_capturing.
		id2, token2 := e.handoff(t, o.key, "")
		q := e.dial(t, id2)
		q.scan(e.doc, q.hello(token2, "device-a"))
		q.step("nfc_complete", proto.AckPhaseOK)
		q.phase("liveness_capturing")
		q.expect(proto.ServerLivenessChallenge)
		q.ack(proto.AckPhaseOK)
		wantMessage(t, q.data(proto.DataPayload{Kind: proto.KindLivenessVideo, Raw: []byte{1}, Total: 2, ChunkTotal: 1}, proto.CodeDataChunkRetry).Error,
			`{"kind":8,"index":0,"chunkIndex":0,"reason":"invalid_liveness_artifact_total"}`)
		wantMessage(t, q.data(proto.DataPayload{Kind: proto.KindLivenessVideo, Raw: []byte{1}, Total: 1, Index: 1, ChunkTotal: 1}, proto.CodeDataChunkRetry).Error,
			`{"kind":8,"index":1,"chunkIndex":0,"reason":"invalid_liveness_artifact_index"}`)
		q.data(proto.DataPayload{Kind: proto.KindLivenessVideo, Raw: []byte{1}, Total: 1, ChunkIndex: 3, ChunkTotal: 4}, proto.AckDataChunk(proto.KindLivenessVideo, 0, 3))
		// Every refusal left the socket open: the video completes and passes.
		q.data(proto.DataPayload{Kind: proto.KindLivenessVideo, Raw: biotest.StubVideo(biotest.Accept), Total: 1, ChunkTotal: 1},
			proto.CodeDataChunkRetry) // the pending 4-chunk video holds its total
		video := biotest.StubVideo(biotest.Accept)
		// The earlier chunk 3 is replaced, and the last missing chunk
		// completes the video in index order.
		for n, i := range []int{3, 0, 1, 2} {
			part := video[i*len(video)/4 : (i+1)*len(video)/4]
			want := proto.AckDataChunk(proto.KindLivenessVideo, 0, uint32(i))
			if n == 3 {
				want = proto.AckDataComplete(proto.KindLivenessVideo, 0)
			}
			q.data(proto.DataPayload{Kind: proto.KindLivenessVideo, Raw: part, Total: 1, ChunkIndex: uint32(i), ChunkTotal: 4}, want)
		}
		q.phase("liveness_complete")
		if r := q.expect(proto.ServerCheckResult).CheckResult; r.Outcome != proto.OutcomeConfirmed {
			t.Fatalf("check result %+v", r)
		}
		q.expect(proto.ServerShareRequest)
	})
}

// TestVerifySocketSizeLimits: an artefact over 16 MiB and a connection's
// uploads over 48 MiB are refused, with the socket left open.
func TestVerifySocketSizeLimits(t *testing.T) {
	forEachVerifyDB(t, nil, flow.Limits{}, func(t *testing.T, e *verifyEnv) {
		o := e.rpOrg(t, "sizes")
		id, token := e.handoff(t, o.key, "")
		p := e.dial(t, id)
		p.hello(token, "device-a")
		p.toNFCReading()
		chunk := bytes.Repeat([]byte{0x5a}, proto.MaxFrameBytes-1024) // room for the message's own bytes
		n := uint32(proto.MaxArtefactBytes/len(chunk) + 1)
		sent := 0
		for i := range n {
			want := proto.AckDataChunk(proto.KindDG2, 0, i)
			if i == n-1 {
				want = proto.CodeArtifactTooLarge
			}
			m := p.data(proto.DataPayload{Kind: proto.KindDG2, Raw: chunk, ChunkIndex: i, ChunkTotal: n}, want)
			if i == n-1 {
				wantMessage(t, m.Error, "Verify artifact exceeds the maximum allowed size.")
			}
			sent += len(chunk)
		}
		// The rest of the connection's budget, then one chunk too many.
		for i := uint32(0); ; i++ {
			if sent+len(chunk) > proto.MaxConnectionBytes {
				m := p.data(proto.DataPayload{Kind: proto.KindSOD, Raw: chunk, ChunkIndex: i, ChunkTotal: 256}, proto.CodeTransferTooLarge)
				wantMessage(t, m.Error, "Verify transfer exceeds the maximum allowed size.")
				break
			}
			p.data(proto.DataPayload{Kind: proto.KindSOD, Raw: chunk, ChunkIndex: i, ChunkTotal: 256}, proto.AckDataChunk(proto.KindSOD, 0, i))
			sent += len(chunk)
		}
		// Open, and still answering.
		p.step("somewhere_else", proto.AckPhaseOK)
	})
}
