package translate

import (
	"strconv"
	"time"
)

// handleMetaRequest answers `meta/request/{type}`.
func (e *Engine) handleMetaRequest(r *Result, typ string, msg Message, now time.Time) {
	if msg.Retain {
		r.Diagnostics = append(r.Diagnostics, Diagnostic{Level: "warn", Msg: "ignored a retained meta request", Topic: msg.Topic})
		return
	}
	switch typ {
	case "devices_list":
		e.publishDevicesList(r)
	case "info":
		e.publishInfo(r, now)
	case "coverage":
		e.publishCoverage(r, now)
	case "explain":
		e.publishExplain(r, msg.Payload, now)
	case "reload":
		r.Requests = append(r.Requests, "reload")
	default:
		e.publishError(r, e.prefix+"error", "UNKNOWN_REQUEST", "unknown meta request "+strconv.Quote(typ)+"; known: devices_list, info, coverage, explain, reload", "warning", now)
	}
}

// publishDevicesList publishes the retained bare array of devices.
func (e *Engine) publishDevicesList(r *Result) {
	buf := []byte{'['}
	n := 0
	for _, ieee := range e.order {
		d := e.devices[ieee]
		if d == nil {
			continue
		}
		if n > 0 {
			buf = append(buf, ',')
		}
		n++
		buf = append(buf, `{"device_id":`...)
		buf = appendString(buf, d.id)
		buf = append(buf, `,"global_id":`...)
		buf = appendString(buf, e.cfg.InstanceID+"_"+d.id)
		buf = append(buf, `,"model":`...)
		buf = appendString(buf, d.model)
		buf = append(buf, `,"enabled":`...)
		buf = strconv.AppendBool(buf, d.enabled)
		buf = append(buf, `,"online":`...)
		buf = strconv.AppendBool(buf, e.online(d))
		buf = append(buf, `,"friendly_name":`...)
		name := d.dev.FriendlyName
		if o, ok := e.cfg.Overrides[ieee]; ok && o.FriendlyName != "" {
			name = o.FriendlyName
		}
		buf = appendString(buf, name)
		buf = append(buf, `,"vendor":`...)
		buf = appendString(buf, d.dev.Vendor)
		buf = append(buf, `,"type":`...)
		buf = appendString(buf, d.dev.Type)
		buf = append(buf, `,"ieee_address":`...)
		buf = appendString(buf, d.dev.IEEE)
		buf = append(buf, '}')
	}
	buf = append(buf, ']')
	r.Publish = append(r.Publish, Message{Topic: e.prefix + "meta/devices_list", Payload: buf, QoS: e.cfg.QoS, Retain: true})
}

// publishInfo publishes the retained instance info.
func (e *Engine) publishInfo(r *Result, now time.Time) {
	uptime := 0.0
	if !e.cfg.StartedAt.IsZero() {
		uptime = now.Sub(e.cfg.StartedAt).Seconds()
	}
	groups := len(e.groups)
	if len(e.cfg.Groups) > groups {
		groups = len(e.cfg.Groups)
	}
	buf := []byte(`{"instance_id":`)
	buf = appendString(buf, e.cfg.InstanceID)
	buf = append(buf, `,"connector_type":`...)
	buf = appendString(buf, e.cfg.ConnectorType)
	buf = append(buf, `,"devices_count":`...)
	buf = strconv.AppendInt(buf, int64(len(e.devices)), 10)
	buf = append(buf, `,"groups_count":`...)
	buf = strconv.AppendInt(buf, int64(groups), 10)
	buf = append(buf, `,"uptime":`...)
	buf = strconv.AppendFloat(buf, float64(int64(uptime)), 'f', -1, 64)
	buf = append(buf, `,"mode":`...)
	buf = appendString(buf, e.cfg.Mode)
	buf = append(buf, `,"bridge_online":`...)
	buf = strconv.AppendBool(buf, e.BridgeOnline())
	buf = append(buf, `,"zigbee2mqtt_version":`...)
	v := e.z2mVersion
	if v == "" {
		v = e.cfg.Z2MVersion
	}
	buf = appendString(buf, v)
	buf = append(buf, `,"translator_version":`...)
	buf = appendString(buf, e.cfg.Version)
	buf = append(buf, '}')
	r.Publish = append(r.Publish, Message{Topic: e.prefix + "meta/info", Payload: buf, QoS: e.cfg.QoS, Retain: true})
}
