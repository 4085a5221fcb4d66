#!/usr/bin/env node
/*
 * A real node-mname (npm mname@1.5.1) DNS server that listens only on a
 * balancer socket, for the end-to-end tests of mname-balancer.
 *
 *   node test/peers/mname-backend.js --socket PATH --id NAME
 *       [--big-records N] [--exit-with-stdin]
 *
 * node-mname speaks the backend protocol itself (Server.listenBalancer):
 * it answers CLIENT_HELLO and CLIENT_HEARTBEAT, unwraps INBOUND_UDP and
 * wraps its answers as OUTBOUND_UDP, and turns a connection that starts
 * with INBOUND_TCP into a DNS-over-TCP stream after INBOUND_TCP_OK. This
 * script only adds a tiny zone, "example.":
 *
 *   whoami.example. TXT  one string "id=NAME client=IP:PORT", the client
 *                        address the balancer reported (UDP and TCP);
 *   big.example.    A    N distinct addresses in 198.18.0.0/15 (default
 *                        2000, about 32 KiB: over TCP the answer is well
 *                        above 16 KiB; over UDP mname truncates it, TC set);
 *   *.example.      A    192.0.2.1 (so load tests always get an answer);
 *   *.example.      any other type: NOERROR with no answer;
 *   anything else        REFUSED (not our zone).
 *
 * SIGUSR2 mutes the DNS handler, and the next SIGUSR2 unmutes it: while
 * muted, queries get no answer at all, while node-mname's frame parser
 * still answers the balancer's heartbeats (a backend alive but no longer
 * answering DNS, issue 20). Each toggle is logged at warn.
 *
 * Life cycle: the socket is bound under a temporary name and renamed over
 * PATH (replacing a stale file atomically); once listening, the
 * line "ready" is printed on stdout (the harness waits for it). SIGTERM (and
 * SIGINT) closes the server, destroys open balancer connections, unlinks the
 * socket and exits 0. With --exit-with-stdin the process also exits when its
 * stdin reaches end-of-file, so a test binary that dies does not leave it
 * behind. Logs are bunyan JSON on stderr at level warn.
 *
 * require('mname') resolves to test/node_modules through normal node
 * resolution from this file's directory; run `cd test && npm ci` first.
 */

'use strict';

var fs = require('fs');
var path = require('path');

var bunyan = require('bunyan');
var mname = require('mname');

var USAGE = 'usage: node mname-backend.js --socket PATH --id NAME ' +
    '[--big-records N] [--exit-with-stdin]';
var MAX_BIG_RECORDS = 4000; /* 16 bytes each must fit in 64 KiB */

function usage(msg) {
        process.stderr.write('mname-backend: ' + msg + '\n' + USAGE + '\n');
        process.exit(2);
}

function parseArgs(argv) {
        var opts = { socket: null, id: null, bigRecords: 2000,
            exitWithStdin: false };
        for (var i = 0; i < argv.length; i++) {
                var flag = argv[i];
                if (flag === '--exit-with-stdin') {
                        opts.exitWithStdin = true;
                        continue;
                }
                if (i + 1 >= argv.length)
                        usage('missing value for ' + flag);
                var val = argv[++i];
                switch (flag) {
                case '--socket':
                        opts.socket = val;
                        break;
                case '--id':
                        opts.id = val;
                        break;
                case '--big-records':
                        if (!/^[0-9]+$/.test(val) || +val < 1 ||
                            +val > MAX_BIG_RECORDS) {
                                usage('--big-records wants 1 to ' +
                                    MAX_BIG_RECORDS);
                        }
                        opts.bigRecords = +val;
                        break;
                default:
                        usage('unknown argument ' + flag);
                }
        }
        if (opts.socket === null)
                usage('--socket is required');
        if (opts.id === null)
                usage('--id is required');
        return (opts);
}

