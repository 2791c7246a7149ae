// Package proto is the verify WebSocket's wire protocol, without the socket:
// the Cap'n Proto codec (api/verify.capnp, generated into gen/verifycapnp),
// the protocol's codes, messages and limits, the per-connection chunk
// Assembler and the phase state machine. behaviour-verify.md §5.2–§5.7 and
// §5.12–§5.13 are the specification; section references below are to it.
//
// Callers never hold Cap'n Proto readers: DecodeClient and DecodeServer copy
// every text and data field out into plain structs, so a frame's buffer can
// be reused as soon as they return.
package proto
