package main

import (
	"context"
	"errors"
	"hash/maphash"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

// fifoPublishers is how many publishers send the messages that cannot go
// out at once (see publish): the connection is down, or the broker did not
// acknowledge in time, or an earlier message is still queued. A topic always
// goes through the same publisher, so its messages stay in order; once
// connected, a publisher drains its queue the direct way (see publishBatch).
// latestPublishers send the state/{key} values that were not due
// or not sent at once (see runLatest).
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

// publish sends m, or hands it to a publisher when it cannot go at once.
// While the connection is up and nothing waits on a publisher, messages go
// straight from the caller (the engine goroutine): QoS 0 written, QoS 1 put
// into the session and written without waiting for the PUBACK, so many are
// in flight at once, up to the broker's receive maximum. Otherwise a FIFO
// publisher sends it and retries after a reconnect; its queue is bounded, so
// when the broker is slow or away the engine waits instead of growing memory
// without limit. A last-value message (state/{key}) that is not due yet
// waits in its table, which holds at most one message per topic.
func (b *broker) publish(ctx context.Context, m translate.Message) {
	b.publishAt(ctx, m, time.Now())
}

// publishAll publishes the messages of one translation, in order. The
// clock is read once for all of them: their state/{key} values count as
// sent at the same instant.
func (b *broker) publishAll(ctx context.Context, msgs []translate.Message) {
	var now time.Time
	for _, m := range msgs {
		if m.Latest && now.IsZero() {
			now = time.Now()
		}
		b.publishAt(ctx, m, now)
	}
}

// publishAt is publish with the clock already read: now matters only for a
// last-value message.
func (b *broker) publishAt(ctx context.Context, m translate.Message, now time.Time) {
	if b.out == nil {
		b.log.Error().Str("topic", m.Topic).Msg("publish before the mqtt connection was started")
		return
	}
	h := topicHash(m.Topic)
	if m.Latest {
		t := b.latest[h%latestPublishers]
		congested := b.congested()
		b.keyLoad.observe(now, congested)
		interval := b.keyInterval()
		if b.direct() && !congested && t.claim(m.Topic, now, interval) && b.publishNow(ctx, m) {
			return
		}
		if t.putLatest(m, now, interval) {
			b.superseded.Add(1)
		}
		return
	}
	if b.direct() && b.publishNow(ctx, m) {
		return
	}
	b.backlog.Add(1)
	b.waited.Add(1)
	b.dropEngineCork()
	b.releaseAcks() // the engine may wait below: what it holds must not
	select {
	case b.out[h%fifoPublishers] <- m:
	case <-ctx.Done():
		b.backlog.Add(-1)
	}
}

// direct reports whether a message may be sent by its caller: connected,
// and no earlier message waits on a publisher (it must not be overtaken).
func (b *broker) direct() bool {
	return b.connected.Load() && b.backlog.Load() == 0
}

// congested reports whether half the broker's receive maximum or more is
// taken by messages publishNow sent. Last-value messages then wait in their
// tables (see runLatest): under load a topic's values coalesce to the newest
// instead of competing with the messages that must all go out.
func (b *broker) congested() bool {
	return b.inflight.Load()*2 >= b.sendWindow.Load()
}

// roomAgain reports whether the messages publishNow sent take a quarter of
// the broker's receive maximum or less: last-value publishers that waited
// for room resume then, not as soon as the window is below half. Resumed at
// half, each woke for the one message that filled it again, and wrote it
// alone: at 5000 messages/s with 1000 devices that was 3.4 writes per
// inbound message; resumed at a quarter, 1.5.
func (b *broker) roomAgain() bool {
	return b.inflight.Load()*4 <= b.sendWindow.Load()
}

// tryOnly is a context that is already done: the session takes a message
// with it only when the broker's receive maximum leaves room, without waiting.
var tryOnly = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// publishPool recycles the PUBLISH structs publishNow hands the session.
var publishPool = sync.Pool{New: func() any { return new(packets.Publish) }}

// publishNow writes m without waiting for an acknowledgement; false when it
// could not be sent (not connected, or no room in the session for
// publishTimeout) and must go the waiting way. A QoS 1 message that is in
// the session counts as sent even when the write fails: the session resends
// it after the reconnect.
func (b *broker) publishNow(ctx context.Context, m translate.Message) bool {
	// Load the connection before checking that it is up: a connection dialled
	// later is only used once connected says it completed its CONNECT.
	c := b.conn.Load()
	if !b.connected.Load() {
		return false
	}
	if m.QoS == 0 {
		if c != nil { // encoded straight into the connection's write buffer
			return c.writePublishQoS0(m.Topic, m.Payload, m.Retain) == nil
		}
		_, err := b.cm.Publish(ctx, &paho.Publish{Topic: m.Topic, Payload: m.Payload, Retain: m.Retain})
		return err == nil
	}
	if c == nil {
		return false
	}
	// The session keeps only the packet's encoding (packetStore.Put), so the
	// struct goes back to the pool once its identifier is read.
	pb := publishPool.Get().(*packets.Publish)
	*pb = packets.Publish{Topic: m.Topic, Payload: m.Payload, QoS: m.QoS, Retain: m.Retain}
	defer publishPool.Put(pb)
	// While the window has room the session takes the message at once.
	// context.Canceled from tryOnly means the window is full after all.
	added := false
	if b.inflight.Load() < b.sendWindow.Load() {
		err := b.session.AddToSession(tryOnly, pb, b.acks)
		if err != nil && !errors.Is(err, context.Canceled) {
			return false
		}
		added = err == nil
	}
	if !added {
		// The acknowledgements that free a slot answer packets that may
		// still sit in a cork: let them go, and the held PUBACKs with them
		// (see flush), then wait.
		c.flush()
		wait, cancel := context.WithTimeout(ctx, publishTimeout)
		err := b.session.AddToSession(wait, pb, b.acks)
		cancel()
		if err != nil {
			return false
		}
	}
	b.inflight.Add(1)
	// The bytes the session stored; none when a reconnect in between already
	// resent the packet and it was acknowledged, or the session was reset.
	if enc := b.store.encoded(pb.PacketID); enc != nil {
		if err := c.writePacket(enc); err != nil {
			b.log.Debug().Err(err).Str("topic", m.Topic).Msg("write failed; the session resends after the reconnect")
		}
	}
	return true
}

// drainAcks receives the acknowledgements of the QoS 1 messages publishNow
// put into the session (and, on shutdown, their empty farewells). The
// session delivers them under its lock, so this never stops reading.
func (b *broker) drainAcks() {
	for p := range b.acks {
		b.inflight.Add(-1)
		if b.roomAgain() {
			b.room.broadcast()
		}
		if ack, ok := p.Content.(*packets.Puback); ok && ack.ReasonCode >= 0x80 {
			b.refused(ack.Reason())
		}
	}
}

// refused counts a publication the broker refused, logging the first.
func (b *broker) refused(reason string) {
	if b.rejected.Add(1) == 1 {
		b.log.Warn().Str("reason", reason).Msg("the broker refused a publication (not authorised to publish there?); further refusals are only counted in translator_publish_rejected_total")
	}
}

// corkEngine corks the connection while the engine works through a burst
// or one result, so its publications share system calls; the returned func
// releases the cork. Nested calls (a result within a burst) do nothing. At
// QoS 1 the cork is let go whenever the send window fills (see publishNow),
// so under load a write carries up to a window's worth of packets. publish
// drops the cork early when a message takes the waiting way: a publisher
// waiting for a PUBACK must not wait for the engine's cork too.
func (b *broker) corkEngine() func() {
	c := b.conn.Load()
	if c == nil || !b.engineCork.CompareAndSwap(nil, c) {
		return func() {}
	}
	c.cork()
	return b.dropEngineCork
}

// dropEngineCork releases the engine's cork, if it holds one.
func (b *broker) dropEngineCork() {
	if c := b.engineCork.Swap(nil); c != nil {
		c.uncork()
	}
}

// startPublishers runs the publishers until ctx ends. A message that fails
// (the connection dropped) is retried after the reconnect, so nothing is
// lost and order per topic is kept.
func (b *broker) startPublishers(ctx context.Context) {
	b.out = make([]chan translate.Message, fifoPublishers)
	for i := range b.out {
		ch := make(chan translate.Message, fifoDepth)
		b.out[i] = ch
		// A publisher drains its whole queue in one batch, so a backlog goes
		// out at the speed of the direct way: a burst that began while
		// something waited does not go one round trip at a time.
		queued := func() (translate.Message, bool) {
			b.backlog.Add(-1) // for the message just sent
			select {
			case m := <-ch:
				return m, true
			default:
				return translate.Message{}, false
			}
		}
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-ch:
					b.publishBatch(ctx, m, queued)
				}
			}
		}()
	}
	b.latest = make([]*latestTable, latestPublishers)
	for i := range b.latest {
		t := newLatestTable()
		t.phase = time.Duration(i) * deferGrid / latestPublishers
		b.latest[i] = t
		go b.runLatest(ctx, t)
	}
}

