package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/pkg/jsonmessage"
)

// decodeMessages reads the engine's JSON message stream and hands each
// message to fn until the stream ends, fn fails or ctx is done.
func decodeMessages(ctx context.Context, r io.Reader, fn func(*jsonmessage.JSONMessage) error) error {
	dec := json.NewDecoder(r)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if ctxErr := ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return fmt.Errorf("read engine stream: %w", err)
		}
		if err := fn(&m); err != nil {
			return err
		}
	}
}

// messageError is the error a message carries, or "".
func messageError(m *jsonmessage.JSONMessage) string {
	if m.Error != nil && m.Error.Message != "" {
		return m.Error.Message
	}
	return m.ErrorMessage // older engines fill only this field
}

// lineSplitter turns "stream" text chunks into whole lines.
type lineSplitter struct {
	partial strings.Builder
	emit    func(string)
}

func (s *lineSplitter) write(chunk string) {
	for {
		i := strings.IndexByte(chunk, '\n')
		if i < 0 {
			s.partial.WriteString(chunk)
			return
		}
		s.partial.WriteString(chunk[:i])
		s.flush()
		chunk = chunk[i+1:]
	}
}

// flush emits a pending partial line.
func (s *lineSplitter) flush() {
	line := strings.TrimRight(s.partial.String(), "\r")
	s.partial.Reset()
	// A carriage return redraws the line in a terminal: keep the last state.
	if i := strings.LastIndexByte(line, '\r'); i >= 0 {
		line = line[i+1:]
	}
	if strings.TrimSpace(line) != "" {
		s.emit(line)
	}
}

// statusLogger logs status messages once per change, not on every progress tick.
type statusLogger struct {
	last map[string]string // message ID -> last status logged
	log  func(string)
}

func newStatusLogger(log func(string)) *statusLogger {
	return &statusLogger{last: map[string]string{}, log: log}
}

func (l *statusLogger) status(m *jsonmessage.JSONMessage) {
	if m.Status == "" {
		return
	}
	if m.ID == "" {
		l.log(m.Status)
		return
	}
	if l.last[m.ID] == m.Status {
		return
	}
	l.last[m.ID] = m.Status
	l.log(m.ID + ": " + m.Status)
}
