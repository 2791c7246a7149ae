package passiveauth

import (
	"strings"

	"golang.org/x/text/language"
)

// ICAO 9303-3 §5 codes that are not ISO 3166-1 alpha-3, mapped to the
// alpha-2 code certificates carry in C (ICAO 9303-12 §7.1.1 wants the
// ISO 3166-1 alpha-2 code there). UTO/UT is ICAO's fictional Utopia, used
// by specimen documents and upstream's test chain.
var icaoAlpha2 = map[string]string{
	"D":   "DE",
	"GBD": "GB", "GBN": "GB", "GBO": "GB", "GBP": "GB", "GBS": "GB",
	"RKS": "XK",
	"EUE": "EU",
	"UTO": "UT",
}

// issuingStateAlpha2 maps DG1's issuing state (ICAO 9303-3 alpha-3, "D"
// for Germany, fillers removed) to an alpha-2 code, using x/text's ISO
// 3166 table for the rest. ok is false for codes with no country (the
// UN's UNO/UNA/UNK, the XX* stateless codes), whose certificates cannot be
// matched this way.
func issuingStateAlpha2(state string) (string, bool) {
	state = strings.ToUpper(strings.TrimRight(strings.TrimSpace(state), "<"))
	if a2, ok := icaoAlpha2[state]; ok {
		return a2, true
	}
	if len(state) != 2 && len(state) != 3 {
		return "", false
	}
	r, err := language.ParseRegion(state)
	if err != nil || !r.IsCountry() {
		return "", false
	}
	return r.String(), true
}
