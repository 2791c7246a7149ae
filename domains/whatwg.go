package domains

import whatwg "github.com/nlnwa/whatwg-url/url"

// webParser is the WHATWG URL Standard's basic URL parser
// (https://url.spec.whatwg.org/#concept-basic-url-parser), the parser
// behind JavaScript's new URL(), which upstream checks redirect and
// metadata URLs with. Default options: TestWebURLMatchesNode holds it to
// node's new URL(). A Parser keeps only its options, so one is shared.
var webParser = whatwg.NewParser()

// ParseWebURL reads s as new URL(s) does with no base, and keeps only
// http and https URLs (ok false for anything else). Callers check the
// credentials themselves: Username() and Password() are percent-encoded,
// "" when absent, and Href(false) includes them.
func ParseWebURL(s string) (u *whatwg.Url, ok bool) {
	u, err := webParser.Parse(s)
	if err != nil {
		return nil, false
	}
	if s := u.Scheme(); s != "http" && s != "https" {
		return nil, false
	}
	return u, true
}
