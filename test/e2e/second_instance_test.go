/*
A second balancer started on the port of a running one (a mistake, or SMF
and a hand-started copy) must fail before it takes any of the first one's
traffic: bbal sets up its TCP listener first, which Linux and illumos refuse
on a port in use, SO_REUSEADDR or not, and only then the UDP socket, which
with SO_REUSEADDR Linux would let it share. The second must exit 1 with the
reason on stderr, never having listened for UDP, while the first answers
every query sent before, during and after.
*/
package e2e

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSecondInstanceFailsBeforeTakingTraffic(t *testing.T) {
	SkipInShort(t)
	c := startUDPCluster(t, "5301")
	client := c.client("127.0.0.2")
	client.mustWhoami("5301")

	// Queries all along, from another client, each of which must be
	// answered by the first balancer's backend.
	var asked, answered atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	steady := c.client("127.0.0.3")
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			asked.Add(1)
			if id, err := steady.whoami(udpAnswerTimeout); err == nil && id == "5301" {
				answered.Add(1)
			}
		}
	}()

	cmd := exec.Command(BalancerBinary(t), "-b", "127.0.0.1", "-p", strconv.Itoa(c.bal.Port), "-s", c.dir,
		"-c", filepath.Join(t.TempDir(), "control"), "-l", "debug")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	time.Sleep(200 * time.Millisecond) // queries after it has gone too
	close(stop)
	<-done

	if code := cmd.ProcessState.ExitCode(); err == nil || code != 1 {
		t.Errorf("the second balancer: %v, exit %d; want exit 1", err, code)
	}
	want := "bbal: failed to create TCP listen socket 127.0.0.1:" + strconv.Itoa(c.bal.Port) + ": "
	if !strings.HasPrefix(stderr.String(), want) || strings.Count(stderr.String(), "\n") != 1 ||
		!strings.Contains(stderr.String(), "address already in use") {
		t.Errorf("the second balancer's stderr %q, want one line starting %q", stderr.String(), want)
	}
	if strings.Contains(stdout.String(), "listening for UDP packets") || strings.Contains(stdout.String(), "opening UDP listen socket") {
		t.Errorf("the second balancer set up a UDP socket on the busy port:\n%s", stdout.String())
	}
	if asked.Load() < 5 || answered.Load() != asked.Load() {
		t.Errorf("the first balancer answered %d of %d queries sent while the second started", answered.Load(), asked.Load())
	}
	client.mustWhoami("5301")
}
