package coordinator

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// ZDO status for an endpoint a device does not have.
const zdoInvalidEP = 0x82

// member is the joined device with a NWK address, or nil.
func (e *Emulator) member(nwk uint16) *device {
	if ieee, ok := e.nv.ieeeOf(nwk); ok {
		return e.devices[ieee]
	}
	return nil
}

// joined is the device with an IEEE address when it joined, or nil.
func (e *Emulator) joined(ieee uint64) *device {
	if _, ok := e.nv.nwkOf(ieee); ok {
		return e.devices[ieee]
	}
	return nil
}

func (e *Emulator) af(f frame, r *reader) []frame {
	out := []frame{srsp(subAF, f.cmd, []byte{0})}
	switch f.cmd {
	case 0x00: // register
		ep := r.u8()
		if _, dup := e.endpoints[ep]; dup {
			return []frame{srsp(subAF, f.cmd, []byte{0xB8})}
		}
		desc := buf{}.u8(ep).bytes(r.take(5)) // profile, deviceId, devVer
		r.u8()                                // latency
		nIn := r.u8()
		desc = desc.u8(nIn).bytes(r.take(2 * int(nIn)))
		nOut := r.u8()
		desc = desc.u8(nOut).bytes(r.take(2 * int(nOut)))
		e.endpoints[ep] = desc
		return out
	case 0x01, 0x02: // dataRequest, dataRequestExt
		var dst *device
		var dstEp, srcEp, transID byte
		var cluster uint16
		var data []byte
		if f.cmd == 0x01 {
			nwk := r.u16()
			dstEp, srcEp, cluster, transID = r.u8(), r.u8(), r.u16(), r.u8()
			r.u8()
			r.u8()
			data = r.take(int(r.u8()))
			dst = e.member(nwk)
		} else {
			mode, addr := r.u8(), r.u64()
			dstEp = r.u8()
			r.u16()
			srcEp, cluster, transID = r.u8(), r.u16(), r.u8()
			r.u8()
			r.u8()
			data = r.take(int(r.u16()))
			switch {
			case mode == 3:
				dst = e.joined(addr)
			case mode == 2 && addr < 0xFFF8:
				dst = e.member(uint16(addr))
			case mode == 1: // a group: confirmed, then run by its members
				out = append(out, areq(subAF, 0x80, []byte{0, srcEp, transID}))
				return append(out, e.deliverGroup(uint16(addr), srcEp, cluster, data)...)
			}
		}
		// Broadcasts and group sends are confirmed and not answered.
		if dst != nil && dst.faults.confirm > 0 {
			dst.faults.confirm--
			e.logf("fault: data confirm MAC_NO_ACK for %s", dst.desc.IEEE)
			return append(out, areq(subAF, 0x80, []byte{0xE9, srcEp, transID}))
		}
		out = append(out, areq(subAF, 0x80, []byte{0, srcEp, transID}))
		if dst == nil {
			return out
		}
		return append(out, e.deliver(dst, dstEp, srcEp, cluster, data, true)...)
	}
	return out
}

// deliver runs a ZCL frame on a device and returns its answers (when answer
// is set; a group frame gets none), and the reports of attributes it
// changed that have a configured report.
func (e *Emulator) deliver(d *device, ep, coordEp byte, cluster uint16, data []byte, answer bool) []frame {
	if d.eps[ep] == nil {
		return nil // no such endpoint: a real network drops it
	}
	zf, ok := parseZCL(data)
	if !ok {
		return nil
	}
	if d.faults.silent > 0 {
		d.faults.silent--
		e.logf("fault: %s does not answer", d.desc.IEEE)
		return nil
	}
	answers, changed := d.handleZCL(ep, cluster, zf)
	if !answer {
		answers = nil
	}
	var out []frame
	for _, a := range answers {
		out = append(out, e.incoming(d, ep, coordEp, cluster, a))
	}
	byCluster := map[uint16][]uint16{}
	var order []uint16
	for _, k := range changed {
		if !d.reporting[k] {
			continue
		}
		if _, seen := byCluster[k.cluster]; !seen {
			order = append(order, k.cluster)
		}
		byCluster[k.cluster] = append(byCluster[k.cluster], k.attr)
	}
	for _, c := range order {
		out = append(out, e.incoming(d, ep, 1, c, d.report(ep, c, byCluster[c])))
	}
	return out
}

