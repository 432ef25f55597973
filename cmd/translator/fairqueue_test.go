package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

func TestFairQueue_RoundRobinAndBound(t *testing.T) {
	q := newFairQueue(3, func(topic string) bool { return strings.Contains(topic, "/bridge/") })
	for i := 0; i < 100000; i++ { // one device floods
		q.push(translate.Message{Topic: "z/flood", Payload: []byte(fmt.Sprint(i))})
	}
	q.push(translate.Message{Topic: "z/quiet", Payload: []byte("q")})
	for i := 0; i < 5; i++ {
		q.push(translate.Message{Topic: "z/bridge/devices", Payload: []byte(fmt.Sprint(i))})
	}
	var got []string
	for {
		m, ok := q.pop()
		if !ok {
			break
		}
		got = append(got, strings.TrimPrefix(m.Topic, "z/")+"="+string(m.Payload))
	}
	want := "flood=99997 quiet=q bridge/devices=0 flood=99998 bridge/devices=1 flood=99999 bridge/devices=2 bridge/devices=3 bridge/devices=4"
	if strings.Join(got, " ") != want {
		t.Errorf("order = %s\nwant    %s", strings.Join(got, " "), want)
	}
	if waiting, dropped := q.stats(); waiting != 0 || dropped != 99997 {
		t.Errorf("waiting=%d dropped=%d, want 0 and 99997", waiting, dropped)
	}
}
