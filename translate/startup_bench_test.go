package translate_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

// BenchmarkEngine_Startup1000 is the startup flood through the engine alone:
// a retained bridge/devices with 1000 lights, then one state for each.
func BenchmarkEngine_Startup1000(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("[")
	for i := 0; i < 1000; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"ieee_address":"0x00158d00010a%04x","type":"Router","friendly_name":"device_%d","definition":{"model":"LED1545G12","vendor":"IKEA","exposes":[{"type":"light","features":[{"type":"binary","name":"state","property":"state","access":7,"value_on":"ON","value_off":"OFF"},{"type":"numeric","name":"brightness","property":"brightness","access":7,"value_min":0,"value_max":254}]},{"type":"numeric","name":"linkquality","property":"linkquality","access":1}]}}`, i, i)
	}
	sb.WriteString("]")
	devices := []byte(sb.String())
	for i := 0; i < b.N; i++ {
		e := newEngine(b, translate.Config{})
		e.Handle(translate.Message{Topic: "zigbee2mqtt/bridge/devices", Payload: devices, Retain: true}, t0)
		for j := 0; j < 1000; j++ {
			e.Handle(translate.Message{Topic: fmt.Sprintf("zigbee2mqtt/device_%d", j), Payload: []byte(`{"state":"ON","brightness":100,"linkquality":50}`)}, t0)
		}
	}
}
