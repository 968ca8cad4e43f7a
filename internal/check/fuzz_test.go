package check

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"
)

// FuzzReadResponse feeds arbitrary server output to the HTTP response
// reader: it must not panic, the header must end with the blank line, and
// the body count must be what follows it.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.0 200 OK\r\n\r\nbody",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nbody",
		"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nx",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.0 200\r\n\r\n",
		"\r\n\r\n",
		"no header end",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		go func() { server.Write(data); server.Close() }()
		resp := &HTTPResponse{ContentLength: -1}
		err := readResponse(client, resp, true, false)
		client.Close()
		if err != nil {
			t.Fatalf("readResponse: %v", err)
		}
		end := bytes.Index(data, []byte("\r\n\r\n"))
		if (end >= 0) != resp.HeaderComplete {
			t.Fatalf("HeaderComplete = %v, header end at %d", resp.HeaderComplete, end)
		}
		if end >= 0 {
			if !bytes.Equal(resp.Header, data[:end+4]) {
				t.Fatalf("Header = %q, want %q", resp.Header, data[:end+4])
			}
			if resp.BodyBytes != int64(len(data)-end-4) {
				t.Fatalf("BodyBytes = %d, want %d", resp.BodyBytes, len(data)-end-4)
			}
			if c := resp.StatusCode; c != 0 && (c < 0 || c > 999) {
				t.Fatalf("StatusCode = %d", c)
			}
		}
	})
}

// FuzzSMTPReply checks the reply reader never panics and only returns a
// code that the input's last line starts with.
func FuzzSMTPReply(f *testing.F) {
	for _, s := range []string{"220 ok\r\n", "250-a\r\n250 b\r\n", "2\r\n", "abc\r\n", "220-x\r\n", "+20 x\r\n", "220"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, err := smtpReply(bufio.NewReader(strings.NewReader(s)))
		if err != nil || code == -1 {
			return
		}
		if code < 0 || code > 999 {
			t.Fatalf("code %d from %q", code, s)
		}
	})
}
