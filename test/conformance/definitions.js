#!/usr/bin/env node
'use strict';
/*
 * Writes every device definition of the installed zigbee-herdsman-converters
 * as JSON: the exposes Zigbee2MQTT would publish in bridge/devices for it.
 *
 *   node test/conformance/definitions.js [Z2M_DIR] > defs.json
 *
 * Z2M_DIR defaults to .cache/z2m (where test/deps.sh installs the pinned
 * Zigbee2MQTT). Definitions whose exposes depend on the device are asked
 * the way zigbee-herdsman-converters asks itself: with a dummy device.
 * Distinct exposes lists are written once and referenced by index.
 */
const fs = require('node:fs');
const path = require('node:path');

const dir = path.resolve(process.argv[2] || path.join(__dirname, '..', '..', '.cache', 'z2m'));
const zhcDir = path.join(dir, 'node_modules', 'zigbee-herdsman-converters');
if (!fs.existsSync(path.join(zhcDir, 'package.json'))) {
    console.error(`zigbee-herdsman-converters not found under ${dir}; run test/deps.sh first`);
    process.exit(2);
}
const zhc = require(zhcDir);
const version = require(path.join(zhcDir, 'package.json')).version;
const devicesDir = path.join(zhcDir, 'dist', 'devices');

const out = {zhc_version: version, definitions: [], exposes: []};
const index = new Map();
let failed = 0;
for (const file of fs.readdirSync(devicesDir).filter((f) => f.endsWith('.js')).sort()) {
    const {definitions} = require(path.join(devicesDir, file));
    if (!Array.isArray(definitions)) continue;
    for (const raw of definitions) {
        let def;
        let exposes;
        try {
            def = zhc.prepareDefinition(raw);
            exposes = typeof def.exposes === 'function' ? def.exposes({isDummyDevice: true}, {}) : def.exposes;
        } catch (err) {
            failed++;
            console.error(`${file}: ${raw.model}: ${err.message}`);
            continue;
        }
        const json = JSON.stringify(exposes);
        let i = index.get(json);
        if (i === undefined) {
            i = out.exposes.length;
            index.set(json, i);
            out.exposes.push(JSON.parse(json));
        }
        out.definitions.push({model: def.model, vendor: def.vendor, exposes: i});
    }
}
process.stdout.write(JSON.stringify(out));
console.error(`zigbee-herdsman-converters ${version}: ${out.definitions.length} definitions, ${out.exposes.length} distinct exposes lists, ${failed} failed`);
