#!/usr/bin/env node
'use strict';
/*
 * Writes device descriptions for the emulated coordinator from the catalog's
 * interview answers (test/catalog/devices.spec.js): endpoints, clusters,
 * Basic attributes and attribute values, with cluster and attribute ids and
 * ZCL types looked up in the installed zigbee-herdsman.
 *
 *   node coordinator/devices/gen.js [Z2M_DIR]      # default .cache/z2m
 *
 * Devices whose state lives only in Tuya data points (cluster 0xEF00) are
 * left out: the emulator does not speak them. Xiaomi and Tuya devices that
 * report through standard clusters are written; their manufacturer-specific
 * extras (the LUMI heartbeat) are not simulated.
 */
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const dir = path.resolve(process.argv[2] || path.join(root, '.cache', 'z2m'));
const {Zcl} = require(path.join(dir, 'node_modules', 'zigbee-herdsman', 'dist', 'index.js'));
const {devices} = require(path.join(root, 'test', 'catalog', 'devices.spec.js'));

const typeNames = {16: 'bool', 24: 'bitmap8', 25: 'bitmap16', 32: 'uint8', 33: 'uint16', 34: 'uint24', 35: 'uint32', 36: 'uint40', 37: 'uint48',
    40: 'int8', 41: 'int16', 43: 'int32', 48: 'enum8', 49: 'enum16', 66: 'string'};
const hex4 = (n) => '0x' + n.toString(16).padStart(4, '0');
// Attributes zigbee-herdsman-converters adds to standard clusters (lib/tuya.js, lib/philips.js).
const convertersAttributes = {
    genOnOff: {tuyaBacklightMode: {ID: 0x8001, type: 48}, moesStartUpOnOff: {ID: 0x8002, type: 48}},
    msOccupancySensing: {motionSensitivity: {ID: 0x0030, type: 32}},
};
// Attributes a definition's configure reads that the catalog's answers leave
// out (the catalog's fake adapter answers every read).
const configureReads = {
    '9290012607': {2: {msOccupancySensing: {motionSensitivity: 2}}},
};
const tuyaDataPoints = (d) => (d.script || []).some(([kind]) => kind === 'tuya');

for (const d of devices) {
    const manuf = d.basic.manufacturerName || '';
    if (tuyaDataPoints(d)) continue;
    const eps = d.endpoints.filter((e) => e.id !== 242);
    const first = eps[0].id;
    const attrs = {[first]: {genBasic: {}}};
    for (const [k, v] of Object.entries(d.basic)) if (v !== null) attrs[first].genBasic[k] = v;
    // Attributes the catalog's script reports exist on the device too.
    for (const [kind, ep, cluster, values] of d.script || []) {
        if (kind !== 'report') continue;
        attrs[ep] = attrs[ep] || {};
        attrs[ep][cluster] = {...values, ...(attrs[ep][cluster] || {})};
    }
    for (const table of [d.attrs, configureReads[d.model]]) {
        for (const [ep, clusters] of Object.entries(table || {})) {
            attrs[ep] = attrs[ep] || {};
            for (const [c, values] of Object.entries(clusters)) attrs[ep][c] = {...(attrs[ep][c] || {}), ...values};
        }
    }
    const out = {
        model: d.model,
        description: `${manuf} ${d.basic.modelId}, from test/catalog/devices.spec.js`,
        ieee: d.ieee,
        type: d.type === 'Router' ? 'router' : 'end_device',
        manufacturer_code: d.manufCode || 0,
        endpoints: eps.map((e) => {
            const table = {};
            for (const [cname, values] of Object.entries(attrs[e.id] || {})) {
                const cluster = Zcl.Utils.getCluster(cname);
                const entry = (table[hex4(cluster.ID)] = {});
                for (const [aname, value] of Object.entries(values)) {
                    // A numeric name is a manufacturer attribute given as {value, type}.
                    const attr = /^\d+$/.test(aname) ? {ID: Number(aname), type: value.type}
                        : cluster.attributes[aname] || convertersAttributes[cname]?.[aname] ||
                          Zcl.Utils.getClusterAttribute(cluster, aname, undefined);
                    const type = typeNames[attr.type];
                    if (!type) throw new Error(`${d.model}: ${cname}.${aname}: ZCL type ${attr.type} is not supported`);
                    entry[hex4(attr.ID)] = [type, /^\d+$/.test(aname) ? value.value : value];
                }
            }
            return {id: e.id, profile: e.profile, device: e.deviceId, in: e.in, out: e.out, attributes: table};
        }),
    };
    const file = path.join(__dirname, `${d.slug.replace(/_/g, '-')}.json`);
    fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
    console.log(`${path.relative(root, file)}: ${d.model}`);
}
