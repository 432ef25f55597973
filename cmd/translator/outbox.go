package main

import (
	"context"
	"sync"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

// publishShards is how many publishers run in parallel; a topic always goes
// through the same one, so messages on one topic stay in order.
const publishShards = 16

// publishTimeout bounds one publish attempt; a failed attempt is retried
// once the connection is up again.
const publishTimeout = 5 * time.Second

// latestEvery is how often a shard that always has queued messages still
// sends one waiting last-value message, so state/{key} topics lag under a
// sustained overload but never starve.
const latestEvery = 8

// publishShard is one publisher's work: a bounded FIFO for messages that
// must all go out (envelopes, events, responses) and a last-value table for
// messages marked Latest (state/{key}), where a newer value for a topic
// replaces one not yet sent.
type publishShard struct {
	fifo chan translate.Message

	mu     sync.Mutex
	latest map[string]translate.Message
	order  []string // topics in latest, oldest first
	wake   chan struct{}

	fifoRun int // FIFO messages sent since the last last-value one (publisher goroutine only)
}

func newPublishShard() *publishShard {
	return &publishShard{
		fifo:   make(chan translate.Message, 1024),
		latest: map[string]translate.Message{},
		wake:   make(chan struct{}, 1),
	}
}

// putLatest stores m as its topic's newest value; it reports whether an
// unsent older value was replaced.
func (s *publishShard) putLatest(m translate.Message) (replaced bool) {
	s.mu.Lock()
	if _, replaced = s.latest[m.Topic]; !replaced {
		s.order = append(s.order, m.Topic)
	}
	s.latest[m.Topic] = m
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return replaced
}

// takeLatest removes and returns the oldest waiting last-value message.
func (s *publishShard) takeLatest() (translate.Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) == 0 {
		return translate.Message{}, false
	}
	topic := s.order[0]
	s.order[0] = ""
	s.order = s.order[1:]
	if len(s.order) == 0 {
		s.order = nil // let the backing array go
	}
	m := s.latest[topic]
	delete(s.latest, topic)
	return m, true
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
	shard := b.out[topicHash(m.Topic)%publishShards]
	if m.Latest {
		if shard.putLatest(m) {
			b.superseded.Add(1)
		}
		return
	}
	select {
	case shard.fifo <- m:
	case <-ctx.Done():
	}
}

// startPublishers runs one publisher per shard until ctx ends. A message that
// fails (the connection dropped) is retried after the reconnect, so nothing
// is lost and order per topic is kept.
func (b *broker) startPublishers(ctx context.Context) {
	b.out = make([]*publishShard, publishShards)
	for i := range b.out {
		s := newPublishShard()
		b.out[i] = s
		go b.runShard(ctx, s)
	}
}

func (b *broker) runShard(ctx context.Context, s *publishShard) {
	for {
		m, ok := s.next(ctx)
		if !ok {
			return
		}
		b.send(ctx, m)
	}
}

// next waits for the shard's next message: FIFO first, a last-value message
// when the FIFO is empty or after latestEvery FIFO messages in a row. It
// returns false when ctx ends.
func (s *publishShard) next(ctx context.Context) (translate.Message, bool) {
	for {
		if s.fifoRun >= latestEvery {
			s.fifoRun = 0
			if m, ok := s.takeLatest(); ok {
				return m, true
			}
		}
		select {
		case m := <-s.fifo:
			s.fifoRun++
			return m, true
		default:
		}
		if m, ok := s.takeLatest(); ok {
			s.fifoRun = 0
			return m, true
		}
		select {
		case <-ctx.Done():
			return translate.Message{}, false
		case m := <-s.fifo:
			s.fifoRun++
			return m, true
		case <-s.wake:
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
