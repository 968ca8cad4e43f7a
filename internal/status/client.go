package status

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
)

// Status asks the daemon on the control socket at path for its report.
func Status(ctx context.Context, path string) (Report, error) {
	var r Report
	err := get(ctx, path, "/v1/status", &r)
	return r, err
}

// Explain asks the daemon why the named instance is in its state.
func Explain(ctx context.Context, path, instance string) (Explanation, error) {
	var e Explanation
	if err := get(ctx, path, "/v1/explain/"+url.PathEscape(instance), &e); err != nil {
		return Explanation{}, err
	}
	st, err := ParseState(e.StateName)
	if err != nil {
		return Explanation{}, fmt.Errorf("explain %s: %w", instance, err)
	}
	e.State = st
	return e, nil
}

func get(ctx context.Context, path, urlPath string, out any) error {
	if path == "" {
		path = DefaultSocket
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true, // one request: leave no idle connection behind
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://vigil"+urlPath, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach vigil on control socket %s (is vigil running? --socket selects another): %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read answer from %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var ae apiError
		if json.Unmarshal(body, &ae) == nil && ae.Error != "" {
			return fmt.Errorf("vigil: %s", ae.Error)
		}
		return fmt.Errorf("vigil answered %s on %s", resp.Status, urlPath)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode answer from %s: %w", path, err)
	}
	return nil
}
