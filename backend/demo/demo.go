/*
 * Package demo is a backend for trying the balancer without Binder: it
 * speaks the backend side of the protocol (backend/frame.go) on an AF_UNIX socket
 * and answers DNS itself, so that `bbal --demo` and dig make a complete
 * system on a laptop.
 *
 * Answers:
 *
 *	whoami. TXT     "backend=ID client=IP:PORT", naming this backend and
 *	                the client address and port the balancer handed over
 *	anything else   REFUSED
 *
 * Control sessions get SERVER_HELLO for CLIENT_HELLO, SERVER_HEARTBEAT for
 * each CLIENT_HEARTBEAT and OUTBOUND_UDP for each INBOUND_UDP; a session
 * whose first frame is INBOUND_TCP gets INBOUND_TCP_OK and then carries DNS
 * over TCP (two-byte length prefixes). This is ordinary goroutine-per-
 * connection Go: the demo is not the balancer and does not live on its loop.
 *
 * DNS is parsed and built with golang.org/x/net/dns/dnsmessage, so that the
 * balancer binary, which links the demo for --demo, carries no full DNS
 * library (miekg/dns stays a test-only client).
 */
package demo

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/internal/ipv4"
)

// Server is one demo backend.
type Server struct {
	id string
	ln net.Listener
	wg sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]bool
	closed bool
}

// Listen creates the socket at path (replacing a stale one) for a backend
// that calls itself id.
func Listen(path, id string) (*Server, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("demo backend %s: %w", id, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("demo backend %s: %w", id, err)
	}
	s := &Server{id: id, ln: ln, conns: make(map[net.Conn]bool)}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Close stops accepting, ends every session and removes the socket.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed { // accepted just as Close walked the map
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.session(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// session serves one balancer connection until it ends or misbehaves.
func (s *Server) session(c net.Conn) {
	r := bufio.NewReaderSize(c, 2*backend.MaxFrameLength)
	var buf []byte
	chunk := make([]byte, backend.MaxFrameLength)
	for {
		n, err := r.Read(chunk)
		if err != nil {
			return
		}
		buf = append(buf, chunk[:n]...)
		for {
			f, used, err := backend.ParseClientFrame(buf)
			if err != nil || used == 0 {
				if err != nil {
					return
				}
				break
			}
			rest := buf[used:]
			var out []byte
			switch f.Type {
			case backend.FrameClientHello:
				out = backend.AppendServerHello(nil)
			case backend.FrameClientHeartbeat:
				out = backend.AppendServerHeartbeat(nil)
			case backend.FrameInboundUDP:
				if answer := s.answer(f.Data, f.Addr, f.Port); answer != nil {
					out = backend.AppendOutboundUDP(nil, f.Addr, f.Port, answer)
				}
			case backend.FrameInboundTCP:
				if _, err := c.Write(backend.AppendInboundTCPOK(nil)); err != nil {
					return
				}
				s.serveTCP(io.MultiReader(bytesReader(rest), r), c, f.Addr, f.Port)
				return
			}
			if out != nil {
				if _, err := c.Write(out); err != nil {
					return
				}
			}
			buf = append(buf[:0], rest...)
		}
	}
}

func bytesReader(b []byte) io.Reader {
	cp := append([]byte(nil), b...)
	return &sliceReader{b: cp}
}

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// serveTCP answers length-prefixed DNS messages until the client is done.
func (s *Server) serveTCP(r io.Reader, w io.Writer, addr uint32, port uint16) {
	for {
		var lenbuf [2]byte
		if _, err := io.ReadFull(r, lenbuf[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(lenbuf[:]))
		if _, err := io.ReadFull(r, msg); err != nil {
			return
		}
		answer := s.answer(msg, addr, port)
		if answer == nil {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(answer)))
		if _, err := w.Write(append(out, answer...)); err != nil {
			return
		}
	}
}

// answer builds the reply to one query; nil if it is not a DNS query. The
// header is made as a DNS server makes a reply: ID, opcode and, for a
// standard query, the RD and CD bits copied; QR and AA set; the question
// echoed.
func (s *Server) answer(query []byte, addr uint32, port uint16) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	questions, err := p.AllQuestions()
	if err != nil || len(questions) != 1 {
		return nil
	}
	q := questions[0]
	whoami := strings.EqualFold(q.Name.String(), "whoami.") &&
		(q.Type == dnsmessage.TypeTXT || q.Type == dnsmessage.TypeALL)
	reply := dnsmessage.Header{ID: h.ID, Response: true, OpCode: h.OpCode, Authoritative: true}
	if h.OpCode == 0 { // QUERY
		reply.RecursionDesired, reply.CheckingDisabled = h.RecursionDesired, h.CheckingDisabled
	}
	if !whoami {
		reply.RCode = dnsmessage.RCodeRefused
	}
	b := dnsmessage.NewBuilder(make([]byte, 0, 512), reply)
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil
	}
	if err := b.Question(q); err != nil {
		return nil
	}
	if whoami {
		client := netip.AddrPortFrom(netip.AddrFrom4(ipv4.Bytes(addr)), port)
		if err := b.StartAnswers(); err != nil {
			return nil
		}
		hdr := dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeTXT, Class: dnsmessage.ClassINET}
		txt := dnsmessage.TXTResource{TXT: []string{fmt.Sprintf("backend=%s client=%s", s.id, client)}}
		if err := b.TXTResource(hdr, txt); err != nil {
			return nil
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}
