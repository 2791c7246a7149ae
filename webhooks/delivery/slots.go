package delivery

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// slots caps the attempts one endpoint has in flight on this replica. A
// job that finds its endpoint full waits a moment for a slot (a healthy
// endpoint frees one within milliseconds); past that it is snoozed instead
// of holding a worker: for longer the more jobs were turned away lately,
// scaled by how long the endpoint's attempts take, so a receiver that
// hangs costs the queue a few rewrites a minute, not a worker each.
type slots struct {
	mu    sync.Mutex
	limit int
	m     map[string]*endpointSlots
}

type endpointSlots struct {
	sem   chan struct{}
	users int // jobs holding or waiting for a slot (the entry lives while > 0)
	// deferred counts the jobs turned away lately (halved whenever the
	// endpoint has room to spare).
	deferred int
	// typical is a moving average of the endpoint's attempt durations.
	typical time.Duration
}

const (
	minDefer = 100 * time.Millisecond
	maxDefer = 10 * time.Minute
	// minWait and maxWait bound the wait for a slot before the job is
	// snoozed.
	minWait = 20 * time.Millisecond
	maxWait = 250 * time.Millisecond
)

func newSlots(limit int) *slots { return &slots{limit: limit, m: map[string]*endpointSlots{}} }

func (s *slots) enter(endpoint string) *endpointSlots {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[endpoint]
	if e == nil {
		e = &endpointSlots{sem: make(chan struct{}, s.limit)}
		s.m[endpoint] = e
	}
	e.users++
	return e
}

func (s *slots) leave(endpoint string, e *endpointSlots) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.users--; e.users == 0 && e.deferred == 0 {
		delete(s.m, endpoint)
	}
}

// acquire takes a slot of the endpoint: release gives it back with the
// attempt's duration. When none frees up in time, release is nil and wait
// is how long to snooze.
func (s *slots) acquire(ctx context.Context, endpoint string) (release func(took time.Duration), wait time.Duration) {
	e := s.enter(endpoint)
	s.mu.Lock()
	// Long enough for the jobs ahead of this one to be served at the
	// endpoint's usual pace (River fetches in batches, so a healthy
	// endpoint often has more jobs at once than slots), short enough that
	// a hanging endpoint does not hold the worker.
	ahead := max(e.users-s.limit, 1)
	patience := min(max(2*e.typical*time.Duration(ahead)/time.Duration(s.limit), minWait), maxWait)
	s.mu.Unlock()
	t := time.NewTimer(patience)
	defer t.Stop()
	select {
	case e.sem <- struct{}{}:
	case <-t.C:
		return nil, s.turnAway(endpoint, e)
	case <-ctx.Done():
		s.leave(endpoint, e)
		return nil, 0
	}
	var once sync.Once
	return func(took time.Duration) {
		once.Do(func() {
			<-e.sem
			s.mu.Lock()
			if e.typical == 0 {
				e.typical = took
			} else {
				e.typical = (e.typical*7 + took) / 8
			}
			if len(e.sem) <= s.limit/2 {
				// Room again: forget the backlog gradually, so a receiver
				// that hangs every attempt keeps its long snoozes.
				e.deferred /= 2
			}
			s.mu.Unlock()
			s.leave(endpoint, e)
		})
	}, 0
}

func (s *slots) turnAway(endpoint string, e *endpointSlots) time.Duration {
	s.mu.Lock()
	e.deferred++
	d := max(e.typical, 10*time.Millisecond) * time.Duration(1+e.deferred/s.limit)
	s.mu.Unlock()
	s.leave(endpoint, e)
	d = min(max(d, minDefer), maxDefer)
	// ±25%, so the turned-away jobs do not all come back together.
	return time.Duration(float64(d) * (0.75 + rand.Float64()/2))
}
