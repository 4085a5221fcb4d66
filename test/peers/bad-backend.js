#!/usr/bin/env node
/*
 * A deliberately misbehaving mname-balancer backend, for fault tests. Plain
 * node `net`, no mname: it speaks just enough of the backend protocol
 * (backend/frame.go) to break it in one chosen way.
 *
 *   node test/peers/bad-backend.js --socket PATH --mode MODE [--victim IP:PORT]
 *       [--exit-with-stdin]
 *
 * Modes:
 *   garbage       answers the first bytes of every connection (the hello)
 *                 with a frame of unknown type 0xDEADBEEF followed by random
 *                 bytes, then ignores the connection;
 *   double-hello  answers CLIENT_HELLO with SERVER_HELLO twice (two writes),
 *                 otherwise behaves (heartbeats are answered);
 *   oversized     a proper hello and heartbeats, then, for the first
 *                 INBOUND_UDP on the connection, an OUTBOUND_UDP header to
 *                 the same client claiming 1501 bytes, and no payload;
 *   no-tcp-ok     a proper hello and heartbeats on a control session, but a
 *                 connection whose first frame is INBOUND_TCP never gets a
 *                 reply (it is kept open and read);
 *   bad-tcp-ok    a proper hello and heartbeats on a control session, but a
 *                 connection whose first frame is INBOUND_TCP is answered
 *                 with SERVER_HEARTBEAT instead of INBOUND_TCP_OK (and is
 *                 kept open and read);
 *   port-zero     a proper hello and heartbeats; each INBOUND_UDP is
 *                 answered (the query with the QR bit set) to the asking
 *                 client's address but port 0, which no socket can send to;
 *   silent        accepts connections and never writes anything;
 *   reflect       a proper hello and heartbeats; each INBOUND_UDP is
 *                 answered twice: first the answer (the query with the QR
 *                 bit set) is sent to --victim, an address that never
 *                 asked, then to the client that did;
 *   unasked-heartbeat  a proper hello, then at once a SERVER_HEARTBEAT the
 *                 balancer never asked for;
 *   bad-type      a proper hello, then at once a frame of type 7;
 *   flap          a proper hello, then at once the end of the connection
 *                 (a backend that flaps: every session dies just after it
 *                 became ok);
 *   no-read       a proper hello, then it stops reading the connection
 *                 for good (a backend that is stuck);
 *   reset         never reads: 50 ms after accepting, the connection is
 *                 destroyed with the CLIENT_HELLO unread (the balancer's
 *                 read fails with ECONNRESET).
 *
 * In every mode INBOUND_UDP frames are otherwise swallowed: this backend
 * answers no DNS. An unparseable frame from the balancer ends the
 * connection. Each event is logged as one plain line on stderr.
 *
 * Life cycle as in mname-backend.js: a stale file at PATH is removed, "ready"
 * is printed on stdout once listening, SIGTERM closes everything, unlinks the
 * socket and exits 0, and --exit-with-stdin exits when stdin closes.
 */

'use strict';

var crypto = require('crypto');
var fs = require('fs');
var net = require('net');

var CLIENT_HELLO = 1;
var INBOUND_UDP = 2;
var INBOUND_TCP = 3;
var CLIENT_HEARTBEAT = 4;
var SERVER_HELLO = 1001;
var OUTBOUND_UDP = 1002;
var SERVER_HEARTBEAT = 1004;
var GARBAGE_TYPE = 0xDEADBEEF;
var OVERSIZED_LENGTH = 1501;

var MODES = [ 'garbage', 'double-hello', 'oversized', 'no-tcp-ok',
    'bad-tcp-ok', 'port-zero', 'silent', 'unasked-heartbeat', 'bad-type',
    'flap', 'no-read', 'reset', 'reflect' ];
var USAGE = 'usage: node bad-backend.js --socket PATH --mode (' +
    MODES.join('|') + ') [--victim IP:PORT] [--exit-with-stdin]';

function usage(msg) {
        process.stderr.write('bad-backend: ' + msg + '\n' + USAGE + '\n');
        process.exit(2);
}

