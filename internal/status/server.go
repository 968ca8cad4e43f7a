package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Server answers the control socket's HTTP API over a Source.
type Server struct {
	src Source
	log *slog.Logger
	now func() time.Time
}

// New returns a server over src; nothing listens until Run.
func New(src Source, log *slog.Logger) *Server {
	return &Server{src: src, log: log, now: time.Now}
}

// Report takes a report from the source.
func (s *Server) Report() Report {
	r := Report{Time: s.now(), Instances: s.src.Instances()}
	if r.Instances == nil {
		r.Instances = []InstanceStatus{}
	}
	if rs, ok := s.src.(RealServerSource); ok {
		r.RealServers = rs.RealServers()
	}
	return r
}

// Explain explains the named instance; ok is false when there is none.
func (s *Server) Explain(name string) (e Explanation, ok bool) {
	st, ok := find(s.src.Instances(), name)
	if !ok {
		return Explanation{}, false
	}
	var trackers []Tracker
	if x, isX := s.src.(Explainer); isX {
		trackers, _ = x.Trackers(name)
	}
	return Diagnose(st, trackers), true
}

// Handler serves GET /v1/status and GET /v1/explain/{instance}.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Report())
	})
	mux.HandleFunc("GET /v1/explain/{instance}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("instance")
		e, ok := s.Explain(name)
		if !ok {
			writeJSON(w, http.StatusNotFound, apiError{Error: unknownInstance(name, s.src.Instances())})
			return
		}
		writeJSON(w, http.StatusOK, e)
	})
	return mux
}

type apiError struct {
	Error string `json:"error"`
}

func unknownInstance(name string, insts []InstanceStatus) string {
	names := make([]string, 0, len(insts))
	for _, st := range insts {
		names = append(names, st.Name)
	}
	if len(names) == 0 {
		return fmt.Sprintf("no VRRP instance %q: vigil runs no instances", name)
	}
	return fmt.Sprintf("no VRRP instance %q: known instances are %s", name, strings.Join(names, ", "))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// Run listens on the unix socket path (DefaultSocket when empty) and
// serves until ctx is done. It creates the socket's directory, removes a
// stale socket left by a crashed daemon (but refuses to take over one
// another process still answers on, or to delete a file that is not a
// socket), and makes the socket 0600: only root may ask. It returns once
// the server has stopped and the socket is removed.
func (s *Server) Run(ctx context.Context, path string) error {
	if path == "" {
		path = DefaultSocket
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("control socket directory: %w", err)
	}
	if err := removeStale(ctx, path); err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("listen on control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("restrict control socket %s to root: %w", path, err)
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.log.Info("control socket listening", "file", path)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		served <- serveErr
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-served // Serve has returned: no goroutine of ours is left
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("control socket %s: %w", path, serveErr)
	}
	return nil
}

// removeStale deletes a socket nobody answers on. A live socket means
// another daemon runs with the same path.
func removeStale(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control socket %s exists and is not a socket: remove it or choose another path", path)
	}
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var d net.Dialer
	if c, err := d.DialContext(dctx, "unix", path); err == nil {
		c.Close()
		return fmt.Errorf("control socket %s is in use by another process (is another vigil running?)", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale control socket: %w", err)
	}
	return nil
}
