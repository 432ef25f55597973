package transport

import (
	"sync"
	"sync/atomic"
)

// messageOverhead is what one queued message costs besides its topic and
// payload bytes (slice headers, flags, allocator rounding), for the budget.
const messageOverhead = 48

// fairQueue holds inbound messages per topic and hands them out round robin,
// so a device flooding its topic delays only itself. Together the queues
// hold at most budget bytes (topic, payload buffer and messageOverhead per
// message); a burst below that is kept whole. Past it, the oldest message of
// the topic holding the most bytes is dropped and counted
// (translator_inbound_dropped_total): a flooding device sheds its own
// backlog. Bridge and command topics are never dropped.
type fairQueue struct {
	mu      sync.Mutex
	queues  map[string]*topicQueue
	ring    []*topicQueue // topics with pending messages, in service order
	next    int
	budget  int
	bytes   int
	keep    func(topic string) bool // topics exempt from dropping
	total   atomic.Int64            // messages waiting; changed under mu, read without it
	dropped int64
	ready   chan struct{} // signalled when a message is pushed
}

// topicQueue is one topic's FIFO. It keeps the pushed payloads as they are:
// the MQTT client decodes every packet into a buffer of its own, so nothing
// overwrites a payload. That buffer may be larger than the payload (paho
// reads it with io.ReadAll), so a message costs its buffer's capacity.
type topicQueue struct {
	topic string
	keep  bool
	msgs  []queuedMessage
	head  int
	bytes int
}

type queuedMessage struct {
	payload []byte
	qos     byte
	retain  bool
}

func newFairQueue(budget int, keep func(string) bool) *fairQueue {
	return &fairQueue{queues: map[string]*topicQueue{}, budget: budget, keep: keep, ready: make(chan struct{}, 1)}
}

func (t *topicQueue) cost(m queuedMessage) int {
	return len(t.topic) + cap(m.payload) + messageOverhead
}

func (t *topicQueue) pending() int { return len(t.msgs) - t.head }

// popFront removes the oldest message; it returns the message and its cost.
func (t *topicQueue) popFront() (queuedMessage, int) {
	m := t.msgs[t.head]
	t.msgs[t.head] = queuedMessage{}
	t.head++
	if t.head == len(t.msgs) {
		t.msgs, t.head = t.msgs[:0], 0
	} else if t.head >= 1024 && t.head*2 >= len(t.msgs) {
		t.msgs = append(t.msgs[:0], t.msgs[t.head:]...)
		t.head = 0
	}
	c := t.cost(m)
	t.bytes -= c
	return m, c
}

// rearm signals ready again if messages are still waiting, for a consumer
// that stopped before the queue was empty.
func (q *fairQueue) rearm() {
	if q.total.Load() > 0 {
		q.signal()
	}
}

func (q *fairQueue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// push adds a message; it never blocks. The queue takes the payload over:
// the caller must not change it afterwards.
func (q *fairQueue) push(m Message) {
	q.mu.Lock()
	t := q.queues[m.Topic]
	if t == nil {
		t = &topicQueue{topic: m.Topic, keep: q.keep(m.Topic)}
		q.queues[m.Topic] = t
	}
	if t.pending() == 0 {
		q.ring = append(q.ring, t)
	}
	qm := queuedMessage{payload: m.Payload, qos: m.QoS, retain: m.Retain}
	c := t.cost(qm)
	t.msgs = append(t.msgs, qm)
	t.bytes += c
	q.bytes += c
	q.total.Add(1)
	for q.bytes > q.budget && q.shed(t) {
	}
	q.mu.Unlock()
	q.signal()
}

// shed drops the oldest message of the largest droppable queue, trying the
// topic just pushed to first (the usual flood). It reports false when
// nothing can be dropped.
func (q *fairQueue) shed(pushed *topicQueue) bool {
	victim := pushed
	if victim.keep || victim.pending() <= 1 || victim.bytes*len(q.ring) < q.bytes {
		victim = nil
		for _, t := range q.ring {
			if !t.keep && t.pending() > 1 && (victim == nil || t.bytes > victim.bytes) {
				victim = t
			}
		}
	}
	if victim == nil {
		return false
	}
	_, c := victim.popFront()
	q.bytes -= c
	q.total.Add(-1)
	q.dropped++
	return true
}

// pop takes the next message, one topic after another.
func (q *fairQueue) pop() (Message, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.ring) == 0 {
		return Message{}, false
	}
	if q.next >= len(q.ring) {
		q.next = 0
	}
	t := q.ring[q.next]
	qm, c := t.popFront()
	q.bytes -= c
	q.total.Add(-1)
	if t.pending() == 0 {
		q.ring = append(q.ring[:q.next], q.ring[q.next+1:]...)
		delete(q.queues, t.topic) // with its buffer: a drained burst gives its memory back
	} else {
		q.next++
	}
	return Message{Topic: t.topic, Payload: qm.payload, QoS: qm.qos, Retain: qm.retain}, true
}

// stats returns the number and size of waiting messages and the number
// dropped so far.
func (q *fairQueue) stats() (waiting, bytes int, dropped int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.total.Load()), q.bytes, q.dropped
}