// deliverGroup runs a group-addressed ZCL frame on every member endpoint of
// the group. Members do not answer a group frame; they report what it
// changed.
func (e *Emulator) deliverGroup(group uint16, srcEp byte, cluster uint16, data []byte) []frame {
	var out []frame
	e.nv.eachMember(func(ieee uint64, _ uint16) bool {
		if d := e.devices[ieee]; d != nil {
			for _, id := range d.epOrder {
				if d.eps[id].groups[group] {
					out = append(out, e.deliver(d, id, srcEp, cluster, data, false)...)
				}
			}
		}
		return true
	})
	return out
}

// incoming is AF.incomingMsg: a ZCL frame from a device to the coordinator.
func (e *Emulator) incoming(d *device, srcEp, dstEp byte, cluster uint16, zcl []byte) frame {
	ts := uint32(time.Now().UnixMilli())
	nwk, _ := e.nv.nwkOf(d.ieee)
	data := buf{}.u16(0).u16(cluster).u16(nwk).u8(srcEp).u8(dstEp).u8(0).u8(150).u8(0).u32(ts).u8(0).u8(byte(len(zcl))).bytes(zcl)
	return areq(subAF, 0x81, data)
}

func (e *Emulator) zdo(f frame, r *reader) []frame {
	ok := []frame{srsp(subZDO, f.cmd, []byte{0})}
	switch f.cmd {
	case 0x02, 0x05, 0x04: // nodeDescReq, activeEpReq, simpleDescReq
		dst := r.u16()
		r.u16()
		if dst == 0 {
			return append(ok, e.coordinatorDescriptor(f.cmd, r)...)
		}
		d := e.member(dst)
		if d == nil {
			return ok // nobody answers
		}
		switch f.cmd {
		case 0x02:
			return append(ok, areq(subZDO, 0x82, buf{}.u16(dst).u8(0).u16(dst).bytes(d.nodeDescriptor())))
		case 0x05:
			return append(ok, areq(subZDO, 0x85, buf{}.u16(dst).u8(0).u16(dst).u8(byte(len(d.epOrder))).bytes(d.epOrder)))
		default:
			ep := r.u8()
			if d.eps[ep] == nil {
				return append(ok, areq(subZDO, 0x84, buf{}.u16(dst).u8(zdoInvalidEP).u16(dst).u8(0)))
			}
			sd := d.eps[ep].simpleDescriptor()
			return append(ok, areq(subZDO, 0x84, buf{}.u16(dst).u8(0).u16(dst).u8(byte(len(sd))).bytes(sd)))
		}
	case 0x21, 0x22: // bindReq, unbindReq
		dst := r.u16()
		if e.member(dst) == nil {
			return ok
		}
		return append(ok, areq(subZDO, f.cmd+0x80, buf{}.u16(dst).u8(0)))
	case 0x36: // mgmtPermitJoinReq
		r.u8()
		r.u16()
		secs := r.u8()
		e.permitUntil = time.Now().Add(time.Duration(secs) * time.Second)
		e.logf("permit join: %d s", secs)
		return append(ok, areq(subZDO, 0xB6, buf{}.u16(0).u8(0)), areq(subZDO, 0xCB, []byte{secs}))
	case 0x00, 0x01: // nwkAddrReq, ieeeAddrReq
		var d *device
		if f.cmd == 0x00 {
			d = e.joined(r.u64())
		} else {
			d = e.member(r.u16())
		}
		if d == nil {
			return ok
		}
		nwk, _ := e.nv.nwkOf(d.ieee)
		return append(ok, areq(subZDO, f.cmd+0x80, buf{}.u8(0).u64(d.ieee).u16(nwk).u8(0).u8(0)))
	case 0x34: // mgmtLeaveReq
		dst := r.u16()
		d := e.member(dst)
		if d == nil {
			return ok
		}
		out := append(ok, areq(subZDO, 0xB4, buf{}.u16(dst).u8(0)))
		return append(out, e.leave(d)...)
	case 0x31, 0x32: // mgmtLqiReq, mgmtRtgReq: empty tables
		dst := r.u16()
		return append(ok, areq(subZDO, f.cmd+0x80, buf{}.u16(dst).u8(0).u8(0).u8(0).u8(0)))
	case 0x40: // startupFromApp
		_, _, _, formed := e.nv.network()
		if !formed {
			return []frame{srsp(subZDO, f.cmd, []byte{1})}
		}
		e.state = stateCoordStarted
		return append(ok, areq(subZDO, 0xC0, []byte{stateCoordStart}), areq(subZDO, 0xC0, []byte{stateCoordStarted}))
	case 0x50: // extNwkInfo
		pan, epid, ch, _ := e.nv.network()
		if epid == nil {
			epid = make([]byte, 8)
		}
		return []frame{srsp(subZDO, f.cmd, buf{}.u16(0).u8(e.state).u16(pan).u16(0).bytes(epid).bytes(make([]byte, 8)).u8(ch))}
	case 0x4A: // extFindGroup
		ep, group := r.u8(), r.u16()
		_ = ep
		if !e.groups[group] {
			return []frame{srsp(subZDO, f.cmd, buf{}.u8(1).u16(group).u8(0))}
		}
		return []frame{srsp(subZDO, f.cmd, buf{}.u8(0).u16(group).u8(0))}
	case 0x4B: // extAddGroup
		r.u8()
		e.groups[r.u16()] = true
		return ok
	}
	return ok
}

