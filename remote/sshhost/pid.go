package sshhost

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
)

// OpenSSH ignores the SSH "signal" request for root logins and without
// privilege separation, and a session without a terminal leaves its
// processes running when closed. So Run has the remote shell report its PID
// (sshd makes it a process group leader) before the command, and on
// cancellation kills that group from a second session.
const pidMarker = "gantry-pid:"

// withPIDReport prefixes the command line with the report of the shell's PID.
func withPIDReport(text string) string {
	return `printf '` + pidMarker + `%d\n' "$$"; ` + text
}

// maxPreamble bounds output held back while looking for the PID line, in
// case a login script prints something first or the shell never reports.
const maxPreamble = 4 << 10

// pidSniffer removes the PID line from the start of stdout and forwards the
// rest.
type pidSniffer struct {
	next io.Writer
	pid  atomic.Int64

	mu   sync.Mutex
	buf  []byte
	done bool
}

func (s *pidSniffer) Write(p []byte) (int, error) {
	n := len(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.done && len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			s.buf = append(s.buf, p...)
			p = nil
			if len(s.buf) > maxPreamble {
				s.flushLocked()
			}
			break
		}
		line := append(s.buf, p[:i+1]...)
		s.buf = nil
		p = p[i+1:]
		if pid, ok := parsePIDLine(line); ok {
			s.pid.Store(pid)
			s.done = true
			break
		}
		s.next.Write(line)
	}
	if len(p) > 0 {
		s.next.Write(p)
	}
	return n, nil
}

// flush passes on output held back when the PID line never came.
func (s *pidSniffer) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flushLocked()
}

func (s *pidSniffer) flushLocked() {
	s.done = true
	if len(s.buf) > 0 {
		s.next.Write(s.buf)
		s.buf = nil
	}
}

func parsePIDLine(line []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(bytes.TrimSuffix(line, []byte{'\n'}), []byte(pidMarker))
	if !ok {
		return 0, false
	}
	pid, err := strconv.ParseInt(string(rest), 10, 64)
	// PID 1 and below would make kill -PID reach far more than the command.
	if err != nil || pid <= 1 {
		return 0, false
	}
	return pid, true
}

// killGroupCmd terminates the process group the remote shell leads, or the
// shell alone if it does not lead one.
func killGroupCmd(pid int64) string {
	return fmt.Sprintf("kill -s TERM -- -%d 2>/dev/null || kill -s TERM %d", pid, pid)
}
