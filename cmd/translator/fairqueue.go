package main

import (
	"sync"

	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

// fairQueue holds inbound messages per topic and hands them out round
// robin, so a device flooding its topic delays only itself. A topic holds at
// most limit messages; on overflow its oldest message is dropped and
// counted (translator_inbound_dropped_total). Bridge and command topics are
// never dropped.
type fairQueue struct {
	mu      sync.Mutex
	queues  map[string][]translate.Message
	ring    []string // topics with pending messages, in service order
	next    int
	limit   int
	keep    func(topic string) bool // topics exempt from dropping
	total   int
	dropped int64
	ready   chan struct{} // signalled when a message is pushed
}

func newFairQueue(limit int, keep func(string) bool) *fairQueue {
	return &fairQueue{queues: map[string][]translate.Message{}, limit: limit, keep: keep, ready: make(chan struct{}, 1)}
}

// push adds a message; it never blocks.
func (q *fairQueue) push(m translate.Message) {
	q.mu.Lock()
	pending, known := q.queues[m.Topic]
	if len(pending) >= q.limit && !q.keep(m.Topic) {
		pending = pending[1:]
		q.total--
		q.dropped++
	}
	q.queues[m.Topic] = append(pending, m)
	q.total++
	if !known {
		q.ring = append(q.ring, m.Topic)
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// pop takes the next message, one topic after another.
func (q *fairQueue) pop() (translate.Message, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.ring) == 0 {
		return translate.Message{}, false
	}
	if q.next >= len(q.ring) {
		q.next = 0
	}
	topic := q.ring[q.next]
	pending := q.queues[topic]
	m := pending[0]
	q.total--
	if len(pending) == 1 {
		delete(q.queues, topic)
		q.ring = append(q.ring[:q.next], q.ring[q.next+1:]...)
	} else {
		q.queues[topic] = pending[1:]
		q.next++
	}
	return m, true
}

// stats returns the number of waiting and dropped messages.
func (q *fairQueue) stats() (waiting int, dropped int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.total, q.dropped
}
