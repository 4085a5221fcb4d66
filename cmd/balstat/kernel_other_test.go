//go:build !(illumos && cgo)

// -k's plain refusal in every build but illumos with cgo.

package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestKernelKstatsNeedIllumosCgo(t *testing.T) {
	_, err := kernelKstats()
	if err == nil || !strings.Contains(err.Error(), "needs balstat built for illumos with cgo") {
		t.Errorf("kernelKstats: %v", err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-c", "/nonexistent/control", "-k"}, &out, &errb); code != 1 {
		t.Errorf("balstat -k without a balancer: exit %d, want 1", code)
	}
}
