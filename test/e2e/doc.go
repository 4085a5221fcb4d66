// Package e2e runs the balancer end to end, as SMF and Binder do: the real
// bbal binary (Balancer, balancer.go: built once per test binary, with the
// bbaltest tag for BBAL_TEST_TIME_SCALE, or as make builds it) in front of
// real node-mname 1.5.1 backends and misbehaving peers from test/peers
// (Peer, peers.go). Every line bbal logs is kept, can be waited for, and is
// checked with bunyan --strict when the test ends.
//
// The tests reach the balancer only as its users do: UDP and TCP clients on
// loopback addresses, balstat on the control socket, /metrics, signals.
// Their loads, each for its own kind of test:
//   - udpLoad and tcpClients (load_test.go): a bounded steady load that
//     records every answer, for the handover tests (nothing lost or
//     answered twice, no client moved);
//   - pacedClient (paced_test.go): one client's queries counted per 100 ms
//     window and by the backend that answered, for the degradation tests;
//   - spoofFlood (paced_test.go): one query from each of many new source
//     addresses through IP_PKTINFO, to fill the remote table.
//
// Every test begins with SkipInShort (TestEveryTestSkipsInShort checks
// it): go test -short is the quick run, make test and CI run them all. A
// test that needs root or a free port 53 fails under CI (CI=true) and
// skips elsewhere, saying why. BBAL_E2E_VIEWS=dir keeps what each view
// showed in the causes test; BBAL_E2E_FLOOD="remotes,rate" runs the
// table-full test at the scale.
package e2e