// coordinatorDescriptor answers ZDO requests about the coordinator itself
// from its registered endpoints.
func (e *Emulator) coordinatorDescriptor(cmd byte, r *reader) []frame {
	switch cmd {
	case 0x02:
		return []frame{areq(subZDO, 0x82, buf{}.u16(0).u8(0).u16(0).u8(0).u8(0x40).u8(0x8F).u16(0).u8(0x50).u16(0xA0).u16(0x2C41).u16(0xA0).u8(0))}
	case 0x05:
		eps := slices.Sorted(maps.Keys(e.endpoints))
		return []frame{areq(subZDO, 0x85, buf{}.u16(0).u8(0).u16(0).u8(byte(len(eps))).bytes(eps))}
	}
	ep := r.u8()
	sd, ok := e.endpoints[ep]
	if !ok {
		return []frame{areq(subZDO, 0x84, buf{}.u16(0).u8(zdoInvalidEP).u16(0).u8(0))}
	}
	return []frame{areq(subZDO, 0x84, buf{}.u16(0).u8(0).u16(0).u8(byte(len(sd))).bytes(sd))}
}

// leave removes a device from the network and tells zigbee-herdsman.
func (e *Emulator) leave(d *device) []frame {
	nwk, _ := e.nv.nwkOf(d.ieee)
	e.nv.removeMember(d.ieee)
	if err := e.nv.flush(); err != nil {
		e.logf("%v", err)
	}
	e.logf("%s left", d.desc.IEEE)
	return []frame{areq(subZDO, 0xC9, buf{}.u16(nwk).u64(d.ieee).u8(0).u8(0).u8(0))}
}

// Join makes a described device join the network, which must permit
// joining: zigbee-herdsman then interviews and configures it.
func (e *Emulator) Join(ieee uint64) error {
	e.mu.Lock()
	d := e.devices[ieee]
	switch {
	case d == nil:
		e.mu.Unlock()
		return fmt.Errorf("join 0x%016x: %w", ieee, errNoDevice)
	case e.state != stateCoordStarted:
		e.mu.Unlock()
		return fmt.Errorf("join %s: the network is not up", d.desc.IEEE)
	case time.Now().After(e.permitUntil):
		e.mu.Unlock()
		return fmt.Errorf("join %s: the network does not permit joining", d.desc.IEEE)
	}
	nwk, rejoin := e.nv.nwkOf(ieee)
	if !rejoin {
		nwk = e.nv.nextNWK()
		e.nv.addMember(ieee, nwk)
		if err := e.nv.flush(); err != nil {
			e.logf("%v", err)
		}
	}
	e.mu.Unlock()
	e.logf("%s (%s) joins as 0x%04x", d.desc.IEEE, d.desc.Model, nwk)
	e.send(areq(subZDO, 0xCA, buf{}.u16(nwk).u64(ieee).u16(0)),
		areq(subZDO, 0xC1, buf{}.u16(nwk).u16(nwk).u64(ieee).u8(d.macCapabilities())))
	return nil
}

