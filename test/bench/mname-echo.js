#!/usr/bin/env node
/*
 * A real node-mname (npm mname@1.5.1) server for the bench: the same query
 * handler behind the balancer and reached directly, so the two compare the
 * path and not the work.
 *
 *   node test/bench/mname-echo.js --socket PATH    (behind the balancer)
 *   node test/bench/mname-echo.js --udp IP:PORT    (direct, UDP only)
 *
 * Every query gets one A record, 192.0.2.1, for the name asked. Prints
 * "ready" once listening; exits when stdin closes or on SIGTERM. require()
 * finds mname in test/node_modules (cd test && npm ci).
 */

'use strict';

var path = require('path');
var mname = require(path.join(__dirname, '..', 'node_modules', 'mname'));
var bunyan = require(path.join(__dirname, '..', 'node_modules', 'bunyan'));

var mode = process.argv[2];
var where = process.argv[3];
if ((mode !== '--socket' && mode !== '--udp') || !where) {
        process.stderr.write('usage: mname-echo.js --socket PATH | --udp IP:PORT\n');
        process.exit(2);
}

var log = bunyan.createLogger({ name: 'mname-echo', level: 'error',
    stream: process.stderr });
var server = mname.createServer({ log: log });

server.on('query', function (query, done) {
        query.addAnswer(query.name(), new mname.ARecord('192.0.2.1'), 60);
        query.respond();
        done();
});

function ready() {
        process.stdout.write('ready\n');
}

if (mode === '--socket') {
        server.listenBalancer({ path: where }, ready);
} else {
        var i = where.lastIndexOf(':');
        server.listenUdp({ address: where.slice(0, i),
            port: +where.slice(i + 1), family: 'udp4' }, ready);
}

process.stdin.on('end', function () { process.exit(0); });
process.stdin.resume();
process.on('SIGTERM', function () { process.exit(0); });