function parseArgs(argv) {
        var opts = { socket: null, mode: null, victim: null,
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
                if (flag === '--socket')
                        opts.socket = val;
                else if (flag === '--mode')
                        opts.mode = val;
                else if (flag === '--victim')
                        opts.victim = parseVictim(val);
                else
                        usage('unknown argument ' + flag);
        }
        if (opts.socket === null)
                usage('--socket is required');
        if (MODES.indexOf(opts.mode) === -1)
                usage('--mode must be one of ' + MODES.join(', '));
        if ((opts.mode === 'reflect') !== (opts.victim !== null))
                usage('--victim goes with --mode reflect, and only with it');
        return (opts);
}

/*
 * "a.b.c.d:port" -> { addr, port } in the frame's form: the address as a
 * number whose most significant byte is the first octet.
 */
function parseVictim(val) {
        var m = /^(\d+)\.(\d+)\.(\d+)\.(\d+):(\d+)$/.exec(val);
        if (m === null)
                usage('--victim wants IP:PORT, not ' + val);
        var addr = ((+m[1] << 24) | (+m[2] << 16) | (+m[3] << 8) | +m[4]) >>> 0;
        return ({ addr: addr, port: +m[5] });
}

function u32s() {
        var buf = Buffer.alloc(4 * arguments.length);
        for (var i = 0; i < arguments.length; i++)
                buf.writeUInt32LE(arguments[i] >>> 0, 4 * i);
        return (buf);
}

/*
 * Parses one balancer-to-backend frame at the front of buf. Returns null
 * when more bytes are needed, { error } for an unknown type, or the frame
 * with its length in bytes.
 */
function parseClientFrame(buf) {
        if (buf.length < 4)
                return (null);
        var type = buf.readUInt32LE(0);
        switch (type) {
        case CLIENT_HELLO:
        case CLIENT_HEARTBEAT:
                return ({ type: type, len: 4 });
        case INBOUND_TCP:
                if (buf.length < 12)
                        return (null);
                return ({ type: type, addr: buf.readUInt32LE(4),
                    port: buf.readUInt32LE(8), len: 12 });
        case INBOUND_UDP:
                if (buf.length < 16)
                        return (null);
                var n = buf.readUInt32LE(12);
                if (buf.length < 16 + n)
                        return (null);
                return ({ type: type, addr: buf.readUInt32LE(4),
                    port: buf.readUInt32LE(8), len: 16 + n,
                    data: buf.slice(16, 16 + n) });
        default:
                return ({ error: 'unknown frame type ' + type });
        }
}

