package transport

import (
	"fmt"
	"strings"
	"testing"
)

func bridgeTopic(topic string) bool { return strings.Contains(topic, "/bridge/") }

func drain(q *fairQueue) []string {
	var got []string
	for {
		m, ok := q.pop()
		if !ok {
			return got
		}
		got = append(got, strings.TrimPrefix(m.Topic, "z/")+"="+string(m.Payload))
	}
}

// A device flooding 100k messages past the budget sheds its own oldest
// messages; a quiet device and the bridge lose nothing and are served in
// turn.
func TestFairQueue_FloodShedsOnlyTheFlooder(t *testing.T) {
	per := len("z/flood") + len("99999") + messageOverhead
	q := newFairQueue(3*per, bridgeTopic)
	for i := 0; i < 100000; i++ {
		q.push(Message{Topic: "z/flood", Payload: []byte(fmt.Sprintf("%05d", i))})
	}
	q.push(Message{Topic: "z/quiet", Payload: []byte("q")})
	for i := 0; i < 5; i++ {
		q.push(Message{Topic: "z/bridge/devices", Payload: []byte(fmt.Sprint(i))})
	}
	got := strings.Join(drain(q), " ")
	// The bridge messages and the quiet device push the total over the budget
	// again; the flooder pays until it holds only its newest message.
	want := "flood=99999 quiet=q bridge/devices=0 bridge/devices=1 bridge/devices=2 bridge/devices=3 bridge/devices=4"
	if got != want {
		t.Errorf("order = %s\nwant    %s", got, want)
	}
	if waiting, bytes, dropped := q.stats(); waiting != 0 || bytes != 0 || dropped != 99999 {
		t.Errorf("waiting=%d bytes=%d dropped=%d, want 0, 0 and 99999", waiting, bytes, dropped)
	}
}

// A burst across many devices that fits the budget is kept whole, in order
// per topic.
func TestFairQueue_BurstWithinBudgetKeepsEverything(t *testing.T) {
	q := newFairQueue(32<<20, bridgeTopic)
	const devices, each = 50, 2000
	for i := 0; i < each; i++ {
		for d := 0; d < devices; d++ {
			q.push(Message{Topic: fmt.Sprintf("z/dev%d", d), Payload: []byte(fmt.Sprint(i)), QoS: 1, Retain: d == 0})
		}
	}
	next := map[string]int{}
	n := 0
	for {
		m, ok := q.pop()
		if !ok {
			break
		}
		if got, want := string(m.Payload), fmt.Sprint(next[m.Topic]); got != want {
			t.Fatalf("%s: got payload %s, want %s (out of order)", m.Topic, got, want)
		}
		if m.QoS != 1 || m.Retain != (m.Topic == "z/dev0") {
			t.Fatalf("%s: qos=%d retain=%v not kept", m.Topic, m.QoS, m.Retain)
		}
		next[m.Topic]++
		n++
	}
	if _, _, dropped := q.stats(); n != devices*each || dropped != 0 {
		t.Errorf("popped %d, dropped %d; want %d and 0", n, dropped, devices*each)
	}
}

// Over budget with no single flooder, the topic holding the most sheds first.
func TestFairQueue_ShedsTheLargestQueue(t *testing.T) {
	q := newFairQueue(1000, bridgeTopic)
	for i := 0; i < 8; i++ {
		q.push(Message{Topic: "z/big", Payload: []byte(strings.Repeat("b", 60))})
	}
	q.push(Message{Topic: "z/small", Payload: []byte("s1")})
	q.push(Message{Topic: "z/small", Payload: []byte("s2")})
	// The budget is now exceeded by a push to the small topic.
	for i := 0; i < 3; i++ {
		q.push(Message{Topic: "z/small", Payload: []byte(fmt.Sprintf("s%d", i+3))})
	}
	got := drain(q)
	small := 0
	for _, g := range got {
		if strings.HasPrefix(g, "small=") {
			small++
		}
	}
	if small != 5 {
		t.Errorf("small kept %d of 5 messages, want all: %v", small, got)
	}
	if _, _, dropped := q.stats(); dropped == 0 {
		t.Errorf("nothing dropped although over budget")
	}
}
