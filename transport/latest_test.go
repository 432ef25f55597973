package transport

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// Of the values waiting for one topic only the newest is sent; topics go
// out in the order they became due.
func TestLatestTable_NewestPerTopic(t *testing.T) {
	s := newLatestTable()
	now := time.Now()
	for i := 0; i < 3; i++ {
		if replaced := s.putLatest(Message{Topic: "d/state/brightness", Payload: []byte(fmt.Sprint(i)), Latest: true}, now, keyTopicInterval); replaced != (i > 0) {
			t.Errorf("put %d: replaced = %v, want %v", i, replaced, i > 0)
		}
	}
	s.putLatest(Message{Topic: "d/state/power", Payload: []byte("true"), Latest: true}, now, keyTopicInterval)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []string
	for i := 0; i < 2; i++ {
		m, ok := s.next(ctx)
		if !ok {
			t.Fatal("next ended early")
		}
		got = append(got, strings.TrimPrefix(m.Topic, "d/")+"="+string(m.Payload))
	}
	if want := "state/brightness=2 state/power=true"; strings.Join(got, " ") != want {
		t.Errorf("sent %s, want %s", strings.Join(got, " "), want)
	}
	cancel()
	if _, ok := s.next(ctx); ok {
		t.Error("next returned a message from an empty table after cancel")
	}
}

// A state/{key} topic goes out at most once per keyTopicInterval: a change
// after a quiet spell at once, changes in between wait and collapse into the
// newest, and a clear forgets the topic.
func TestLatestTable_KeyTopicInterval(t *testing.T) {
	s := newLatestTable()
	t0 := time.Now().Truncate(deferGrid) // on the grid, as keyTopicInterval is a multiple of it
	put := func(v string, at time.Duration) {
		s.putLatest(Message{Topic: "d/state/brightness", Payload: []byte(v), Latest: true}, t0.Add(at), keyTopicInterval)
	}
	take := func(at time.Duration) (string, bool, time.Duration) {
		m, ok, wait := s.takeLatest(t0.Add(at))
		return string(m.Payload), ok, wait
	}
	put("1", 0)
	if v, ok, _ := take(0); !ok || v != "1" {
		t.Fatalf("first value: got %q %v, want 1 at once", v, ok)
	}
	put("2", 10*time.Millisecond)
	put("3", 20*time.Millisecond)
	if _, ok, wait := take(30 * time.Millisecond); ok || wait != keyTopicInterval-30*time.Millisecond {
		t.Fatalf("within the interval: ok=%v wait=%v, want nothing for %v", ok, wait, keyTopicInterval-30*time.Millisecond)
	}
	if v, ok, _ := take(keyTopicInterval); !ok || v != "3" {
		t.Fatalf("after the interval: got %q %v, want the newest, 3", v, ok)
	}
	if _, ok, wait := take(keyTopicInterval); ok || wait != 0 {
		t.Fatalf("nothing waiting: ok=%v wait=%v", ok, wait)
	}
	put("", 3*keyTopicInterval) // cleared
	if v, ok, _ := take(3 * keyTopicInterval); !ok || v != "" {
		t.Fatalf("clear: got %q %v", v, ok)
	}
	if len(s.latest) != 0 {
		t.Errorf("a cleared topic is still tracked: %d entries", len(s.latest))
	}

	// Topics sent long enough ago are forgotten; one still waiting or being
	// sent is not.
	put("4", 4*keyTopicInterval)
	take(4 * keyTopicInterval)
	s.forgetIdle(t0.Add(6 * keyTopicInterval))
	if _, kept := s.latest["d/state/brightness"]; !kept {
		t.Fatal("a topic being sent was forgotten")
	}
	s.sent("d/state/brightness")
	s.putLatest(Message{Topic: "d/state/power", Payload: []byte("true"), Latest: true}, t0.Add(4*keyTopicInterval), keyTopicInterval)
	s.putLatest(Message{Topic: "d/state/power", Payload: []byte("false"), Latest: true}, t0.Add(4*keyTopicInterval), keyTopicInterval)
	s.forgetIdle(t0.Add(4*keyTopicInterval + busyKeyTopicInterval))
	if _, kept := s.latest["d/state/brightness"]; kept {
		t.Error("an idle topic was not forgotten")
	}
	if v, ok, _ := take(6 * keyTopicInterval); !ok || v != "false" {
		t.Errorf("a waiting value was lost by forgetIdle: got %q %v", v, ok)
	}
}