// Leave makes a joined device leave the network.
func (e *Emulator) Leave(ieee uint64) error {
	e.mu.Lock()
	d := e.joined(ieee)
	if d == nil {
		e.mu.Unlock()
		return fmt.Errorf("leave 0x%016x: %w", ieee, errNoDevice)
	}
	out := e.leave(d)
	e.mu.Unlock()
	e.send(out...)
	return nil
}

// SetAttribute changes an attribute of a joined device, which announces the
// change as a real one does: with an attribute report, or with a Zone Status
// Change Notification for an IAS zone's status (0x0500/0x0002).
func (e *Emulator) SetAttribute(ieee uint64, ep byte, cluster, attr uint16, value any) error {
	return e.sendFrom(ieee, ep, cluster, "set", func(d *device) ([]byte, error) {
		a, ok := d.attr(ep, cluster, attr)
		if !ok {
			return nil, invalidf("endpoint %d has no attribute 0x%04x in cluster 0x%04x", ep, attr, cluster)
		}
		value := numberValue(value)
		if err := checkValue(a.typ, value); err != nil {
			return nil, invalidf("attribute 0x%04x of cluster 0x%04x: %v", attr, cluster, err)
		}
		a.value = value
		return d.changed(ep, cluster, attr), nil
	})
}

// Command makes a joined device send a cluster command to the
// coordinator, as a remote does when a button is pressed: cmd and payload
// are the command id and its ZCL payload.
func (e *Emulator) Command(ieee uint64, ep byte, cluster uint16, cmd byte, payload []byte) error {
	return e.sendFrom(ieee, ep, cluster, "command", func(d *device) ([]byte, error) {
		if d.eps[ep] == nil {
			return nil, invalidf("no endpoint %d", ep)
		}
		return buf{}.u8(0x11).u8(d.nextTSN()).u8(cmd).bytes(payload), nil // cluster-specific, client to server, no default response
	})
}

// sendFrom sends the ZCL frame build makes on a joined device, from its
// endpoint ep to the coordinator. op names the request in errors.
func (e *Emulator) sendFrom(ieee uint64, ep byte, cluster uint16, op string, build func(*device) ([]byte, error)) error {
	e.mu.Lock()
	d := e.joined(ieee)
	if d == nil {
		e.mu.Unlock()
		return fmt.Errorf("%s 0x%016x: %w", op, ieee, errNoDevice)
	}
	zcl, err := build(d)
	if err != nil {
		e.mu.Unlock()
		return fmt.Errorf("%s %s: %w", op, d.desc.IEEE, err)
	}
	f := e.incoming(d, ep, 1, cluster, zcl)
	e.mu.Unlock()
	e.send(f)
	return nil
}

// Fault injects a failure into the next count frames to a device: "confirm"
// fails their data confirm (MAC_NO_ACK), "silent" leaves them unanswered,
// "status" answers cluster commands with the ZCL status code.
func (e *Emulator) Fault(ieee uint64, kind string, count int, code byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devices[ieee]
	if d == nil {
		return fmt.Errorf("fault 0x%016x: %w", ieee, errNoDevice)
	}
	switch kind {
	case "confirm":
		d.faults.confirm = count
	case "silent":
		d.faults.silent = count
	case "status":
		d.faults.status, d.faults.code = count, code
	default:
		return invalidf("fault %q is not one of confirm, silent, status", kind)
	}
	return nil
}

// Attribute reads an attribute of a device, as the device holds it now.
func (e *Emulator) Attribute(ieee uint64, ep byte, cluster, attr uint16) (any, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devices[ieee]
	if d == nil {
		return nil, false
	}
	a, ok := d.attr(ep, cluster, attr)
	if !ok {
		return nil, false
	}
	return a.value, true
}

// Reporting reports whether Zigbee2MQTT configured a report of the
// attribute on the device.
func (e *Emulator) Reporting(ieee uint64, ep byte, cluster, attr uint16) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.devices[ieee]
	return d != nil && d.reporting[attrKey{ep, cluster, attr}]
}
