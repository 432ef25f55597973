package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

// A shard sends every FIFO message, and of the last-value messages waiting
// for one topic only the newest; a last-value message still goes out every
// latestEvery FIFO messages.
func TestPublishShard_FIFOAllLatestNewest(t *testing.T) {
	s := newPublishShard()
	for i := 0; i < 3; i++ {
		if replaced := s.putLatest(translate.Message{Topic: "d/state/brightness", Payload: []byte(fmt.Sprint(i)), Latest: true}); replaced != (i > 0) {
			t.Errorf("put %d: replaced = %v, want %v", i, replaced, i > 0)
		}
	}
	s.putLatest(translate.Message{Topic: "d/state/power", Payload: []byte("true"), Latest: true})
	for i := 0; i < 10; i++ {
		s.fifo <- translate.Message{Topic: "d/state", Payload: []byte(fmt.Sprint(i))}
	}
	var got []string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < 12; i++ {
		m, ok := s.next(ctx)
		if !ok {
			t.Fatal("next ended early")
		}
		got = append(got, strings.TrimPrefix(m.Topic, "d/")+"="+string(m.Payload))
	}
	want := "state=0 state=1 state=2 state=3 state=4 state=5 state=6 state=7 state/brightness=2 state=8 state=9 state/power=true"
	if strings.Join(got, " ") != want {
		t.Errorf("order = %s\nwant    %s", strings.Join(got, " "), want)
	}
	cancel()
	if _, ok := s.next(ctx); ok {
		t.Error("next returned a message from an empty shard after cancel")
	}
}

func TestTopicHash_IsFNV1a(t *testing.T) {
	for _, topic := range []string{"", "a", "IoT2mqtt/v1/instances/zb/devices/0x1/state/brightness"} {
		h := fnv.New32a()
		h.Write([]byte(topic))
		if got, want := topicHash(topic), h.Sum32(); got != want {
			t.Errorf("topicHash(%q) = %d, want %d", topic, got, want)
		}
	}
}
