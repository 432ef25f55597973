package translate_test

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

const lampState = "zigbee2mqtt/living room/lamp"

// nested is depth arrays (or objects) around 1.
func nested(depth int, object bool) string {
	if object {
		return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth)
	}
	return strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth)
}

// manyKeys is an object of n distinct keys.
func manyKeys(n int) string {
	var b strings.Builder
	b.WriteString(`{"state":"ON"`)
	for i := 0; i < n; i++ {
		b.WriteString(`,"k` + strconv.Itoa(i) + `":` + strconv.Itoa(i))
	}
	b.WriteString("}")
	return b.String()
}

// measure runs f and reports how long it took, how much it allocated and
// how much the goroutine stacks grew.
func measure(f func()) (took time.Duration, allocMB, stackMB uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	f()
	took = time.Since(start)
	runtime.ReadMemStats(&after)
	return took, (after.TotalAlloc - before.TotalAlloc) >> 20, (after.StackInuse - min(after.StackInuse, before.StackInuse)) >> 20
}

// TestLimits_LargeAndDeepPayloads: payloads up to 1 MB are translated
// without blowing up time, memory or stack, and payloads nested deeper than
// the limit (or larger than the configured maximum) are rejected with
// INVALID_PAYLOAD before anything recursive parses them.
func TestLimits_LargeAndDeepPayloads(t *testing.T) {
	mb := 1 << 20
	cases := []struct {
		name    string
		topic   string
		payload string
		reject  string // "" when the payload must be translated
	}{
		{"1 MB string value", lampState, `{"state":"ON","blob":"` + strings.Repeat("x", mb) + `"}`, ""},
		{"1 MB of brackets inside a string", lampState, `{"state":"ON","blob":"` + strings.Repeat("[", mb) + `"}`, ""},
		{"1 MB array value", lampState, `{"state":"ON","list":[` + strings.Repeat("1,", mb/2) + `1]}`, ""},
		{"1 MB of distinct keys", lampState, manyKeys(65000), ""},
		{"1 MB of one key repeated", lampState, "{" + strings.Repeat(`"brightness":1,`, mb/15) + `"state":"ON"}`, ""},
		{"nesting at the limit", lampState, `{"state":"ON","deep":` + nested(translate.DefaultMaxPayloadDepth-1, false) + `}`, ""},
		{"100k nested arrays", lampState, nested(100000, false), "nested deeper"},
		{"100k nested arrays in a transformed key", lampState, `{"color":` + nested(100000, false) + `}`, "nested deeper"},
		{"100k nested objects", lampState, `{"x":` + nested(100000, true) + `}`, "nested deeper"},
		{"1M nested arrays", lampState, nested(1000000, false), "nested deeper"},
		{"unbalanced opening brackets", lampState, strings.Repeat("[{", 500000), "nested deeper"},
		{"one level over the limit", lampState, `{"deep":` + nested(translate.DefaultMaxPayloadDepth, false) + `}`, "nested deeper"},
		{"deep command", fuzzLamp + "cmd", `{"id":"d1","values":{"power":` + nested(100000, true) + `}}`, "nested deeper"},
		{"deep device list", "zigbee2mqtt/bridge/devices", "[" + nested(100000, true) + "]", "nested deeper"},
		{"over the configured maximum", lampState, `{"state":"ON","blob":"` + strings.Repeat("x", 4*mb) + `"}`, "more than the limit of 4194304"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := fuzzConfig()
			cfg.MaxPayloadBytes = 4 * mb
			e := translate.New(cfg, rules(t))
			e.Handle(translate.Message{Topic: "zigbee2mqtt/bridge/devices", Payload: []byte(fuzzDevices)}, t0)
			var r translate.Result
			took, allocMB, stackMB := measure(func() {
				r = e.Handle(translate.Message{Topic: tc.topic, Payload: []byte(tc.payload), QoS: 1}, t0)
			})
			checkPublished(t, r)
			t.Logf("%d bytes: %s, %d MB allocated, stack +%d MB, %d publications", len(tc.payload), took, allocMB, stackMB, len(r.Publish))
			if took > 5*time.Second {
				t.Errorf("took %s", took)
			}
			if allocMB > 256 {
				t.Errorf("allocated %d MB", allocMB)
			}
			if stackMB > 8 {
				t.Errorf("stack grew by %d MB", stackMB)
			}
			errPayload := payloadOn(r, fuzzPrefix+"error")
			state := payloadOn(r, fuzzLamp+"state")
			if tc.reject == "" {
				if state == "" || errPayload != "" {
					t.Errorf("state %.100q, error %.200q; want the state translated", state, errPayload)
				}
				return
			}
			if !strings.Contains(errPayload, `"INVALID_PAYLOAD"`) || !strings.Contains(errPayload, tc.reject) {
				t.Errorf("error = %.300q, want INVALID_PAYLOAD naming %q", errPayload, tc.reject)
			}
			if len(r.Publish) != 1 {
				t.Errorf("published %d messages, want only the error", len(r.Publish))
			}
		})
	}
}

// TestLimits_MergedStateIsBounded: a device that keeps sending new keys
// cannot grow its merged state (and every envelope) without bound.
func TestLimits_MergedStateIsBounded(t *testing.T) {
	e := translate.New(fuzzConfig(), rules(t))
	e.Handle(translate.Message{Topic: "zigbee2mqtt/bridge/devices", Payload: []byte(fuzzDevices)}, t0)
	var last translate.Result
	for round := 0; round < 5; round++ {
		var b strings.Builder
		b.WriteString(`{"state":"ON"`)
		for i := 0; i < 1000; i++ {
			fmt.Fprintf(&b, `,"r%d_%d":1`, round, i)
		}
		b.WriteString("}")
		last = e.Handle(translate.Message{Topic: lampState, Payload: []byte(b.String())}, t0)
		checkPublished(t, last)
	}
	state := payloadOn(last, fuzzLamp+"state")
	if n := strings.Count(state, `":`); n > 1024+10 {
		t.Errorf("state envelope has %d keys, want at most about 1024", n)
	}
	warned := false
	for _, d := range last.Diagnostics {
		warned = warned || d.Msg == "dropped new state keys"
	}
	if !warned {
		t.Error("no diagnostic about dropped keys")
	}
}

// TestLimits_BufferBeforeDeviceList: messages held until bridge/devices
// arrives are bounded in bytes, however many large ones arrive first.
func TestLimits_BufferBeforeDeviceList(t *testing.T) {
	e := translate.New(fuzzConfig(), rules(t))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 160; i++ {
		payload := make([]byte, 1<<20)
		copy(payload, `{"state":"ON","x":"`)
		for j := 20; j < len(payload)-2; j++ {
			payload[j] = 'x'
		}
		copy(payload[len(payload)-2:], `"}`)
		e.Handle(translate.Message{Topic: "zigbee2mqtt/unknown " + strconv.Itoa(i), Payload: payload, Retain: true}, t0)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) >> 20
	t.Logf("holding %d MB after 160 MB of unknown messages", held)
	if held > 100 {
		t.Errorf("holding %d MB of unknown messages, want at most the 64 MB budget", held)
	}
	runtime.KeepAlive(e)
}
