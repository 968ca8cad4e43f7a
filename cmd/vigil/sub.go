package main

import (
	"context"
	"fmt"
	"io"
)

func runGenhash(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "vigil genhash: not built yet")
	return 1
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "vigil status: not built yet")
	return 1
}
