// Package terms names the current Kayle ID Integration Terms (the
// relying-party terms an organization's owner accepts): their version,
// jurisdiction and hash. They are data in this one place; the contract
// pins the same three values (single-value enums on the rp-terms answers),
// and a test holds the two equal.
package terms

// Terms identifies one published version of the terms.
type Terms struct {
	Version      string
	Jurisdiction string
	// Hash is "sha256:" and the lowercase hex SHA-256 of the canonical
	// text (its sentences joined by "\n", UTF-8, no trailing newline).
	Hash string
}

// Current is the version every acceptance is recorded against. Changing
// it makes every organization's earlier acceptance stop counting until an
// owner accepts again; the contract's enums change with it.
//
// The canonical text is shown by the platform's interface, not by this
// API, and is not part of this repository: Hash is upstream's published
// value for it.
var Current = Terms{
	Version:      "2026-05-17",
	Jurisdiction: "UK/EU GDPR",
	Hash:         "sha256:5472d5130ecf957716380ec26d82aac35e1c59fe4ce8cba8337c0b8fec1e261e",
}