// Waiting values become due on deferGrid instants, never before their
// topic's interval has passed, so values whose intervals end close together
// go out in one batch.
func TestLatestTable_WaitingValuesFallDueTogether(t *testing.T) {
	grid := time.Now().Truncate(deferGrid).Add(deferGrid)
	for _, tc := range []struct {
		name  string
		t     time.Time
		phase time.Duration
		want  time.Time
	}{
		{"on the grid", grid, 0, grid},
		{"just after", grid.Add(time.Nanosecond), 0, grid.Add(deferGrid)},
		{"just before", grid.Add(-time.Millisecond), 0, grid},
		{"shifted grid, before its instant", grid.Add(time.Millisecond), 5 * time.Millisecond, grid.Add(5 * time.Millisecond)},
		{"shifted grid, after its instant", grid.Add(6 * time.Millisecond), 5 * time.Millisecond, grid.Add(deferGrid + 5*time.Millisecond)},
	} {
		if got := dueAt(tc.t, tc.phase); !got.Equal(tc.want) {
			t.Errorf("%s: dueAt = %v, want %v", tc.name, got.Sub(grid), tc.want.Sub(grid))
		}
	}

	s := newLatestTable()
	t0 := grid.Add(time.Millisecond)
	for i, topic := range []string{"a/state/brightness", "b/state/brightness"} {
		sentAt := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		if !s.claim(topic, sentAt, keyTopicInterval) {
			t.Fatalf("%s: first value not claimed", topic)
		}
		s.putLatest(Message{Topic: topic, Payload: []byte("2"), Latest: true}, sentAt.Add(time.Millisecond), keyTopicInterval)
	}
	// a's interval ends at t0+100ms, b's at t0+110ms: both wait for the
	// grid instant after, t0-1ms+125ms.
	due := grid.Add(keyTopicInterval + deferGrid)
	if _, ok, wait := s.takeLatest(t0.Add(keyTopicInterval)); ok || wait != due.Sub(t0.Add(keyTopicInterval)) {
		t.Fatalf("when a's interval ended: ok=%v wait=%v, want nothing for %v", ok, wait, due.Sub(t0.Add(keyTopicInterval)))
	}
	var got []string
	for {
		m, ok, _ := s.takeLatest(due)
		if !ok {
			break
		}
		got = append(got, m.Topic)
	}
	slices.Sort(got)
	if want := []string{"a/state/brightness", "b/state/brightness"}; !slices.Equal(got, want) {
		t.Errorf("due at the grid instant: %v, want %v", got, want)
	}
}

// claim lets a value go straight out only when nothing for its topic waits
// or is being sent and the topic's last send is keyTopicInterval ago.
func TestLatestTable_Claim(t *testing.T) {
	const topic = "d/state/brightness"
	t0 := time.Now()
	msg := func(v string) Message {
		return Message{Topic: topic, Payload: []byte(v), Latest: true}
	}
	tests := []struct {
		name  string
		setup func(s *latestTable)
		at    time.Duration
		want  bool
	}{
		{"unknown topic", func(*latestTable) {}, 0, true},
		{"claimed just now", func(s *latestTable) { s.claim(topic, t0, keyTopicInterval) }, time.Millisecond, false},
		{"claimed an interval ago", func(s *latestTable) { s.claim(topic, t0, keyTopicInterval) }, keyTopicInterval, true},
		{"a value waits", func(s *latestTable) {
			s.claim(topic, t0, keyTopicInterval)
			s.putLatest(msg("1"), t0, keyTopicInterval)
		}, 2 * keyTopicInterval, false},
		{"the publisher is sending", func(s *latestTable) {
			s.putLatest(msg("1"), t0, keyTopicInterval)
			s.takeLatest(t0)
		}, 2 * keyTopicInterval, false},
		{"the publisher has sent", func(s *latestTable) {
			s.putLatest(msg("1"), t0, keyTopicInterval)
			s.takeLatest(t0)
			s.sent(topic)
		}, 2 * keyTopicInterval, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newLatestTable()
			tt.setup(s)
			if got := s.claim(topic, t0.Add(tt.at), keyTopicInterval); got != tt.want {
				t.Errorf("claim = %v, want %v", got, tt.want)
			}
		})
	}
}

// While more than busyBacklog inbound messages wait, or more than
// busyOutbound publications, per-key topics are spaced by
// busyKeyTopicInterval; once both drained, by keyTopicInterval again.
func TestOutbox_KeyIntervalFollowsBacklogs(t *testing.T) {
	tr := New(Config{InboundBufferBytes: 32 << 20})
	o := tr.out
	if got := o.keyInterval(); got != keyTopicInterval {
		t.Fatalf("idle: keyInterval = %v, want %v", got, keyTopicInterval)
	}
	for i := 0; i <= busyBacklog; i++ {
		tr.in.push(Message{Topic: fmt.Sprintf("zigbee2mqtt/dev%d", i%50), Payload: []byte(`{"state":"ON"}`)})
	}
	if got := o.keyInterval(); got != busyKeyTopicInterval {
		t.Errorf("%d inbound waiting: keyInterval = %v, want %v", busyBacklog+1, got, busyKeyTopicInterval)
	}
	for {
		if _, ok := tr.Next(); !ok {
			break
		}
	}
	if got := o.keyInterval(); got != keyTopicInterval {
		t.Errorf("inbound drained: keyInterval = %v, want %v", got, keyTopicInterval)
	}
	// Nothing publishes (Start was not called), so the queues keep what
	// they are given.
	for i := 0; i <= busyOutbound; i++ {
		tr.Publish(context.Background(), Message{Topic: fmt.Sprintf("p/devices/d%d/state", i), Payload: []byte("{}"), QoS: 1})
	}
	if got := o.keyInterval(); got != busyKeyTopicInterval {
		t.Errorf("%d publications queued: keyInterval = %v, want %v", busyOutbound+1, got, busyKeyTopicInterval)
	}
}
