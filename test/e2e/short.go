package e2e

import "testing"

// SkipInShort skips t under go test -short, saying so: end-to-end tests
// start real peers (node-mname, the balancer binary) and wait on real
// time. The quick run (go test -short ./...) leaves them to make test and
// CI, which never pass -short.
func SkipInShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped under -short (make test runs it)")
	}
}
