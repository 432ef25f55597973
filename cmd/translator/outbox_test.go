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

// waitForRoom returns once an acknowledgement brings the messages in flight
// below half the broker's receive maximum, and not before.
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
	select {
	case <-done:
		t.Fatal("waitForRoom returned while congested")
	case <-time.After(50 * time.Millisecond):
	}
	b.inflight.Add(-1) // what drainAcks does for one PUBACK
	b.room.broadcast()
	select {
	case <-done:
	case <-time.After(roomWait / 2):
		t.Fatal("waitForRoom still waits after the window opened")
	}
}
