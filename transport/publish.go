package transport

import (
	"context"
	"hash/maphash"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// publishers is how many goroutines publish. A topic always goes through
// the same publisher, so its messages keep their order; each publisher has
// one QoS 1 message in flight at a time, so together they keep up to
// publishers messages in flight (paho holds them to the broker's receive
// maximum). With per-key topics a message makes several publications; at
// 1000 messages/s over 1000 devices, 64 publishers kept the added p99 at
// 1.5 ms where 16 let a publication wait behind others for up to 8 ms.
const publishers = 64

// publisherDepth is each publisher's queue. When a queue is full the
// caller waits: a slow or absent broker slows the daemon down instead of
// growing its memory (at most publishers × publisherDepth messages wait).
const publisherDepth = 64

// latestPublishers is how many tables hold the waiting last-value
// (state/{key}) messages; each has a goroutine that hands its due values
// to the topic's publisher.
const latestPublishers = 4

// busyOutbound is how many queued publications make the per-key topics
// wait busyKeyTopicInterval between values: the broker is behind.
const busyOutbound = publishers * publisherDepth / 4

// publishTimeout bounds one attempt to publish at QoS 1; a failed attempt
// is retried once the connection is up again.
const publishTimeout = 5 * time.Second

// outbox is the publishing side of a Transport.
type outbox struct {
	t      *Transport
	queues []chan Message
	latest []*latestTable

	queued     atomic.Int64 // messages in the queues now
	waited     atomic.Int64 // messages queued behind another, or while disconnected
	superseded atomic.Int64
	rejected   atomic.Int64
}

func newOutbox(t *Transport) *outbox {
	o := &outbox{t: t, queues: make([]chan Message, publishers), latest: make([]*latestTable, latestPublishers)}
	for i := range o.queues {
		o.queues[i] = make(chan Message, publisherDepth)
	}
	for i := range o.latest {
		lt := newLatestTable()
		lt.phase = time.Duration(i) * deferGrid / latestPublishers
		o.latest[i] = lt
	}
	return o
}

// start runs the publishers until ctx ends.
func (o *outbox) start(ctx context.Context) {
	for _, q := range o.queues {
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-q:
					o.send(ctx, m)
					o.queued.Add(-1)
				}
			}
		}()
	}
	for _, lt := range o.latest {
		go o.runLatest(ctx, lt)
	}
}

// Publish sends m: it queues m on its topic's publisher and returns. It
// waits only while that publisher's queue is full, or until ctx ends. A
// last-value message that is not due yet waits in its table instead, where
// a newer value for the topic replaces it.
func (t *Transport) Publish(ctx context.Context, m Message) {
	o := t.out
	h := topicHash(m.Topic)
	if m.Latest {
		lt := o.latest[h%latestPublishers]
		now, interval := time.Now(), o.keyInterval()
		if !lt.claim(m.Topic, now, interval) {
			if lt.putLatest(m, now, interval) {
				o.superseded.Add(1)
			}
			return
		}
	}
	o.enqueue(ctx, h, m)
}

// enqueue hands m to the publisher of hash h.
func (o *outbox) enqueue(ctx context.Context, h uint32, m Message) {
	q := o.queues[h%publishers]
	if len(q) > 0 || !o.t.connected.Load() {
		o.waited.Add(1)
	}
	o.queued.Add(1)
	select {
	case q <- m:
	case <-ctx.Done():
		o.queued.Add(-1)
	}
}

// keyInterval is the current interval between two publications on one
// state/{key} topic (see keyTopicInterval).
func (o *outbox) keyInterval() time.Duration {
	if o.t.in.total.Load() > busyBacklog || o.queued.Load() > busyOutbound {
		return busyKeyTopicInterval
	}
	return keyTopicInterval
}

// send publishes m, retrying after a reconnect until it is sent or ctx
// ends. A publication the broker refuses is counted, not retried: it would
// be refused again.
func (o *outbox) send(ctx context.Context, m Message) {
	p := &paho.Publish{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain}
	for {
		var err error
		if m.QoS == 0 { // returns once written
			_, err = o.t.cm.Publish(ctx, p)
		} else {
			// Bounded: a QoS 1 publication in flight when the connection is
			// reset can wait forever for its acknowledgement.
			attempt, cancel := context.WithTimeout(ctx, publishTimeout)
			var pr *paho.PublishResponse
			pr, err = o.t.cm.Publish(attempt, p)
			cancel()
			if pr != nil && pr.ReasonCode >= 0x80 {
				o.refused(err.Error())
				return
			}
		}
		if err == nil || ctx.Err() != nil {
			return
		}
		o.t.log.Debug().Err(err).Str("topic", m.Topic).Msg("publish failed; retrying after reconnect")
		if err := o.t.cm.AwaitConnection(ctx); err != nil {
			return
		}
		time.Sleep(10 * time.Millisecond) // let subscriptions and online go first
	}
}

// refused counts a publication the broker refused, logging the first.
func (o *outbox) refused(reason string) {
	if o.rejected.Add(1) == 1 {
		o.t.log.Warn().Str("reason", reason).Msg("the broker refused a publication (not authorised to publish there?); further refusals are only counted in translator_publish_rejected_total")
	}
}

// runLatest hands the due values of lt to their publishers until ctx
// ends. A topic counts as sending until its value is queued, so a value
// claimed meanwhile cannot overtake it.
func (o *outbox) runLatest(ctx context.Context, lt *latestTable) {
	for {
		m, ok := lt.next(ctx)
		if !ok {
			return
		}
		o.enqueue(ctx, topicHash(m.Topic), m)
		lt.sent(m.Topic)
	}
}

// topicSeed keys topicHash for the life of the process.
var topicSeed = maphash.MakeSeed()

// topicHash picks a topic's publisher and table: the same topic always gets
// the same ones, and different topics spread evenly.
func topicHash(topic string) uint32 {
	return uint32(maphash.String(topicSeed, topic))
}
