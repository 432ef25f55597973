package main

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A topic always goes to the same publisher, and a device's topics spread
// over the publishers evenly.
func TestTopicHash(t *testing.T) {
	const devices = 1000
	keys := []string{"", "/brightness", "/color_temp", "/state", "/linkquality", "/online"}
	for _, shards := range []uint32{fifoPublishers, latestPublishers} {
		count := make([]int, shards)
		for d := range devices {
			for _, k := range keys {
				topic := fmt.Sprintf("IoT2mqtt/v1/instances/zb/devices/0x00158d0001%06x/state%s", d, k)
				h := topicHash(topic)
				if again := topicHash(topic); again != h {
					t.Fatalf("topicHash(%q) = %d, then %d", topic, h, again)
				}
				count[h%shards]++
			}
		}
		mean := devices * len(keys) / int(shards)
		for i, n := range count {
			if n < mean*8/10 || n > mean*12/10 {
				t.Errorf("%d publishers: publisher %d gets %d topics, want %d ± 20 %%", shards, i, n, mean)
			}
		}
	}
}

func BenchmarkTopicHash(b *testing.B) {
	topic := "IoT2mqtt/v1/instances/zb/devices/0x00158d0001a0000f/state/brightness"
	for b.Loop() {
		topicHash(topic)
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
