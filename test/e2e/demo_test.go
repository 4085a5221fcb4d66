/*
 * End-to-end test of README's first command: bbal --demo with its three
 * in-process demo backends, queried over UDP and TCP, stopped by SIGINT.
 */

package e2e

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// README's first command: bbal --demo answers whoami over UDP and TCP from
// three demo backends, round-robin by client, and SIGTERM (Ctrl-C is
// SIGINT, handled alike) stops it all and removes the temporary directory.
func TestDemoMode(t *testing.T) {
	SkipInShort(t)
	port := FreePort(t)
	cmd := exec.Command(BalancerBinary(t), "--demo", "-p", strconv.Itoa(port))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	established := 0
	var socketDir string
	var lines []string
	sc := bufio.NewScanner(stdout)
	for established < 3 && sc.Scan() {
		lines = append(lines, sc.Text())
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line not JSON: %s", sc.Text())
		}
		if rec["msg"] == "backend socket established" {
			established++
		}
		if d, ok := rec["socket_dir"].(string); ok && d != "" {
			socketDir = d
		}
	}
	if established < 3 {
		t.Fatalf("demo backends not established; log:\n%s", strings.Join(lines, "\n"))
	}
	go func() {
		for sc.Scan() {
		}
	}()

	server := "127.0.0.1:" + strconv.Itoa(port)
	seen := map[string]bool{}
	for i, network := range []string{"udp", "tcp", "udp"} {
		q := new(dns.Msg)
		q.SetQuestion("whoami.", dns.TypeTXT)
		c := &dns.Client{Net: network, Timeout: 5 * time.Second}
		c.Dialer = localDialer(t, network, "127.0.0."+strconv.Itoa(20+i))
		m, _, err := c.Exchange(q, server)
		if err != nil {
			t.Fatalf("%s query: %v", network, err)
		}
		if len(m.Answer) != 1 {
			t.Fatalf("%s answer: %v", network, m)
		}
		txt := strings.Join(m.Answer[0].(*dns.TXT).Txt, "")
		if !strings.Contains(txt, "client=127.0.0."+strconv.Itoa(20+i)+":") {
			t.Errorf("%s: TXT %q does not name the client", network, txt)
		}
		seen[strings.Fields(txt)[0]] = true
	}
	if len(seen) != 3 {
		t.Errorf("three clients reached %d backends (%v), want 3 (round-robin)", len(seen), seen)
	}

	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("bbal --demo after SIGINT: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bbal --demo did not exit after SIGINT")
	}
	if socketDir == "" {
		t.Fatal("demo socket directory not logged")
	}
	if _, err := os.Stat(socketDir); !os.IsNotExist(err) {
		t.Errorf("demo socket directory %s left behind (%v)", socketDir, err)
	}
}

// localDialer makes a dialer whose connections come from ip.
func localDialer(t *testing.T, network, ip string) *net.Dialer {
	t.Helper()
	if network == "tcp" {
		return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	}
	return &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(ip)}}
}
