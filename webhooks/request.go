package webhooks

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// Headers of a delivery, as upstream sends them.
const (
	ContentType      = "application/jose"
	DeliveryIDHeader = "X-Kayle-Delivery-Id"
	EventHeader      = "X-Kayle-Event"
)

// NewDeliveryRequest is one attempt's POST of a stored JWE to sendURL
// (SendURL of the endpoint's URL): Content-Type application/jose, the
// delivery id, the event type and a signature stamped with now, which the
// caller takes immediately before the attempt (a t stamped at enqueue
// time would be stale for every late retry). Nothing else is set: Go's
// default User-Agent is suppressed, as upstream sends none.
func NewDeliveryRequest(ctx context.Context, sendURL, deliveryID, eventType, jwe, secret string, now time.Time) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sendURL, strings.NewReader(jwe))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", ContentType)
	req.Header.Set(DeliveryIDHeader, deliveryID)
	req.Header.Set(EventHeader, eventType)
	req.Header.Set(SignatureHeader, Sign(secret, now.Unix(), []byte(jwe)))
	req.Header.Set("User-Agent", "") // present but empty: net/http then sends none
	return req, nil
}
