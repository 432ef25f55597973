package main

import (
	"context"
	"hash/fnv"
	"testing"
	"time"
)

func TestTopicHash_IsFNV1a(t *testing.T) {
	for _, topic := range []string{"", "a", "IoT2mqtt/v1/instances/zb/devices/0x1/state/brightness"} {
		h := fnv.New32a()
		h.Write([]byte(topic))
		if got, want := topicHash(topic), h.Sum32(); got != want {
			t.Errorf("topicHash(%q) = %d, want %d", topic, got, want)
		}
	}
}

// waitForRoom returns once acknowledgements bring the messages in flight
// down to a quarter of the broker's receive maximum, and not before: below
// half is not enough.
func TestBroker_WaitForRoom(t *testing.T) {
	b := &broker{}
	b.sendWindow.Store(20)
	b.inflight.Store(10)
	if !b.congested() {
		t.Fatal("10 of 20 in flight is not congested, want congested")
	}
	done := make(chan struct{})
	go func() {
		b.waitForRoom(context.Background())
		close(done)
	}()
	stillWaits := func(when string) {
		t.Helper()
		select {
		case <-done:
			t.Fatalf("waitForRoom returned %s", when)
		case <-time.After(50 * time.Millisecond):
		}
	}
	stillWaits("while congested")
	b.inflight.Store(9) // below half, not yet a quarter
	b.room.broadcast()
	stillWaits("with 9 of 20 in flight")
	b.inflight.Store(5) // what drainAcks does for PUBACKs, and it broadcasts
	b.room.broadcast()
	select {
	case <-done:
	case <-time.After(roomWait / 2):
		t.Fatal("waitForRoom still waits with 5 of 20 in flight")
	}
}
