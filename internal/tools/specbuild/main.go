// Command specbuild writes the spec the server enforces: an openapi.json
// with the overlay applied (strictly, as `make generate` applies it), as JSON.
// `make breaking` uses it to build both sides of the comparison.
//
//	go run ./internal/tools/specbuild -spec openapi.json -overlay api/overlay.yaml -o out.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/oapi-codegen/oapi-codegen/v2/pkg/util"
)

func main() {
	spec := flag.String("spec", "openapi.json", "upstream spec")
	overlay := flag.String("overlay", "api/overlay.yaml", "overlay to apply; empty for none")
	out := flag.String("o", "", "output file (default stdout)")
	flag.Parse()
	doc, err := util.LoadSwaggerWithOverlay(*spec, util.LoadSwaggerWithOverlayOpts{Path: *overlay, Strict: true})
	if err != nil {
		fmt.Fprintf(os.Stderr, "specbuild: %v\n", err)
		os.Exit(1)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		fmt.Fprintf(os.Stderr, "specbuild: %v\n", err)
		os.Exit(1)
	}
	if *out == "" {
		os.Stdout.Write(append(b, '\n'))
		return
	}
	if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "specbuild: %v\n", err)
		os.Exit(1)
	}
}
