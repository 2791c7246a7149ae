package delivery

import (
	"math/rand/v2"
	"sync"
	"time"
)

// slots caps the attempts one endpoint has in flight on this replica. A
// job that finds its endpoint full is snoozed instead of holding a worker:
// for longer the more jobs were turned away since the endpoint last had
// room, scaled by how long its attempts take, so a receiver that hangs
// costs the queue a few rewrites a minute, not a worker each.
type slots struct {
	mu    sync.Mutex
	limit int
	m     map[string]*endpointSlots
}

type endpointSlots struct {
	inFlight int
	// deferred counts the jobs turned away lately (halved whenever the
	// endpoint has room to spare).
	deferred int
	// typical is a moving average of the endpoint's attempt durations.
	typical time.Duration
}

const (
	minDefer = 100 * time.Millisecond
	maxDefer = 10 * time.Minute
)

func newSlots(limit int) *slots { return &slots{limit: limit, m: map[string]*endpointSlots{}} }

// acquire takes a slot of the endpoint: release gives it back with the
// attempt's duration. When none is free, release is nil and wait is how
// long to snooze.
func (s *slots) acquire(endpoint string) (release func(took time.Duration), wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[endpoint]
	if e == nil {
		e = &endpointSlots{}
		s.m[endpoint] = e
	}
	if e.inFlight >= s.limit {
		e.deferred++
		d := max(e.typical, 10*time.Millisecond) * time.Duration(1+e.deferred/s.limit)
		d = min(max(d, minDefer), maxDefer)
		// ±25%, so the turned-away jobs do not all come back together.
		return nil, time.Duration(float64(d) * (0.75 + rand.Float64()/2))
	}
	e.inFlight++
	var once sync.Once
	return func(took time.Duration) {
		once.Do(func() { s.release(endpoint, e, took) })
	}, 0
}

func (s *slots) release(endpoint string, e *endpointSlots, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.inFlight--
	if e.typical == 0 {
		e.typical = took
	} else {
		e.typical = (e.typical*7 + took) / 8
	}
	if e.inFlight <= s.limit/2 {
		// Room again: forget the backlog gradually, so a receiver that
		// hangs every attempt keeps its long snoozes.
		e.deferred /= 2
	}
	if e.inFlight == 0 && e.deferred == 0 {
		delete(s.m, endpoint)
	}
}
