package main

import (
	"context"
	"fmt"
	"io"

	"github.com/vigil-ha/vigil/internal/genhash"
)

// runGenhash is keepalived's genhash (`keepalived -T`, or the genhash
// program): args exclude the program name.
func runGenhash(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return genhash.Run(ctx, args, stdout, stderr)
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "vigil status: not built yet")
	return 1
}
