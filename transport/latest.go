package transport

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// keyTopicInterval is the shortest time between two publications on one
// state/{key} topic. A value arriving sooner waits, and a newer value
// replaces it meanwhile: a chatty device's per-key topics cost the broker at
// most 1/keyTopicInterval messages per second each and still end on the
// newest value. The first change after a quiet spell goes out at once. The
// state envelope carries every update. The interval is busyKeyTopicInterval
// while the engine is behind (more than busyBacklog inbound messages
// waiting, as in a burst of retained state or group commands), and while
// more than busyOutbound publications wait for the broker: the per-key
// topics, several per envelope, then neither multiply a burst nor take the
// broker's attention from the envelopes.
const (
	keyTopicInterval     = 100 * time.Millisecond
	busyKeyTopicInterval = time.Second
	busyBacklog          = 1000
)

// deferGrid is the spacing of the instants at which waiting state/{key}
// values become due: a value that must wait is held until the first grid
// instant at or after its topic's interval has passed. Values of many
// topics then fall due together, and the publisher sends them in one batch
// (one write, one wake-up) instead of one by one, each at its own time.
// Each table's grid is shifted by its phase, so the publishers' batches
// take turns instead of meeting the envelopes all at once.
const deferGrid = 25 * time.Millisecond

// dueAt rounds the earliest time t a value may be sent up to the next
// instant of the deferGrid shifted by phase.
func dueAt(t time.Time, phase time.Duration) time.Time {
	q := t.Add(-phase).Truncate(deferGrid).Add(phase)
	if q.Before(t) {
		q = q.Add(deferGrid)
	}
	return q
}

// latestTable holds the last-value messages (state/{key}) of one
// publisher: per topic only the newest unsent value, sent when due.
type latestTable struct {
	mu       sync.Mutex
	latest   map[string]*latestEntry
	ready    []*latestEntry // due, oldest first
	deferred deferredHeap   // waiting for keyTopicInterval to pass
	wake     chan struct{}
	timer    *time.Timer   // publisher goroutine only
	pruned   time.Time     // last forgetIdle
	phase    time.Duration // shift of this table's deferGrid
}

// pruneEvery is how often a table forgets topics it sent long enough ago
// that they no longer hold anything back.
const pruneEvery = 10 * time.Second

// latestEntry is one last-value topic of a shard.
type latestEntry struct {
	msg       Message
	pending   bool      // msg is not sent yet; the entry is in ready or deferred
	sending   bool      // the publisher is sending the previous value: claim must not overtake it
	notBefore time.Time // when deferred: keyTopicInterval after the last send
	lastSent  time.Time
}

func newLatestTable() *latestTable {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &latestTable{latest: map[string]*latestEntry{}, wake: make(chan struct{}, 1), timer: t}
}

// putLatest stores m as its topic's newest value; it reports whether an
// unsent older value was replaced.
func (s *latestTable) putLatest(m Message, now time.Time, interval time.Duration) (replaced bool) {
	s.mu.Lock()
	e := s.latest[m.Topic]
	if e == nil {
		e = &latestEntry{}
		s.latest[m.Topic] = e
	}
	replaced = e.pending
	if !e.pending {
		e.pending = true
		if due := e.lastSent.Add(interval); now.Before(due) {
			e.notBefore = dueAt(due, s.phase)
			heap.Push(&s.deferred, e)
		} else {
			s.ready = append(s.ready, e)
		}
	}
	e.msg = m
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return replaced
}

// claim reports whether a value for topic may be sent at once, and if so
// records it as sent now: nothing for the topic waits in the table and its
// last send is keyTopicInterval ago or more.
func (s *latestTable) claim(topic string, now time.Time, interval time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.latest[topic]
	if e == nil {
		s.latest[topic] = &latestEntry{lastSent: now}
		return true
	}
	if e.pending || e.sending || now.Sub(e.lastSent) < interval {
		return false
	}
	e.lastSent = now
	return true
}

// takeLatest removes and returns the oldest due last-value message. When
// none is due it returns how long until one is (0: none waiting).
func (s *latestTable) takeLatest(now time.Time) (Message, bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.deferred) > 0 && !s.deferred[0].notBefore.After(now) {
		s.ready = append(s.ready, heap.Pop(&s.deferred).(*latestEntry))
	}
	if len(s.ready) == 0 {
		if len(s.deferred) > 0 {
			return Message{}, false, s.deferred[0].notBefore.Sub(now)
		}
		return Message{}, false, 0
	}
	e := s.ready[0]
	s.ready[0] = nil
	s.ready = s.ready[1:]
	if len(s.ready) == 0 {
		s.ready = nil // let the backing array go
	}
	m := e.msg
	e.msg, e.pending, e.sending, e.lastSent = Message{}, false, true, now
	if len(m.Payload) == 0 { // a cleared topic: forget it
		delete(s.latest, m.Topic)
	}
	return m, true, 0
}

// sent records that the publisher finished sending the topics' values.
func (s *latestTable) sent(topics ...string) {
	s.mu.Lock()
	for _, topic := range topics {
		if e := s.latest[topic]; e != nil {
			e.sending = false
		}
	}
	s.mu.Unlock()
}

// forgetIdle drops the entries of topics with nothing waiting whose last
// send is older than busyKeyTopicInterval: such an entry no longer defers
// anything, and a new value for the topic may go out at once either way.
func (s *latestTable) forgetIdle(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruned = now
	for topic, e := range s.latest {
		if !e.pending && !e.sending && now.Sub(e.lastSent) >= busyKeyTopicInterval {
			delete(s.latest, topic)
		}
	}
}

// deferredHeap orders deferred entries by notBefore.
type deferredHeap []*latestEntry

func (h deferredHeap) Len() int           { return len(h) }
func (h deferredHeap) Less(i, j int) bool { return h[i].notBefore.Before(h[j].notBefore) }
func (h deferredHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deferredHeap) Push(x any)        { *h = append(*h, x.(*latestEntry)) }
func (h *deferredHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

// next waits for the next due message; false when ctx ends.
func (s *latestTable) next(ctx context.Context) (Message, bool) {
	for {
		now := time.Now()
		if now.Sub(s.pruned) >= pruneEvery {
			s.forgetIdle(now)
		}
		m, ok, wait := s.takeLatest(now)
		if ok {
			return m, true
		}
		var due <-chan time.Time
		if wait > 0 {
			s.timer.Reset(wait)
			due = s.timer.C
		}
		select {
		case <-ctx.Done():
			s.timer.Stop()
			return Message{}, false
		case <-s.wake:
			s.timer.Stop()
		case <-due:
		}
	}
}
