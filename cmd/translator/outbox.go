package main

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

// fifoPublishers is how many publishers send the messages that must all go
// out (envelopes, events, responses); latestPublishers send state/{key}
// values. A topic always goes through the same publisher, so its messages
// stay in order. With QoS 1 each publisher has one message in flight;
// together they fill mosquitto's default window of 20
// (max_inflight_messages), and the per-key topics, which may lag, hold at
// most a fifth of it. 12 FIFO publishers measured 0.37 of passthrough in
// `max` QoS 1 (1000 devices, keys on), 16 measured 0.43.
const (
	fifoPublishers   = 16
	latestPublishers = 4
)

// publishTimeout bounds one publish attempt; a failed attempt is retried
// once the connection is up again.
const publishTimeout = 5 * time.Second

// fifoDepth is each FIFO publisher's queue: enough to keep it busy; deeper
// queues only hold more memory while the broker is behind.
const fifoDepth = 256

// keyTopicInterval is the shortest time between two publications on one
// state/{key} topic. A value arriving sooner waits, and a newer value
// replaces it meanwhile: a chatty device's per-key topics cost the broker at
// most 1/keyTopicInterval messages per second each and still end on the
// newest value. The first change after a quiet spell goes out at once. The
// state envelope carries every update.
const keyTopicInterval = 100 * time.Millisecond

// latestTable holds the last-value messages (state/{key}) of one
// publisher: per topic only the newest unsent value, sent when due.
type latestTable struct {
	mu       sync.Mutex
	latest   map[string]*latestEntry
	ready    []*latestEntry // due, oldest first
	deferred deferredHeap   // waiting for keyTopicInterval to pass
	wake     chan struct{}
	timer    *time.Timer // publisher goroutine only
	pruned   time.Time   // last forgetIdle
}

// pruneEvery is how often a table forgets topics it sent long enough ago
// that they no longer hold anything back.
const pruneEvery = 10 * time.Second

// latestEntry is one last-value topic of a shard.
type latestEntry struct {
	msg       translate.Message
	pending   bool      // msg is not sent yet; the entry is in ready or deferred
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
func (s *latestTable) putLatest(m translate.Message, now time.Time) (replaced bool) {
	s.mu.Lock()
	e := s.latest[m.Topic]
	if e == nil {
		e = &latestEntry{}
		s.latest[m.Topic] = e
	}
	replaced = e.pending
	if !e.pending {
		e.pending = true
		if due := e.lastSent.Add(keyTopicInterval); now.Before(due) {
			e.notBefore = due
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

// takeLatest removes and returns the oldest due last-value message. When
// none is due it returns how long until one is (0: none waiting).
func (s *latestTable) takeLatest(now time.Time) (translate.Message, bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.deferred) > 0 && !s.deferred[0].notBefore.After(now) {
		s.ready = append(s.ready, heap.Pop(&s.deferred).(*latestEntry))
	}
	if len(s.ready) == 0 {
		if len(s.deferred) > 0 {
			return translate.Message{}, false, s.deferred[0].notBefore.Sub(now)
		}
		return translate.Message{}, false, 0
	}
	e := s.ready[0]
	s.ready[0] = nil
	s.ready = s.ready[1:]
	if len(s.ready) == 0 {
		s.ready = nil // let the backing array go
	}
	m := e.msg
	e.msg, e.pending, e.lastSent = translate.Message{}, false, now
	if len(m.Payload) == 0 { // a cleared topic: forget it
		delete(s.latest, m.Topic)
	}
	return m, true, 0
}

// forgetIdle drops the entries of topics with nothing waiting whose last
// send is older than keyTopicInterval: such an entry no longer defers
// anything, and a new value for the topic may go out at once either way.
func (s *latestTable) forgetIdle(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruned = now
	for topic, e := range s.latest {
		if !e.pending && now.Sub(e.lastSent) >= keyTopicInterval {
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

// publish hands a message to its topic's publisher. The FIFO is bounded:
// when the broker is slow or away, the engine waits instead of growing
// memory without limit. Last-value messages never wait; their table holds
// at most one message per topic.
func (b *broker) publish(ctx context.Context, m translate.Message) {
	if b.out == nil {
		b.log.Error().Str("topic", m.Topic).Msg("publish before the mqtt connection was started")
		return
	}
	h := topicHash(m.Topic)
	if m.Latest {
		if b.latest[h%latestPublishers].putLatest(m, time.Now()) {
			b.superseded.Add(1)
		}
		return
	}
	if m.QoS == 0 && b.connected.Load() {
		// Nothing to wait for: write from the engine goroutine, inside its
		// cork (see hold), instead of waking a publisher.
		p := &paho.Publish{Topic: m.Topic, Payload: m.Payload, Retain: m.Retain}
		if _, err := b.cm.Publish(ctx, p); err == nil || ctx.Err() != nil {
			return
		}
	}
	select {
	case b.out[h%fifoPublishers] <- m:
	case <-ctx.Done():
	}
}

// hold corks the connection while the engine works through a burst, so its
// QoS 0 publications share system calls; the returned func uncorks. With
// QoS 1 it does nothing: a publication waiting for its PUBACK must not wait
// for the burst to end.
func (b *broker) hold() func() {
	c := b.conn.Load()
	if c == nil || b.cfg.QoS != 0 {
		return func() {}
	}
	c.cork()
	return c.uncork
}

// startPublishers runs the publishers until ctx ends. A message that fails
// (the connection dropped) is retried after the reconnect, so nothing is
// lost and order per topic is kept.
func (b *broker) startPublishers(ctx context.Context) {
	b.out = make([]chan translate.Message, fifoPublishers)
	for i := range b.out {
		ch := make(chan translate.Message, fifoDepth)
		b.out[i] = ch
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-ch:
					b.send(ctx, m)
				}
			}
		}()
	}
	b.latest = make([]*latestTable, latestPublishers)
	for i := range b.latest {
		t := newLatestTable()
		b.latest[i] = t
		go func() {
			for {
				m, ok := t.next(ctx)
				if !ok {
					return
				}
				b.send(ctx, m)
			}
		}()
	}
}

// next waits for the next due message; false when ctx ends.
func (s *latestTable) next(ctx context.Context) (translate.Message, bool) {
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
			return translate.Message{}, false
		case <-s.wake:
			s.timer.Stop()
		case <-due:
		}
	}
}

// topicHash is 32-bit FNV-1a over the topic, without allocating.
func topicHash(topic string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(topic); i++ {
		h ^= uint32(topic[i])
		h *= 16777619
	}
	return h
}