// publishBatch sends m and each message next yields under one cork, the
// way publish writes them: without waiting for acknowledgements. A message
// that cannot go that way (see publishNow) takes the waiting way, retried
// after a reconnect; the cork is let go first, since the PUBACK it waits for
// answers a packet that must have left, and the rest of the batch goes
// uncorked.
func (b *broker) publishBatch(ctx context.Context, m translate.Message, next func() (translate.Message, bool)) {
	release := b.cork()
	for ok := true; ok; m, ok = next() {
		if !b.publishNow(ctx, m) {
			release()
			release = func() {}
			b.send(ctx, m)
		}
	}
	release()
}

// roomWait bounds how long a last-value publisher waits for room in the
// send window before it sends anyway (the session still enforces the
// receive maximum); it guards against a miscounted window.
const roomWait = time.Second

// runLatest sends the due last-value messages of t until ctx ends. It waits
// while the send window is congested, so under load values coalesce in the
// table, then sends due values in one batch until the window is congested
// again. A topic counts as sending until its write has left the cork, so
// the engine's claim cannot overtake it.
func (b *broker) runLatest(ctx context.Context, t *latestTable) {
	var topics []string
	due := func() (translate.Message, bool) {
		if b.congested() {
			return translate.Message{}, false
		}
		m, ok, _ := t.takeLatest(time.Now())
		if ok {
			topics = append(topics, m.Topic)
		}
		return m, ok
	}
	for {
		m, ok := t.next(ctx)
		if !ok {
			return
		}
		b.waitForRoom(ctx)
		topics = append(topics[:0], m.Topic)
		b.publishBatch(ctx, m, due)
		t.sent(topics...)
	}
}