function main() {
        var opts = parseArgs(process.argv.slice(2));
        var conns = [];
        var nextId = 1;
        var stopping = false;

        function say(msg) {
                process.stderr.write('bad-backend[' + opts.mode + ']: ' +
                    msg + '\n');
        }

        function serve(sock) {
                var id = nextId++;
                var acc = Buffer.alloc(0);
                var first = true;
                var tcp = false;
                var sentOversized = false;
                var stuck = false;      /* no-read: reads nothing more */

                function onFrame(f) {
                        var isFirst = first;
                        first = false;
                        say('conn ' + id + ': frame type ' + f.type);
                        if (tcp)
                                return;
                        switch (f.type) {
                        case CLIENT_HELLO:
                                sock.write(u32s(SERVER_HELLO));
                                if (opts.mode === 'unasked-heartbeat')
                                        sock.write(u32s(SERVER_HEARTBEAT));
                                if (opts.mode === 'bad-type')
                                        sock.write(u32s(7));
                                if (opts.mode === 'flap') {
                                        say('conn ' + id + ': flapping');
                                        sock.end();
                                }
                                if (opts.mode === 'no-read') {
                                        say('conn ' + id + ': stops reading');
                                        stuck = true;
                                        sock.pause();
                                        /*
                                         * pause() alone lets node read on
                                         * into its own buffer (up to the
                                         * high-water mark); stop libuv's
                                         * reads so the kernel's socket
                                         * buffer is all that fills.
                                         */
                                        if (sock._handle &&
                                            sock._handle.readStop)
                                                sock._handle.readStop();
                                        return;
                                }
                                if (opts.mode === 'double-hello') {
                                        setImmediate(function () {
                                                say('conn ' + id +
                                                    ': second hello');
                                                sock.write(u32s(SERVER_HELLO));
                                        });
                                }
                                break;
                        case CLIENT_HEARTBEAT:
                                sock.write(u32s(SERVER_HEARTBEAT));
                                break;
                        case INBOUND_TCP:
                                /*
                                 * From here on the connection carries a
                                 * client's raw TCP bytes; a real backend
                                 * would send INBOUND_TCP_OK.
                                 */
                                tcp = true;
                                if (opts.mode === 'no-tcp-ok' && isFirst) {
                                        say('conn ' + id +
                                            ': INBOUND_TCP left unanswered');
                                }
                                if (opts.mode === 'bad-tcp-ok' && isFirst) {
                                        say('conn ' + id + ': INBOUND_TCP ' +
                                            'answered with SERVER_HEARTBEAT');
                                        sock.write(u32s(SERVER_HEARTBEAT));
                                }
                                break;
                        case INBOUND_UDP:
                                if (opts.mode === 'reflect') {
                                        var ans = Buffer.from(f.data);
                                        if (ans.length > 2)
                                                ans[2] |= 0x80;
                                        sock.write(Buffer.concat([ u32s(
                                            OUTBOUND_UDP, opts.victim.addr,
                                            opts.victim.port, ans.length),
                                            ans ]));
                                        sock.write(Buffer.concat([ u32s(
                                            OUTBOUND_UDP, f.addr, f.port,
                                            ans.length), ans ]));
                                        break;
                                }
                                if (opts.mode === 'port-zero') {
                                        var ans0 = Buffer.from(f.data);
                                        if (ans0.length > 2)
                                                ans0[2] |= 0x80;
                                        say('conn ' + id +
                                            ': answer to port 0');
                                        sock.write(Buffer.concat([ u32s(
                                            OUTBOUND_UDP, f.addr, 0,
                                            ans0.length), ans0 ]));
                                        break;
                                }
                                if (opts.mode === 'oversized' &&
                                    !sentOversized) {
                                        sentOversized = true;
                                        say('conn ' + id +
                                            ': oversized OUTBOUND_UDP');
                                        sock.write(u32s(OUTBOUND_UDP, f.addr,
                                            f.port, OVERSIZED_LENGTH));
                                }
                                break;
                        }
                }

                conns.push(sock);
                say('conn ' + id + ': accepted');
                if (opts.mode === 'reset') {
                        sock.pause();
                        setTimeout(function () {
                                say('conn ' + id + ': reset');
                                sock.destroy();
                        }, 50);
                }
                sock.on('close', function () {
                        say('conn ' + id + ': closed');
                        var idx = conns.indexOf(sock);
                        if (idx !== -1)
                                conns.splice(idx, 1);
                });
                sock.on('error', function (err) {
                        say('conn ' + id + ': ' + err.message);
                });
                sock.on('end', function () {
                        sock.end();
                });
                sock.on('data', function (chunk) {
                        if (opts.mode === 'silent' || stuck)
                                return;
                        if (opts.mode === 'garbage') {
                                if (first) {
                                        first = false;
                                        say('conn ' + id + ': sending garbage');
                                        sock.write(Buffer.concat([
                                            u32s(GARBAGE_TYPE),
                                            crypto.randomBytes(60) ]));
                                }
                                return;
                        }
                        if (tcp)
                                return;
                        acc = Buffer.concat([ acc, chunk ]);
                        for (;;) {
                                var f = parseClientFrame(acc);
                                if (f === null)
                                        return;
                                if (f.error) {
                                        say('conn ' + id + ': ' + f.error +
                                            ', closing');
                                        sock.destroy();
                                        return;
                                }
                                acc = acc.slice(f.len);
                                onFrame(f);
                                if (tcp || stuck)
                                        return;
                        }
                });
        }

        var server = net.createServer({ allowHalfOpen: true,
            pauseOnConnect: opts.mode === 'reset' }, serve);

        function stop(why) {
                if (stopping)
                        return;
                stopping = true;
                say('stopping: ' + why);
                server.close(function () {
                        try {
                                fs.unlinkSync(opts.socket);
                        } catch (err) {
                                if (err.code !== 'ENOENT')
                                        say('unlink: ' + err.message);
                        }
                        process.exit(0);
                });
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

        server.on('error', function (err) {
                say('server error: ' + err.message);
                process.exit(1);
        });

        try {
                fs.unlinkSync(opts.socket);
        } catch (err) {
                if (err.code !== 'ENOENT')
                        throw (err);
        }
        server.listen({ path: opts.socket }, function () {
                process.stdout.write('ready\n');
        });
}

main();