/* The i-th address of big.example, 198.18.0.0 + i (distinct up to 2^17). */
function bigAddress(i) {
        return ('198.' + (18 + (i >> 16)) + '.' + ((i >> 8) & 0xff) + '.' +
            (i & 0xff));
}

function unlinkQuietly(path) {
        try {
                fs.unlinkSync(path);
        } catch (err) {
                if (err.code !== 'ENOENT')
                        throw (err);
        }
}

function main() {
        var opts = parseArgs(process.argv.slice(2));
        var log = bunyan.createLogger({
                name: 'mname-backend',
                id: opts.id,
                level: 'warn',
                stream: process.stderr
        });
        var server = mname.createServer({ log: log });
        var conns = [];
        var stopping = false;
        var muted = false;

        process.on('SIGUSR2', function () {
                muted = !muted;
                log.warn({ muted: muted }, 'DNS handler muted toggled');
        });

        server.on('query', function (query, done) {
                if (muted)
                        return;

                var name = query.name().toLowerCase().replace(/\.$/, '');
                var type = query.type();
                var i;

                if (name !== 'example' && !/\.example$/.test(name)) {
                        query.setError('refused');
                } else if (name === 'whoami.example' && type === 'TXT') {
                        query.addAnswer(query.name(), new mname.TXTRecord(
                            'id=' + opts.id + ' client=' + query.src.address +
                            ':' + query.src.port), 1);
                } else if (name === 'big.example' && type === 'A') {
                        for (i = 0; i < opts.bigRecords; i++) {
                                query.addAnswer(query.name(),
                                    new mname.ARecord(bigAddress(i)), 60);
                        }
                } else if (type === 'A') {
                        query.addAnswer(query.name(),
                            new mname.ARecord('192.0.2.1'), 60);
                } else {
                        query.setError('noerror');
                }
                query.setFlag('aa');
                query.respond();
                done();
        });

        server.on('error', function (err) {
                log.fatal(err, 'server error');
                process.exit(1);
        });

        function stop(signal) {
                if (stopping)
                        return;
                stopping = true;
                log.debug({ signal: signal }, 'stopping');
                server.close(function () {
                        unlinkQuietly(opts.socket);
                        process.exit(0);
                });
                /*
                 * net.Server only reports "close" once every accepted
                 * connection has ended; the balancer keeps its sessions
                 * open, so end them here.
                 */
                conns.forEach(function (sock) {
                        sock.destroy();
                });
        }
        process.on('SIGTERM', stop.bind(null, 'SIGTERM'));
        process.on('SIGINT', stop.bind(null, 'SIGINT'));

        if (opts.exitWithStdin) {
                process.stdin.on('end', stop.bind(null, 'stdin closed'));
                process.stdin.on('error', stop.bind(null, 'stdin error'));
                process.stdin.resume();
        }

        /*
         * Bind on a temporary name outside the socket directory (where the
         * balancer would take it for a backend) and rename it into place:
         * the rename replaces a stale file atomically, so a balancer that
         * reconnects during a restart finds either the old file (refused)
         * or the new socket, never no file at all (which the
         * balancer treats as the backend being removed).
         */
        var tmp = path.join(path.dirname(path.dirname(opts.socket)),
            '.' + path.basename(path.dirname(opts.socket)) + '-' +
            path.basename(opts.socket) + '-' + process.pid);
        unlinkQuietly(tmp);
        server.listenBalancer({ path: tmp }, function () {
                fs.renameSync(tmp, opts.socket);
                process.stdout.write('ready\n');
        });

        /*
         * listenBalancer() creates its net.Server synchronously as
         * server._balancer (mname 1.5.1); watch it to find the open
         * connections at shutdown.
         */
        server._balancer.on('connection', function (sock) {
                conns.push(sock);
                sock.on('close', function () {
                        var idx = conns.indexOf(sock);
                        if (idx !== -1)
                                conns.splice(idx, 1);
                });
        });
}

main();