// waitForRoom returns at once unless the send window is congested; then it
// waits, at most roomWait, until there is room again (roomAgain).
func (b *broker) waitForRoom(ctx context.Context) {
	if !b.congested() {
		return
	}
	deadline := time.NewTimer(roomWait)
	defer deadline.Stop()
	for !b.roomAgain() {
		ch := b.room.wait()
		if b.roomAgain() { // an acknowledgement came in between
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// holdAck keeps the PUBACK of an inbound QoS 1 message from being written
// on its own, until releaseAcks: it then leaves in the same write as the
// publications the engine made from the message (bufConn.holdAcks). The
// engine releases the hold at the end of every burst and before anything it
// may wait for, and any packet written meanwhile carries the waiting
// acknowledgements along. A hold left on a connection that was replaced
// does not matter: closing it wrote what waited.
func (b *broker) holdAck() {
	if c := b.conn.Load(); c != nil {
		c.holdAcks()
	}
}

// releaseAcks ends holdAck: the engine has handled the messages taken so
// far, and their acknowledgements go out with its publications.
func (b *broker) releaseAcks() {
	if c := b.conn.Load(); c != nil {
		c.releaseAcks()
	}
}

// cork corks the current connection; the returned func uncorks.
func (b *broker) cork() func() {
	c := b.conn.Load()
	if c == nil {
		return func() {}
	}
	c.cork()
	return c.uncork
}

// wakeup wakes every goroutine waiting on it, each time it is broadcast.
type wakeup struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed by the next broadcast.
func (s *wakeup) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// broadcast wakes the current waiters.
func (s *wakeup) broadcast() {
	s.mu.Lock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
	s.mu.Unlock()
}

// topicSeed keys topicHash for the life of the process.
var topicSeed = maphash.MakeSeed()

// topicHash picks a topic's publisher: the same topic always gets the same
// one (so its messages stay in order), and different topics spread evenly.
// maphash uses the CPU's AES instructions: 5 ns for a 67-byte topic,
// against 40 ns for the FNV-1a it replaced (a multiplication per byte),
// which was 6 % of the CPU profile of `max` with 1000 devices.
func topicHash(topic string) uint32 {
	return uint32(maphash.String(topicSeed, topic))
}
