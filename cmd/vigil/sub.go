package main

import (
	"context"
	"io"

	"github.com/vigil-ha/vigil/internal/genhash"
	"github.com/vigil-ha/vigil/internal/status"
)

// runGenhash is keepalived's genhash (`keepalived -T`, or the genhash
// program): args exclude the program name.
func runGenhash(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return genhash.Run(ctx, args, stdout, stderr)
}

// runStatus is `vigil status` and `vigil explain INSTANCE`, asking the
// running daemon over its control socket.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return status.RunCLI(ctx, args, stdout, stderr)
}
