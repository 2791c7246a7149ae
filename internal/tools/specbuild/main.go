// Command specbuild writes the spec the server enforces and advertises, made
// from a repository's files as `make generate` reads them: openapi.json, the
// overlay and the served operations listed in oapi-codegen.yaml. `make
// breaking` uses it to build both sides of the comparison.
//
//	go run ./internal/tools/specbuild [-root DIR] [-spec FILE] [-o out.json]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/kayle-id/orgs-api/internal/specfile"
)

func main() {
	root := flag.String("root", ".", "repository root holding openapi.json, oapi-codegen.yaml and the overlay")
	specPath := flag.String("spec", "", "upstream spec to use instead of ROOT/openapi.json")
	out := flag.String("o", "", "output file (default stdout)")
	flag.Parse()
	if err := run(*root, *specPath, *out); err != nil {
		fmt.Fprintf(os.Stderr, "specbuild: %v\n", err)
		os.Exit(1)
	}
}

func run(root, specPath, out string) error {
	doc, err := specfile.Build(root, specPath)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if out == "" {
		_, err = os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(out, b, 0o644)
}
