package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

// Of the values waiting for one topic only the newest is sent; topics go
// out in the order they became due.
func TestLatestTable_NewestPerTopic(t *testing.T) {
	s := newLatestTable()
	now := time.Now()
	for i := 0; i < 3; i++ {
		if replaced := s.putLatest(translate.Message{Topic: "d/state/brightness", Payload: []byte(fmt.Sprint(i)), Latest: true}, now, keyTopicInterval); replaced != (i > 0) {
			t.Errorf("put %d: replaced = %v, want %v", i, replaced, i > 0)
		}
	}
	s.putLatest(translate.Message{Topic: "d/state/power", Payload: []byte("true"), Latest: true}, now, keyTopicInterval)
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
		s.putLatest(translate.Message{Topic: "d/state/brightness", Payload: []byte(v), Latest: true}, t0.Add(at), keyTopicInterval)
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
	s.putLatest(translate.Message{Topic: "d/state/power", Payload: []byte("true"), Latest: true}, t0.Add(4*keyTopicInterval), keyTopicInterval)
	s.putLatest(translate.Message{Topic: "d/state/power", Payload: []byte("false"), Latest: true}, t0.Add(4*keyTopicInterval), keyTopicInterval)
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
		s.putLatest(translate.Message{Topic: topic, Payload: []byte("2"), Latest: true}, sentAt.Add(time.Millisecond), keyTopicInterval)
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
	msg := func(v string) translate.Message {
		return translate.Message{Topic: topic, Payload: []byte(v), Latest: true}
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

// While more than busyBacklog inbound messages wait, per-key topics are
// spaced by busyKeyTopicInterval; once the engine caught up, by
// keyTopicInterval again.
func TestBroker_KeyIntervalFollowsInboundBacklog(t *testing.T) {
	b := &broker{in: newFairQueue(32<<20, keepTopic)}
	if got := b.keyInterval(); got != keyTopicInterval {
		t.Fatalf("idle: keyInterval = %v, want %v", got, keyTopicInterval)
	}
	for i := 0; i <= busyBacklog; i++ {
		b.in.push(translate.Message{Topic: fmt.Sprintf("zigbee2mqtt/dev%d", i%50), Payload: []byte(`{"state":"ON"}`)})
	}
	if got := b.keyInterval(); got != busyKeyTopicInterval {
		t.Errorf("%d waiting: keyInterval = %v, want %v", busyBacklog+1, got, busyKeyTopicInterval)
	}
	for {
		if _, ok := b.in.pop(); !ok {
			break
		}
	}
	if got := b.keyInterval(); got != keyTopicInterval {
		t.Errorf("drained: keyInterval = %v, want %v", got, keyTopicInterval)
	}
}

// second is one second of state/{key} values offered to keyPressure.
type second struct {
	offered, congested int
	wantBusy           bool // once the second is over
}

// Per-key topics are spaced by busyKeyTopicInterval from the second in
// which half their values (and at least minPressured) found the send
// window congested, until the values offered per second fall below half
// of that second's, or a second passes with none.
func TestKeyPressure(t *testing.T) {
	tests := []struct {
		name    string
		seconds []second
		silence bool // a silent second after them
		want    bool
	}{
		{"light congestion", []second{{1000, 140, false}, {1000, 499, false}}, false, false},
		{"half congested", []second{{1000, 500, true}}, false, true},
		{"too few values", []second{{minPressured - 1, minPressured - 1, false}}, false, false},
		{"stays while the demand holds", []second{{5000, 4000, true}, {5000, 0, true}, {2500, 0, true}}, false, true},
		{"ends when the demand halves", []second{{5000, 4000, true}, {2499, 0, false}}, false, false},
		{"ends after a silent second", []second{{5000, 4000, true}}, true, false},
		{"measures again after keyPressureRecheck", recheck(), false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p keyPressure
			t0 := time.Now()
			at := func(i int, frac time.Duration) time.Time { return t0.Add(time.Duration(i)*time.Second + frac) }
			for i, sec := range tt.seconds {
				step := time.Second / time.Duration(sec.offered)
				for j := range sec.offered {
					p.observe(at(i, time.Duration(j)*step), j < sec.congested)
					if j == 0 && i > 0 {
						if got := p.busy.Load(); got != tt.seconds[i-1].wantBusy {
							t.Fatalf("after second %d: busy = %v, want %v", i, got, tt.seconds[i-1].wantBusy)
						}
					}
				}
			}
			next := len(tt.seconds)
			if tt.silence {
				next++
			}
			p.observe(at(next, 0), false)
			if got := p.busy.Load(); got != tt.want {
				t.Errorf("at the end: busy = %v, want %v", got, tt.want)
			}
		})
	}
}

// recheck is a minute of steady demand, congested only in its first
// second: busy from then until keyPressureRecheck, then a second of
// measuring, not congested, then busy again when congestion comes back.
func recheck() []second {
	secs := []second{{5000, 4000, true}}
	for i := 1; i < int(keyPressureRecheck/time.Second); i++ {
		secs = append(secs, second{5000, 0, true})
	}
	return append(secs, second{5000, 0, false}, second{5000, 0, false}, second{5000, 3000, true})
}

// A state/{key} value reports to keyPressure whether it found the send
// window congested, and the interval follows.
func TestBroker_KeyIntervalFollowsKeyPressure(t *testing.T) {
	b := &broker{in: newFairQueue(32<<20, keepTopic), out: []chan translate.Message{}}
	for range latestPublishers {
		b.latest = append(b.latest, newLatestTable())
	}
	b.sendWindow.Store(20)
	b.inflight.Store(10) // half the window: congested
	t0 := time.Now()
	for i := range minPressured {
		m := translate.Message{Topic: fmt.Sprintf("p/devices/d%d/state/brightness", i), Payload: []byte("1"), QoS: 1, Latest: true}
		b.publishAt(context.Background(), m, t0.Add(time.Duration(i)*time.Millisecond))
	}
	if got := b.keyInterval(); got != keyTopicInterval {
		t.Fatalf("within the first second: keyInterval = %v, want %v", got, keyTopicInterval)
	}
	b.publishAt(context.Background(), translate.Message{Topic: "p/devices/x/state/brightness", Payload: []byte("1"), QoS: 1, Latest: true}, t0.Add(time.Second))
	if got := b.keyInterval(); got != busyKeyTopicInterval {
		t.Errorf("after a second of congested values: keyInterval = %v, want %v", got, busyKeyTopicInterval)
	}
}
