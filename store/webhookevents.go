package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Events and webhook deliveries as the API shows them, and the manual
// retry and replay, which decide which deliveries run again and hand each
// to startRun.

// Refusals of retry and replay (409s).
var (
	// ErrDeliveryInProgress: the delivery is being sent right now.
	ErrDeliveryInProgress = errors.New("store: the webhook delivery is being sent")
	// ErrPayloadExpired: no payload is retained to send again.
	ErrPayloadExpired = errors.New("store: the webhook payload is no longer retained")
	// ErrDeliveryHeld: the delivery waits for its endpoint's first active
	// key; it is sent once one is added (ours: upstream loses such events).
	ErrDeliveryHeld = errors.New("store: the webhook delivery waits for an encryption key")
	// ErrNotReplayable: no delivery of the event can run again (none at
	// all, or some in progress or held).
	ErrNotReplayable = errors.New("store: the event has no replayable delivery")
)

// EventWithDeliveries is an event and every delivery of it.
type EventWithDeliveries struct {
	Event
	Deliveries []WebhookDelivery
}

// EventFilter narrows an event listing; zero fields do not filter.
type EventFilter struct {
	Type        string
	CreatedFrom *time.Time
	CreatedTo   *time.Time
}

// ListEvents lists the organization's events newest first (created_at
// desc, id desc, full precision), each with its deliveries. The cursor is
// an event id of the organization; an unknown one is ErrInvalidCursor.
func (s *Store) ListEvents(ctx context.Context, c RPCaller, f EventFilter, p Page) ([]EventWithDeliveries, bool, error) {
	p = p.clamped()
	var events []Event
	var out []EventWithDeliveries
	err := s.read(ctx, func(db *gorm.DB) error {
		q, err := newestFirst(db, "events", "v", c.OrganizationID, p.StartingAfter)
		if err != nil {
			return err
		}
		if f.Type != "" {
			q = q.Where("v.type = ?", f.Type)
		}
		if f.CreatedFrom != nil {
			q = q.Where("v.created_at >= ?", f.CreatedFrom.UTC())
		}
		if f.CreatedTo != nil {
			q = q.Where("v.created_at <= ?", f.CreatedTo.UTC())
		}
		if err := page(q, "v", p.Limit, &events); err != nil {
			return err
		}
		out, err = withDeliveries(db, events)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	out, more := trimPage(out, p.Limit)
	return out, more, nil
}

// withDeliveries loads the deliveries of events in one query.
func withDeliveries(db *gorm.DB, events []Event) ([]EventWithDeliveries, error) {
	out := make([]EventWithDeliveries, len(events))
	if len(events) == 0 {
		return out, nil
	}
	ids := make([]string, len(events))
	at := make(map[string]int, len(events))
	for i, e := range events {
		ids[i], at[e.ID] = e.ID, i
		out[i] = EventWithDeliveries{Event: e, Deliveries: []WebhookDelivery{}}
	}
	var ds []WebhookDelivery
	if err := db.Where("event_id IN ?", ids).Order("created_at, id").Find(&ds).Error; err != nil {
		return nil, err
	}
	for _, d := range ds {
		i := at[d.EventID]
		out[i].Deliveries = append(out[i].Deliveries, d)
	}
	return out, nil
}

// GetEvent reads one of the organization's events with its deliveries;
// ErrNotFound.
func (s *Store) GetEvent(ctx context.Context, c RPCaller, id string) (EventWithDeliveries, error) {
	var out EventWithDeliveries
	err := s.read(ctx, func(db *gorm.DB) error {
		var err error
		out, err = orgEvent(db, c, id)
		return err
	})
	return out, err
}

func orgEvent(db *gorm.DB, c RPCaller, id string) (EventWithDeliveries, error) {
	var e Event
	err := db.Where("id = ? AND organization_id = ?", id, c.OrganizationID).Take(&e).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return EventWithDeliveries{}, ErrNotFound
	}
	if err != nil {
		return EventWithDeliveries{}, err
	}
	evs, err := withDeliveries(db, []Event{e})
	if err != nil {
		return EventWithDeliveries{}, err
	}
	return evs[0], nil
}

// DeliveryFilter narrows a delivery listing; zero fields do not filter
// (and are never checked for existence, as upstream).
type DeliveryFilter struct {
	Status     string
	EndpointID string
	EventID    string
}

// ListWebhookDeliveries lists the organization's deliveries newest first
// (created_at desc, id desc, full precision). The cursor is a delivery id
// of the organization; an unknown one is ErrInvalidCursor.
func (s *Store) ListWebhookDeliveries(ctx context.Context, c RPCaller, f DeliveryFilter, p Page) ([]WebhookDelivery, bool, error) {
	p = p.clamped()
	var rows []WebhookDelivery
	err := s.read(ctx, func(db *gorm.DB) error {
		q, err := newestFirst(db, "webhook_deliveries", "d", c.OrganizationID, p.StartingAfter)
		if err != nil {
			return err
		}
		if f.Status != "" {
			q = q.Where("d.status = ?", f.Status)
		}
		if f.EndpointID != "" {
			q = q.Where("d.webhook_endpoint_id = ?", f.EndpointID)
		}
		if f.EventID != "" {
			q = q.Where("d.event_id = ?", f.EventID)
		}
		return page(q, "d", p.Limit, &rows)
	})
	if err != nil {
		return nil, false, err
	}
	rows, more := trimPage(rows, p.Limit)
	return rows, more, nil
}

// blocked is why a delivery cannot run again by hand, in upstream's order
// (in progress, no payload, payload expired), or nil. A held delivery
// (waiting for a key) is ours.
func blocked(d WebhookDelivery, now time.Time) error {
	switch {
	case d.Status == DeliveryDelivering:
		return ErrDeliveryInProgress
	case d.Payload == nil && d.HeldPayload != nil:
		return ErrDeliveryHeld
	case d.Payload == nil, d.PayloadExpiresAt == nil, !d.PayloadExpiresAt.After(now):
		return ErrPayloadExpired
	}
	return nil
}

// RetryWebhookDelivery runs one of the organization's deliveries again
// from the start: a new run (startRun), which supersedes a run still
// scheduled rather than adding a second. ErrNotFound (also for a lost
// race), ErrDeliveryInProgress, ErrDeliveryHeld, ErrPayloadExpired.
func (s *Store) RetryWebhookDelivery(ctx context.Context, c RPCaller, id string) (WebhookDelivery, error) {
	var out WebhookDelivery
	err := s.webhookWrite(ctx, c, func(tx *gorm.DB) error {
		var d WebhookDelivery
		err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
			Where("id = ? AND organization_id = ?", id, c.OrganizationID).Take(&d).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		now := s.clock()
		if err := blocked(d, now); err != nil {
			return err
		}
		if err := s.startRun(tx, &d, now); err != nil {
			return err
		}
		out = d
		return s.webhookAudit(tx, c, EventWebhookDeliveryRetried, targetWebhookDelivery, d.ID,
			Metadata{"event_id": d.EventID, "webhook_endpoint_id": d.WebhookEndpointID})
	})
	return out, err
}

// ReplayWebhookEvent runs every delivery of one of the organization's
// events again that can (others are skipped), each through startRun.
// Replay makes no new event and no new delivery. ErrNotFound; when none
// could run: ErrPayloadExpired if the event has deliveries and every one
// is blocked by its payload, else ErrNotReplayable.
func (s *Store) ReplayWebhookEvent(ctx context.Context, c RPCaller, id string) (EventWithDeliveries, error) {
	var out EventWithDeliveries
	err := s.webhookWrite(ctx, c, func(tx *gorm.DB) error {
		var e Event
		err := tx.Where("id = ? AND organization_id = ?", id, c.OrganizationID).Take(&e).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		var ds []WebhookDelivery
		if err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
			Where("event_id = ?", e.ID).Order("created_at, id").Find(&ds).Error; err != nil {
			return err
		}
		now := s.clock()
		started := []string{}
		payloadBlocked := 0
		for i := range ds {
			switch err := blocked(ds[i], now); {
			case errors.Is(err, ErrPayloadExpired):
				payloadBlocked++
				continue
			case err != nil:
				continue
			}
			if err := s.startRun(tx, &ds[i], now); err != nil {
				if errors.Is(err, ErrNotFound) {
					continue // changed under us: not replayable now
				}
				return err
			}
			started = append(started, ds[i].ID)
		}
		if len(started) == 0 {
			if len(ds) > 0 && payloadBlocked == len(ds) {
				return ErrPayloadExpired
			}
			return ErrNotReplayable
		}
		out = EventWithDeliveries{Event: e, Deliveries: ds}
		return s.webhookAudit(tx, c, EventWebhookEventReplayed, targetWebhookEvent, e.ID,
			Metadata{"delivery_ids": started})
	})
	return out, err
}
