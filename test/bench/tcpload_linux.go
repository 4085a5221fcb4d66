//go:build linux

package bench

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

/*
TCP load: closed loop, since a TCP client waits for its connection anyway.

  - Persistent connections: conns connections, each sending one query and
    waiting for its answer, over and over, for the duration: answered
    queries per second.
  - Connections per second: workers each connect, send one query, read the
    answer and close, over and over: completed connections per second.

Connections come from many 127.0.0.0/8 source addresses (sources, rotated
per connection), so that the balancer sees many clients and the client
side's TIME_WAIT states never exhaust a single address's ports.
*/

// tcpResult is a TCP figure: completed operations and errors.
type tcpResult struct {
	Done, Errors int
	Duration     time.Duration
}

// Rate is completed operations per second.
func (r tcpResult) Rate() float64 { return float64(r.Done) / r.Duration.Seconds() }

// tcpExchange sends the query seq on c and reads one answer.
func tcpExchange(c net.Conn, buf []byte, seq uint32) error {
	n := writeQuery(buf[2:], seq)
	binary.BigEndian.PutUint16(buf, uint16(n))
	if _, err := c.Write(buf[:2+n]); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, buf[:2]); err != nil {
		return err
	}
	m := int(binary.BigEndian.Uint16(buf))
	if m > len(buf) {
		return io.ErrShortBuffer
	}
	_, err := io.ReadFull(c, buf[:m])
	return err
}

func tcpDial(sources [][4]byte, i int, port int) (net.Conn, error) {
	src := sources[i%len(sources)]
	d := net.Dialer{
		Timeout:   2 * time.Second,
		LocalAddr: &net.TCPAddr{IP: net.IP(src[:])},
	}
	return d.Dial("tcp4", "127.0.0.1:"+itoa(port))
}

// tcpPersistent measures queries per second over conns persistent
// connections to 127.0.0.1:port.
func tcpPersistent(port, conns int, d time.Duration, sources [][4]byte) tcpResult {
	var done, errs atomic.Int64
	var wg sync.WaitGroup
	stopAt := time.Now().Add(d)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tcpDial(sources, i, port)
			if err != nil {
				errs.Add(1)
				return
			}
			defer c.Close()
			buf := make([]byte, 4096)
			// At least one query, however long the connect took.
			for seq := uint32(0); seq == 0 || time.Now().Before(stopAt); seq++ {
				_ = c.SetDeadline(time.Now().Add(2 * time.Second))
				if err := tcpExchange(c, buf, seq); err != nil {
					errs.Add(1)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return tcpResult{Done: int(done.Load()), Errors: int(errs.Load()), Duration: d}
}

// tcpConnRate measures connections per second, one query each, with
// workers connecting in parallel.
func tcpConnRate(port, workers int, d time.Duration, sources [][4]byte) tcpResult {
	var done, errs, next atomic.Int64
	var wg sync.WaitGroup
	stopAt := time.Now().Add(d)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for time.Now().Before(stopAt) {
				i := int(next.Add(1))
				c, err := tcpDial(sources, i, port)
				if err != nil {
					errs.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				_ = c.SetDeadline(time.Now().Add(2 * time.Second))
				err = tcpExchange(c, buf, uint32(i))
				c.Close()
				if err != nil {
					errs.Add(1)
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return tcpResult{Done: int(done.Load()), Errors: int(errs.Load()), Duration: d}
}
